package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"   ", 0, false},
		{"5", 5 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"2.128", 2128 * time.Millisecond, true},
		{"0.5", 500 * time.Millisecond, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true}, // past date: now
		{"Fri, 02 Jan 2026 03:04:35 GMT", 30 * time.Second, true},
		{"-1", 0, false},
		{"-0.5", 0, false},
		{"soon", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"5s", 0, false},
		{"1e12", maxRetryAfter, true},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func graphBody(code, msg string) []byte {
	return []byte(fmt.Sprintf(`{"error":{"code":%q,"message":%q,"innerError":{"request-id":"rid-1"}}}`, code, msg))
}

func TestClassifyHTTP(t *testing.T) {
	now := time.Now()
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		status int
		hdr    http.Header
		body   []byte
		kind   Kind
		retry  time.Duration
	}{
		{"429 integer", 429, hdr("Retry-After", "3"), graphBody("TooManyRequests", "x"), Throttled, 3 * time.Second},
		{"429 fractional", 429, hdr("Retry-After", "2.128"), graphBody("TooManyRequests", "x"), Throttled, 2128 * time.Millisecond},
		{"429 date", 429, hdr("Retry-After", now.Add(90*time.Second).UTC().Format(http.TimeFormat)), nil, Throttled, 89 * time.Second},
		{"429 absent", 429, hdr(), nil, Throttled, 10 * time.Second},
		{"429 garbage", 429, hdr("Retry-After", "later"), nil, Throttled, 10 * time.Second},
		{"500", 500, hdr(), graphBody("InternalServerError", "boom"), Transient, 0},
		{"503 with retry-after", 503, hdr("Retry-After", "4"), nil, Transient, 4 * time.Second},
		{"504 no body", 504, hdr(), nil, Transient, 0},
		{"generalException on 400", 400, hdr(), graphBody("generalException", "The operation has timed out."), Transient, 0},
		{"408", 408, hdr(), nil, Transient, 0},
		{"424 dependency", 424, hdr(), nil, Transient, 0},
		{"404", 404, hdr(), graphBody("Request_ResourceNotFound", "Resource 'x' does not exist"), NotFound, 0},
		{"upn taken", 400, hdr(), graphBody("Request_BadRequest", "Another object with the same value for property userPrincipalName already exists."), Conflict, 0},
		{"ObjectConflict", 400, hdr(), graphBody("ObjectConflict", "conflict"), Conflict, 0},
		{"409", 409, hdr(), nil, Conflict, 0},
		{"403", 403, hdr(), graphBody("Authorization_RequestDenied", "Insufficient privileges to complete the operation."), Forbidden, 0},
		{"401", 401, hdr(), graphBody("InvalidAuthenticationToken", "Access token has expired."), Unauthorized, 0},
		{"400 bad request", 400, hdr(), graphBody("Request_BadRequest", "Invalid value"), Invalid, 0},
		{"400 unsupported query", 400, hdr(), graphBody("Request_UnsupportedQuery", "Unsupported query."), Invalid, 0},
		{"400 not json", 400, hdr(), []byte("<html>"), Invalid, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := classifyHTTP("GET /users/{id}", tc.status, tc.hdr, tc.body, 10*time.Second, now)
			if e.Kind != tc.kind {
				t.Errorf("kind = %v, want %v", e.Kind, tc.kind)
			}
			if d := e.RetryAfter - tc.retry; d < -time.Second || d > time.Second || (tc.retry == 0 && e.RetryAfter != 0) {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tc.retry)
			}
			if e.StatusCode != tc.status || e.Op != "GET /users/{id}" || e.Message == "" {
				t.Errorf("error = %#v", e)
			}
			if KindOf(fmt.Errorf("wrapped: %w", e)) != tc.kind {
				t.Errorf("KindOf does not see through wrapping")
			}
		})
	}
	e := classifyHTTP("GET /users/{id}", 404, http.Header{}, graphBody("Request_ResourceNotFound", "gone"), 0, now)
	if e.Code != "Request_ResourceNotFound" || e.RequestID != "rid-1" ||
		e.Error() != "graph: GET /users/{id}: 404 Request_ResourceNotFound: gone" {
		t.Errorf("error = %#v / %q", e, e.Error())
	}
}

