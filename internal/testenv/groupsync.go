package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Shell runs a documented shell command (e.g. an export's kubectl pipeline)
// against the test apiserver exactly as a user would type it: bash, with
// bin/k8s/kubectl first on PATH and a kubeconfig for cfg. It returns stdout
// and fails the test when the command fails.
func Shell(t testing.TB, cfg *rest.Config, command string) []byte {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := WriteKubeconfig(cfg, kubeconfig); err != nil {
		t.Fatalf("writing kubeconfig: %v", err)
	}
	cmd := exec.Command("bash", "-o", "pipefail", "-c", command)
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+kubeconfig,
		"PATH="+filepath.Join(Root(), "bin", "k8s")+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		t.Fatalf("running %q: %v\n%s", command, err, stderr)
	}
	return out
}

// WriteKubeconfig writes a kubeconfig file for cfg (envtest's admin
// credentials) to path.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*kc, path)
}
