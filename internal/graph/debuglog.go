package graph

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"github.com/go-logr/logr"

	"github.com/directory-operator/directory-operator/internal/redact"
)

// Debug dumps of Graph and token exchanges, with the logger of the
// request's context (the reconcile's). V(6) logs each exchange (method,
// URL, status, duration), V(8) adds the bodies, the verbosities at which
// client-go dumps Kubernetes requests. Bodies are redacted here, whatever
// logger receives them: passwordProfile, client_secret, client_assertion,
// tokens. Authorization headers are never logged.
const (
	debugExchangeLevel = 6
	debugBodyLevel     = 8
	maxDumpBytes       = 16 << 10
)

type debugTransport struct {
	next http.RoundTripper
	kind string // "Graph" or "token"
}

func (d *debugTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	log := logr.FromContextOrDiscard(req.Context())
	if !log.V(debugExchangeLevel).Enabled() {
		return d.next.RoundTrip(req)
	}
	bodies := log.V(debugBodyLevel).Enabled()
	var reqBody []byte
	if bodies && req.Body != nil && req.Body != http.NoBody {
		req, reqBody = peekRequestBody(req)
	}
	start := time.Now()
	resp, err := d.next.RoundTrip(req)
	kv := []any{"method", req.Method, "url", redact.String(req.URL.Redacted()), "duration", time.Since(start).String()}
	if err != nil {
		kv = append(kv, "error", redact.String(err.Error()))
	} else {
		kv = append(kv, "status", resp.StatusCode)
	}
	if !bodies {
		log.V(debugExchangeLevel).Info(d.kind+" exchange", kv...)
		return resp, err
	}
	kv = append(kv, "requestBody", dumpBody(reqBody))
	if resp != nil && resp.Body != nil && resp.Header.Get("Content-Encoding") == "" {
		var b []byte
		resp.Body, b = peekResponseBody(resp.Body)
		kv = append(kv, "responseBody", dumpBody(b))
	}
	log.V(debugBodyLevel).Info(d.kind+" exchange", kv...)
	return resp, err
}

func dumpBody(b []byte) string {
	if len(b) > maxDumpBytes {
		return "<body over 16 KiB, not shown>"
	}
	return redact.Body(b)
}

// peekRequestBody reads the body for the dump and gives the request a
// fresh copy of it.
func peekRequestBody(req *http.Request) (*http.Request, []byte) {
	b, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	r2 := req.Clone(req.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	if err != nil {
		return r2, nil
	}
	return r2, b
}

// peekResponseBody reads up to the dump limit and returns a body that
// still yields every byte.
func peekResponseBody(body io.ReadCloser) (io.ReadCloser, []byte) {
	b, _ := io.ReadAll(io.LimitReader(body, maxDumpBytes+1))
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), body), body}, b
}
