package graph

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Kind is what a controller should do about a failed Graph call. It is the
// only thing most callers need to look at.
type Kind int

const (
	// Unknown is anything not classified below, including the caller's own
	// context being cancelled. Callers return it for controller-runtime's
	// exponential backoff.
	Unknown Kind = iota
	// Throttled means Graph (or the shared client-side budget) asked us to
	// wait: requeue after Error.RetryAfter plus jitter, never sleep.
	Throttled
	// Transient covers 5xx, generalException, timeouts of our HTTP client and
	// broken connections: retry with backoff.
	Transient
	// NotFound is a 404. Right after a create it may be replication lag.
	NotFound
	// Conflict is an object that already exists (UPN taken) or a 409/412.
	Conflict
	// Forbidden is a 403: the app lacks a permission or admin consent.
	Forbidden
	// Unauthorized is a token or credential problem: a 401 from Graph or a
	// refusal by the token endpoint (wrong secret, unknown app, bad tenant).
	Unauthorized
	// Invalid is any other 4xx: the request itself is wrong and retrying it
	// unchanged cannot succeed.
	Invalid
)

var kindNames = [...]string{"Unknown", "Throttled", "Transient", "NotFound", "Conflict", "Forbidden", "Unauthorized", "Invalid"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// Error is every error this package returns for a Graph or token call. Its
// text never contains secrets, tokens or request bodies: it is safe for
// logs, events and status conditions.
type Error struct {
	Kind       Kind
	StatusCode int // HTTP status; 0 when no response was received
	// Code is Graph's error code (e.g. Request_ResourceNotFound), the token
	// endpoint's AADSTS code (e.g. AADSTS7000215, or its `error` field such
	// as invalid_client when no AADSTS code is given), or one of ours for
	// failures without a response (Timeout, ConnectionRefused, BudgetExhausted…).
	Code       string
	Message    string
	RetryAfter time.Duration // set for Throttled (and Transient answers that carried Retry-After)
	RequestID  string        // Graph's request-id, for support tickets
	Op         string        // "GET /users/{id}" style; "token" for token acquisition
	cause      error         // for errors.Is(err, context.Canceled) and friends; never printed
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	if e.StatusCode != 0 {
		b.WriteString(strconv.Itoa(e.StatusCode))
		b.WriteByte(' ')
	}
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		b.WriteString(e.Kind.String())
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Kind == Throttled && e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter.Round(time.Millisecond))
	}
	return b.String()
}

// Unwrap exposes the underlying cause (a context error, a net error) so
// errors.Is works; the cause is never part of Error().
func (e *Error) Unwrap() error { return e.cause }

// KindOf returns the Kind of err, Unknown for errors not from this package
// (and for nil: check err != nil first).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Unknown
}

// IsNotFound reports a 404.
func IsNotFound(err error) bool { return KindOf(err) == NotFound }

// IsThrottled reports a throttled call and how long to wait before the next.
func IsThrottled(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.Kind == Throttled {
		return e.RetryAfter, true
	}
	return 0, false
}

// IsTerminal reports errors that retrying the same call cannot fix until
// something changes (the spec, the Secret, the app's permissions): Invalid,
// Conflict, Forbidden and Unauthorized. NotFound is not terminal here:
// whether a 404 is final (delete) or replication lag (read after create)
// depends on the caller.
func IsTerminal(err error) bool {
	switch KindOf(err) {
	case Invalid, Conflict, Forbidden, Unauthorized:
		return true
	}
	return false
}

// maxRetryAfter caps absurd Retry-After values so a typo on the server side
// cannot park a resource for days.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter parses a Retry-After header value: integer seconds,
// fractional seconds (Graph sends e.g. "2.128") or an HTTP-date. It reports
// false for an absent, negative or unparseable value so the caller can apply
// its own default. A date in the past means "now" (0, true).
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return 0, false
		}
		if secs > maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > maxRetryAfter:
		return maxRetryAfter, true
	}
	return d, true
}

