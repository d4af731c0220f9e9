package graph

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strconv"
	"strings"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

// Retry policy.
//
// Controllers must never park a worker in a sleep, so the SDK's
// RetryHandler (3 retries of 429/503/504, up to 180 s asleep) is tamed:
//   - 429 is never retried here. It surfaces at once as a Throttled *Error
//     with Graph's Retry-After (fractional seconds kept, which the SDK would
//     truncate); the shared Budget blocks its other callers until then and
//     the controller requeues with RequeueAfter = Retry-After + jitter.
//   - 503/504 on a GET is retried once, and only when Graph asks for at
//     most 2 s (the handler waits Retry-After, or 1 s + <1 s jitter when the
//     header is absent): a single hiccup of a gateway then costs no requeue
//     and at most ~2 s of one worker. Writes and $batch are never retried
//     blindly: a PATCH or POST that timed out may have been applied, and the
//     controller re-reads state before deciding what to send again.
//
// Token requests go through azcore's retry policy instead (see
// tokenRetryOptions in client.go).
const (
	sdkMaxRetries   = 1
	sdkMaxRetryWait = 2 * time.Second
)

func shouldRetry(_ time.Duration, executionCount int, req *http.Request, resp *http.Response) bool {
	if resp == nil || executionCount >= sdkMaxRetries || req.Method != http.MethodGet {
		return false
	}
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusGatewayTimeout {
		return false
	}
	if v := resp.Header.Get("Retry-After"); v != "" {
		d, ok := ParseRetryAfter(v, time.Now())
		return ok && d <= sdkMaxRetryWait
	}
	return true
}

// middlewares is the kiota pipeline, outermost first. It is built by hand
// because the SDK's default list comes out of a map in random order, which
// would make behaviour (e.g. whether a retried request is recompressed)
// differ between clients.
func middlewares() []khttp.Middleware {
	return []khttp.Middleware{
		// client-request-id on every request: what Microsoft support asks for.
		msgraphcore.NewGraphTelemetryHandler(&msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0"}),
		khttp.NewRetryHandlerWithOptions(khttp.RetryHandlerOptions{
			ShouldRetry:  shouldRetry,
			MaxRetries:   sdkMaxRetries,
			DelaySeconds: 1,
		}),
		khttp.NewRedirectHandler(),
		// No CompressionHandler: Graph accepts gzip request bodies, but ours
		// are a few hundred bytes (a $batch envelope a few KiB), and the
		// handler builds a new gzip writer per request. In bench scenario 5
		// that was 7.5 % of the CPU of the bench process (manager, emulator
		// and harness), spent to save bytes the TLS records barely notice.
		// Response bodies are still inflated by net/http itself.
		// Undo %24 → $ in query parameter names for servers that are picky.
		khttp.NewParametersNameDecodingHandler(),
		khttp.NewUserAgentHandler(),
	}
}

// newBaseTransport is the TCP/TLS layer shared by the token and Graph
// calls of one client: system roots plus the Directory's CA bundle.
func newBaseTransport(caPEM []byte) (*http.Transport, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if len(caPEM) > 0 && !pool.AppendCertsFromPEM(caPEM) {
		return nil, &Error{Kind: Invalid, Op: "configure", Code: "InvalidCABundle", Message: "CA bundle contains no PEM certificate"}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	t.ForceAttemptHTTP2 = true
	// Controllers and batch chunks run concurrently against one host.
	t.MaxIdleConnsPerHost = 32
	return t, nil
}

// acct travels in the request context from Client.do to the accounting
// transport so that it, which sees every HTTP attempt (SDK retries, the $batch envelope,
// the CAE re-send), can account for it.
type acct struct {
	op       string
	ru, w    int // reserved from the budget before sending
	batch    bool
	attempts int // only touched by accounting, sequentially per request
}

type acctKey struct{}

// accounting is the RoundTripper under the kiota middleware chain: it sees
// every attempt, retries included.
type accounting struct {
	next http.RoundTripper
	c    *Client
}

func (t *accounting) RoundTrip(req *http.Request) (*http.Response, error) {
	a, _ := req.Context().Value(acctKey{}).(*acct)
	resp, err := t.next.RoundTrip(req)
	t.c.recordAttempt(a, req, resp, err)
	return resp, err
}

// recordAttempt settles one HTTP attempt with the budget, the client's
// usage counters and the metrics.
func (c *Client) recordAttempt(a *acct, req *http.Request, resp *http.Response, err error) {
	if a == nil {
		a = &acct{op: req.Method + " " + "other"}
	}
	first := a.attempts == 0
	a.attempts++
	code := "error"
	if resp != nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	requestsTotal.WithLabelValues(a.op, code).Inc()
	u := Usage{Requests: 1}
	defer func() { c.account(req.Context(), u) }()
	if err != nil || resp == nil {
		// Unknown whether Graph charged it: keep the reservation.
		return
	}
	h := resp.Header
	if p, perr := strconv.ParseFloat(strings.TrimSpace(h.Get("x-ms-throttle-limit-percentage")), 64); perr == nil {
		c.budget.limitPercentage(p, a.w > 0)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		u.Throttled = 1
		ra, ok := ParseRetryAfter(h.Get("Retry-After"), time.Now())
		if !ok {
			ra = c.defaultRetry
		}
		c.budget.throttled(ra, h.Get("x-ms-throttle-information"), h.Get("x-ms-throttle-scope"))
		if first && !a.batch {
			// A throttled request is not executed: give its cost back.
			c.budget.adjust(-float64(a.ru), -float64(a.w))
		}
		return
	}
	if a.batch {
		// Items are settled one by one from the batch answer.
		return
	}
	ru := a.ru
	if v, perr := strconv.Atoi(strings.TrimSpace(h.Get("x-ms-resource-unit"))); perr == nil && v >= 0 {
		ru = v
	}
	u.ResourceUnits, u.Writes = int64(ru), int64(a.w)
	if first {
		c.budget.adjust(float64(ru-a.ru), 0)
	} else {
		// A retry was not reserved: charge it in full.
		c.budget.adjust(float64(ru), float64(a.w))
	}
}
