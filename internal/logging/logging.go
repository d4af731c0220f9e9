package logging

import (
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/go-logr/logr"
	"go.uber.org/zap"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// New builds the manager's logger from the --zap-* flags, with every entry
// redacted (see NewCore). Any verbosity is safe: at --zap-log-level=10
// client-go dumps whole request and response bodies, and Secrets in them
// keep their keys but lose their values.
func New(opts *crzap.Options, extra ...crzap.Opts) logr.Logger {
	all := append([]crzap.Opts{crzap.UseFlagOptions(opts), crzap.RawZapOpts(zap.WrapCore(NewCore))}, extra...)
	return crzap.New(all...)
}

// Install makes logger the only way out for logs: controller-runtime's,
// klog's (client-go's informers, leader election, and any component
// logging through the global klog), and the Azure SDK's (silent unless
// AZURE_SDK_GO_LOGGING is set; then through the redacting logger at V(4)
// instead of raw to stderr).
//
// klog's own verbosity stays 0 (its -v flag is not exposed), so client-go
// never installs its global debugging round tripper; request and response
// dumps only come from contextual loggers, i.e. this one.
func Install(logger logr.Logger) {
	ctrl.SetLogger(logger)
	klog.SetLoggerWithOptions(logger, klog.ContextualLogger(true))
	if sdk := logger.WithName("azure-sdk").V(4); sdk.Enabled() {
		azlog.SetListener(func(ev azlog.Event, msg string) {
			sdk.Info(msg, "event", string(ev))
		})
	}
}