// graphErrorBody is Graph's error envelope.
type graphErrorBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			RequestID string `json:"request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// maxMessage bounds messages copied into errors (they end up in conditions).
const maxMessage = 400

// classifyHTTP turns a Graph error answer (status >= 400) into an *Error.
// defaultRetry is used for a 429 without a usable Retry-After.
func classifyHTTP(op string, status int, hdr http.Header, body []byte, defaultRetry time.Duration, now time.Time) *Error {
	e := &Error{Op: op, StatusCode: status}
	var eb graphErrorBody
	if len(body) > 0 && json.Unmarshal(body, &eb) == nil {
		e.Code = eb.Error.Code
		e.Message = eb.Error.Message
		e.RequestID = eb.Error.InnerError.RequestID
	}
	if e.RequestID == "" {
		e.RequestID = hdr.Get("request-id")
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	e.Message = truncate(e.Message, maxMessage)
	ra, hasRA := ParseRetryAfter(hdr.Get("Retry-After"), now)
	lowMsg := strings.ToLower(e.Message)
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind = Throttled
		if !hasRA {
			ra = defaultRetry
		}
		e.RetryAfter = ra
	case status >= 500, strings.EqualFold(e.Code, "generalException"),
		status == http.StatusRequestTimeout, status == http.StatusFailedDependency:
		// 424 only happens for dependsOn chains inside $batch: the item itself
		// was never tried, so it is as retryable as its dependency.
		e.Kind = Transient
		if hasRA {
			e.RetryAfter = ra
		}
	case status == http.StatusNotFound:
		e.Kind = NotFound
	case status == http.StatusConflict, status == http.StatusPreconditionFailed,
		strings.Contains(e.Code, "ObjectConflict"),
		status == http.StatusBadRequest && strings.Contains(lowMsg, "already exists"):
		e.Kind = Conflict
	case status == http.StatusForbidden:
		e.Kind = Forbidden
	case status == http.StatusUnauthorized:
		e.Kind = Unauthorized
	case status >= 400 && status < 500:
		e.Kind = Invalid
	default:
		e.Kind = Unknown
	}
	return e
}

var aadstsRE = regexp.MustCompile(`AADSTS\d+`)

// tokenErrorBody is the OAuth2 error answer of the token endpoint.
type tokenErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// classifyTransport classifies an error that came without a Graph error
// answer: a token acquisition failure, a network failure or a timeout.
// callerCtx distinguishes the caller giving up (not a Graph problem) from our
// HTTP client timing out (Transient). redact removes secret material from
// any text copied out of err.
func classifyTransport(op string, err error, callerCtx context.Context, redact func(string) string) *Error {
	if err == nil {
		return nil
	}
	var ge *Error
	if errors.As(err, &ge) {
		return ge
	}
	if cerr := callerCtx.Err(); cerr != nil {
		return &Error{Kind: Unknown, Op: op, Code: "Canceled", Message: cerr.Error(), cause: cerr}
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		return classifyTokenError(afe, redact)
	}
	e := &Error{Kind: Transient, Op: op, cause: err}
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		// The caller's ctx is alive, so this deadline is our HTTP client's.
		e.Code, e.Message = "Timeout", "request timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Code, e.Message = "ConnectionRefused", "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.EPIPE):
		e.Code, e.Message = "ConnectionReset", "connection reset"
	case errors.As(err, &dnsErr):
		e.Code, e.Message = "DNSError", "cannot resolve "+dnsErr.Name
	case errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie):
		// Usually a missing CA bundle for a custom cloud; it is reported as
		// transient (the server may be mid-rotation) but with a clear code.
		e.Code, e.Message = "TLSError", "TLS certificate verification failed: "+redact(err.Error())
	case errors.As(err, &netErr) && netErr.Timeout():
		e.Code, e.Message = "Timeout", "request timed out"
	case errors.As(err, &netErr):
		e.Code, e.Message = "NetworkError", redact(err.Error())
	default:
		e.Kind, e.Code, e.Message = Unknown, "", redact(err.Error())
	}
	e.Message = truncate(e.Message, maxMessage)
	return e
}

// classifyTokenError maps an azidentity failure. The raw response's request
// carries the client secret or assertion in its form body, so only the
// token endpoint's JSON answer is read, never the request nor afe.Error().
func classifyTokenError(afe *azidentity.AuthenticationFailedError, redact func(string) string) *Error {
	e := &Error{Op: "token", cause: nil}
	resp := afe.RawResponse
	if resp == nil {
		// No HTTP answer: azidentity only has MSAL's message, typically a
		// network failure reaching the authority. It may still name an
		// AADSTS code (e.g. from the discovery document).
		msg := redact(afe.Error())
		if c := aadstsRE.FindString(msg); c != "" {
			e.Kind, e.Code = Unauthorized, c
		} else {
			e.Kind, e.Code = Transient, "TokenEndpointUnreachable"
		}
		e.Message = truncate(firstLine(msg), maxMessage)
		return e
	}
	e.StatusCode = resp.StatusCode
	body, _ := runtime.Payload(resp)
	var tb tokenErrorBody
	_ = json.Unmarshal(body, &tb)
	desc := firstLine(tb.Description)
	e.Code = aadstsRE.FindString(desc)
	if e.Code == "" {
		e.Code = tb.Error
	}
	switch {
	case tb.Error != "" && desc != "":
		e.Message = tb.Error + ": " + desc
	case desc != "":
		e.Message = desc
	case tb.Error != "":
		e.Message = tb.Error
	default:
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Message = truncate(redact(e.Message), maxMessage)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Kind = Throttled
		if ra, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = ra
		} else {
			e.RetryAfter = 10 * time.Second
		}
	case resp.StatusCode >= 500:
		e.Kind = Transient
	case resp.StatusCode >= 400:
		// invalid_client, unauthorized_client, invalid_request (unknown
		// tenant), invalid_grant (bad federated token): all mean the
		// credential configuration must change.
		e.Kind = Unauthorized
	default:
		e.Kind = Unknown
	}
	return e
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// redactor returns a function replacing every occurrence of the given
// secrets (ignoring short or empty ones, which would mangle normal text).
func redactor(secrets ...string) func(string) string {
	var list []string
	for _, s := range secrets {
		if len(s) >= 4 {
			list = append(list, s)
		}
	}
	return func(s string) string {
		for _, sec := range list {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
		return s
	}
}