func TestKindHelpers(t *testing.T) {
	if KindOf(errors.New("x")) != Unknown || KindOf(nil) != Unknown {
		t.Error("foreign errors are Unknown")
	}
	for k, terminal := range map[Kind]bool{Invalid: true, Conflict: true, Forbidden: true, Unauthorized: true,
		NotFound: false, Throttled: false, Transient: false, Unknown: false} {
		if got := IsTerminal(&Error{Kind: k}); got != terminal {
			t.Errorf("IsTerminal(%v) = %v", k, got)
		}
	}
	if d, ok := IsThrottled(&Error{Kind: Throttled, RetryAfter: time.Second}); !ok || d != time.Second {
		t.Error("IsThrottled")
	}
	if Throttled.String() != "Throttled" || Kind(42).String() != "Kind(42)" {
		t.Error("Kind.String")
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassifyTransport(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	redact := redactor(fakeSecret)
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: "https://graph/v1.0/users", Err: err} }
	for _, tc := range []struct {
		name string
		err  error
		ctx  context.Context
		kind Kind
		code string
	}{
		{"client deadline", urlErr(context.DeadlineExceeded), live, Transient, "Timeout"},
		{"caller cancelled", urlErr(context.Canceled), cancelled, Unknown, "Canceled"},
		{"refused", urlErr(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), live, Transient, "ConnectionRefused"},
		{"reset", urlErr(&net.OpError{Op: "read", Err: syscall.ECONNRESET}), live, Transient, "ConnectionReset"},
		{"eof", urlErr(io.ErrUnexpectedEOF), live, Transient, "ConnectionReset"},
		{"dns", urlErr(&net.DNSError{Name: "graph.example", Err: "no such host"}), live, Transient, "DNSError"},
		{"net timeout", urlErr(timeoutErr{}), live, Transient, "Timeout"},
		{"other", errors.New("weird"), live, Unknown, ""},
	} {
		e := classifyTransport("GET /users", tc.err, tc.ctx, redact)
		if e.Kind != tc.kind || e.Code != tc.code {
			t.Errorf("%s: got %v %q, want %v %q", tc.name, e.Kind, e.Code, tc.kind, tc.code)
		}
	}
	if e := classifyTransport("x", urlErr(context.Canceled), cancelled, redact); !errors.Is(e, context.Canceled) {
		t.Error("caller cancellation must unwrap to context.Canceled")
	}
}

func tokenFailure(status int, body string) error {
	req, _ := http.NewRequest("POST", "https://login/t/oauth2/v2.0/token", strings.NewReader("client_secret="+fakeSecret))
	return &azidentity.AuthenticationFailedError{RawResponse: &http.Response{
		StatusCode: status, Header: http.Header{"Retry-After": {"5"}},
		Body: io.NopCloser(bytes.NewBufferString(body)), Request: req,
	}}
}

func TestClassifyTokenErrors(t *testing.T) {
	redact := redactor(fakeSecret)
	for _, tc := range []struct {
		name   string
		err    error
		kind   Kind
		code   string
		status int
	}{
		{"bad secret", tokenFailure(401, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}`), Unauthorized, "AADSTS7000215", 401},
		{"unknown app", tokenFailure(400, `{"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier 'x' was not found."}`), Unauthorized, "AADSTS700016", 400},
		{"no aadsts", tokenFailure(400, `{"error":"invalid_request"}`), Unauthorized, "invalid_request", 400},
		{"throttled", tokenFailure(429, `{"error":"temporarily_unavailable"}`), Throttled, "temporarily_unavailable", 429},
		{"server", tokenFailure(503, ``), Transient, "", 503},
	} {
		e := classifyTransport("GET /organization", fmt.Errorf("wrapped: %w", tc.err), context.Background(), redact)
		if e.Kind != tc.kind || e.Code != tc.code || e.StatusCode != tc.status || e.Op != "token" {
			t.Errorf("%s: got %#v", tc.name, e)
		}
		if strings.Contains(e.Error(), fakeSecret) || strings.Contains(e.Error(), "Trace ID") {
			t.Errorf("%s: leaked request or trace: %q", tc.name, e.Error())
		}
	}
	e := classifyTransport("x", tokenFailure(429, `{}`), context.Background(), redact)
	if e.RetryAfter != 5*time.Second {
		t.Errorf("token 429 RetryAfter = %v", e.RetryAfter)
	}
	noResp := &azidentity.AuthenticationFailedError{}
	if e := classifyTransport("x", noResp, context.Background(), redact); e.Kind != Transient || e.Code != "TokenEndpointUnreachable" {
		t.Errorf("no response: %#v", e)
	}
}

func TestRedactorAndTruncate(t *testing.T) {
	r := redactor("abc", "long-secret")
	if got := r("abc long-secret"); got != "abc [REDACTED]" {
		t.Errorf("redact = %q (short secrets are ignored)", got)
	}
	if got := truncate("héllo", 2); got != "h…" {
		t.Errorf("truncate = %q", got)
	}
}
