package graph

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	azkiota "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

// Client talks to Graph for one Directory. It is safe for concurrent use.
//
// Requests are built as plain JSON and sent through the Graph SDK's request
// adapter, so they get the SDK's authentication (azidentity token cache,
// CAE claims challenges), middleware and telemetry, without the generated
// msgraph-sdk-go model packages: those cost minutes and gigabytes to compile
// and cannot express what the operator needs on the wire (JSON null in a
// PATCH, per-item status and headers of $batch answers).
type Client struct {
	adapter    *msgraphcore.GraphRequestAdapterBase
	cred       azcore.TokenCredential
	httpClient *http.Client
	transport  *http.Transport
	budget     *Budget

	base         string // e.g. https://graph.microsoft.com/v1.0
	root         string // e.g. https://graph.microsoft.com
	scope        string
	userAgent    string
	redact       func(string) string
	defaultRetry time.Duration

	requests, resourceUnits, writes, throttled atomic.Int64

	// reads and writes gather concurrent single-user calls into $batch
	// envelopes (see coalescer).
	reads, userWrites coalescer
}

// Default timeouts and the token retry policy.
const (
	defaultHTTPTimeout = 60 * time.Second
	// defaultRetryAfter is used for a 429 without a usable Retry-After: one
	// RU window, after which Graph's app+tenant bucket has fully refilled,
	// so the retry cannot meet the same empty bucket (1 s would, and would
	// feed a 429 storm). It is divided by the budget's TimeScale.
	defaultRetryAfter = 10 * time.Second
)

// tokenRetryOptions bounds azcore's retries of token requests. Tokens are
// fetched about once an hour per client, so waiting a little there is cheap
// compared with failing a whole reconcile on a blip: 2 retries, 250 ms then
// 500 ms (capped at 2 s), and a token endpoint asking for a longer
// Retry-After is not retried at all (the error surfaces and the controller
// requeues). 400/401 answers (bad secret) are never retried by azcore.
func tokenRetryOptions(timeout time.Duration) policy.RetryOptions {
	return policy.RetryOptions{
		MaxRetries:    2,
		RetryDelay:    250 * time.Millisecond,
		MaxRetryDelay: 2 * time.Second,
		TryTimeout:    min(timeout, 30*time.Second),
	}
}

// NewClient builds a client with its own budget. Nothing is sent until the
// first call. Controllers should use a Registry, which shares budgets.
func NewClient(cfg Config) (*Client, error) {
	return newClient(cfg, NewBudget(cfg.Budget))
}

func configError(code, msg string) error {
	return &Error{Kind: Invalid, Op: "configure", Code: code, Message: msg}
}

func newClient(cfg Config, budget *Budget) (*Client, error) {
	if cfg.TenantID == "" || cfg.ClientID == "" {
		return nil, configError("MissingIdentity", "tenant ID and client ID are required")
	}
	authority, root, gu, err := endpoints(cfg)
	if err != nil {
		return nil, err
	}
	timeout := cfg.HTTPTimeout
	if timeout <= 0 {
		timeout = defaultHTTPTimeout
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = "directory-operator"
	}
	base, err := newBaseTransport(cfg.CABundlePEM)
	if err != nil {
		return nil, err
	}
	c := &Client{
		transport:    base,
		budget:       budget,
		root:         root,
		base:         root + "/v1.0",
		scope:        cfg.Scope,
		userAgent:    ua,
		redact:       redactor(cfg.ClientSecret, string(cfg.PrivateKeyPEM)),
		defaultRetry: time.Duration(float64(defaultRetryAfter) / budget.Config().TimeScale),
	}
	c.reads.c = c
	c.userWrites.c, c.userWrites.writes = c, true

	if c.scope == "" {
		c.scope = defaultScope(root)
	}
	copts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: authority},
		Transport: &http.Client{Transport: &debugTransport{next: base, kind: "token"}, Timeout: timeout},
		Retry:     tokenRetryOptions(timeout),
	}
	c.cred, err = newCredential(cfg, copts)
	if err != nil {
		return nil, err
	}

	c.httpClient = &http.Client{
		Transport: &debugTransport{kind: "Graph",
			next: khttp.NewCustomTransportWithParentTransport(&accounting{next: base, c: c}, middlewares()...)},
		Timeout: timeout,
	}
	// The auth provider only attaches tokens for hosts it is told about
	// (by name, without port); Graph in another cloud or the emulator would
	// otherwise get unauthenticated requests.
	auth, err := azkiota.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(c.cred, []string{c.scope}, []string{gu.Hostname()})
	if err != nil {
		return nil, configError("InvalidAuthProvider", err.Error())
	}
	c.adapter, err = msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0"}, nil, nil, c.httpClient)
	if err != nil {
		return nil, configError("InvalidAdapter", err.Error())
	}
	c.adapter.SetBaseUrl(c.base)
	return c, nil
}

// endpoints validates cfg's authority host and Graph endpoint, defaulting
// to the public cloud. root is the Graph root without /v1.0.
func endpoints(cfg Config) (authority, root string, graphURL *url.URL, err error) {
	pubAuth, pubGraph := CloudEndpoints(CloudAzurePublic)
	authority = cfg.AuthorityHost
	if authority == "" {
		authority = pubAuth
	}
	if !strings.HasSuffix(authority, "/") {
		authority += "/"
	}
	au, perr := url.Parse(authority)
	if perr != nil || au.Scheme != "https" || au.Host == "" {
		// azidentity and MSAL refuse anything but https authorities.
		return "", "", nil, configError("InvalidAuthorityHost", "authority host must be an https URL")
	}
	root = strings.TrimSuffix(cfg.GraphEndpoint, "/")
	if root == "" {
		root = pubGraph
	}
	root = strings.TrimSuffix(strings.TrimSuffix(root, "/v1.0"), "/")
	gu, perr := url.Parse(root)
	if perr != nil || gu.Host == "" || (gu.Scheme != "https" && gu.Scheme != "http") {
		return "", "", nil, configError("InvalidGraphEndpoint", "graph endpoint must be an https URL")
	}
	return authority, root, gu, nil
}

// newCredential picks the credential from cfg. Instance discovery is off:
// it would call the public cloud's discovery endpoint, which is wrong for
// sovereign or custom clouds and hangs offline.
func newCredential(cfg Config, copts azcore.ClientOptions) (azcore.TokenCredential, error) {
	switch {
	case len(cfg.CertificatePEM) > 0 || len(cfg.PrivateKeyPEM) > 0:
		pemData := append(append(append([]byte{}, cfg.CertificatePEM...), '\n'), cfg.PrivateKeyPEM...)
		certs, key, err := azidentity.ParseCertificates(pemData, nil)
		if err != nil {
			// The parse error may quote PEM content: do not copy it.
			return nil, &Error{Kind: Unauthorized, Op: "configure", Code: "InvalidCertificate",
				Message: "client certificate or private key is not valid PEM (expected a certificate and an unencrypted private key)"}
		}
		cred, err := azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
		if err != nil {
			return nil, configError("InvalidCredential", "client certificate credential: invalid tenant or client ID")
		}
		return cred, nil
	case cfg.ClientSecret != "":
		cred, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
		if err != nil {
			return nil, configError("InvalidCredential", "client secret credential: invalid tenant or client ID")
		}
		return cred, nil
	case cfg.FederatedTokenFile != "":
		file := cfg.FederatedTokenFile
		// The projected service account token rotates on disk; reading it
		// at each token acquisition always presents a fresh one.
		getAssertion := func(context.Context) (string, error) {
			b, err := os.ReadFile(file)
			if err != nil {
				return "", err
			}
			return strings.TrimSpace(string(b)), nil
		}
		cred, err := azidentity.NewClientAssertionCredential(cfg.TenantID, cfg.ClientID, getAssertion,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
		if err != nil {
			return nil, configError("InvalidCredential", "workload identity credential: invalid tenant or client ID")
		}
		return cred, nil
	}
	return nil, configError("MissingCredential", "no client secret, certificate or federated token file configured")
}

// Budget returns the quota model this client paces itself with (shared with
// other clients of the same app and tenant when built by a Registry).
func (c *Client) Budget() *Budget { return c.budget }

// Usage returns what this client has sent since it was built, for every
// caller together. The cost of one operation is its Meter's (WithMeter).
func (c *Client) Usage() Usage {
	return Usage{
		Requests:      c.requests.Load(),
		ResourceUnits: c.resourceUnits.Load(),
		Writes:        c.writes.Load(),
		Throttled:     c.throttled.Load(),
	}
}

// Close releases idle connections. The client stays usable.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// account adds to the client's counters, the budget's statistics, the
// metrics and the meters of ctx (the context the request was sent with).
func (c *Client) account(ctx context.Context, u Usage) {
	meterOf(ctx).add(u)
	c.requests.Add(u.Requests)
	c.resourceUnits.Add(u.ResourceUnits)
	c.writes.Add(u.Writes)
	c.throttled.Add(u.Throttled)
	resourceUnitsTotal.Add(float64(u.ResourceUnits))
	writesTotal.Add(float64(u.Writes))
	throttledTotal.Add(float64(u.Throttled))
	c.budget.observe(u)
}

// call describes one HTTP request.
type call struct {
	op     string // metric label and Error.Op, e.g. "GET /users/{id}"
	method abs.HttpMethod
	url    string // absolute
	body   []byte // JSON, nil for none
	header map[string]string
	ru, w  int // estimated cost, reserved before sending
	batch  bool
	// reserved: the caller already took ru and w from the budget.
	reserved bool
}

type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// maxBody bounds a response body read into memory (a 999-user page with
// every selected property is well under 2 MiB).
const maxBody = 64 << 20

// do paces k through the budget, sends it through the SDK pipeline and
// returns the raw answer. Any status ≥ 400 comes back as an *Error along
// with the response. This is the single path every Graph call takes (and the
// one later additions such as delta queries should take) so budget, metrics,
// retries and error classification stay uniform.
func (c *Client) do(ctx context.Context, k call) (*rawResponse, error) {
	if err := c.pace(ctx, k); err != nil {
		return nil, err
	}
	u, err := url.Parse(k.url)
	if err != nil {
		c.budget.adjust(-float64(k.ru), -float64(k.w))
		return nil, &Error{Kind: Invalid, Op: k.op, Code: "InvalidURL", Message: "cannot build request URL"}
	}
	ri := abs.NewRequestInformation()
	ri.Method = k.method
	ri.SetUri(*u)
	ri.Headers.Add("Accept", "application/json")
	ri.Headers.Add("User-Agent", c.userAgent)
	if k.body != nil {
		ri.SetStreamContentAndContentType(k.body, "application/json")
	}
	for name, v := range k.header {
		ri.Headers.Add(name, v)
	}
	var out *rawResponse
	// The response handler hands us the raw *http.Response, so we read
	// status, headers and body ourselves instead of going through the
	// SDK's model deserialisation.
	opt := abs.NewRequestHandlerOption()
	opt.SetResponseHandler(func(r any, _ abs.ErrorMappings) (any, error) {
		resp, ok := r.(*http.Response)
		if !ok || resp == nil {
			return nil, nil
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil {
			return nil, err
		}
		out = &rawResponse{status: resp.StatusCode, header: resp.Header, body: body}
		return nil, nil
	})
	ri.AddRequestOptions([]abs.RequestOption{opt})
	a := &acct{op: k.op, ru: k.ru, w: k.w, batch: k.batch}
	sendCtx := context.WithValue(ctx, acctKey{}, a)
	if _, ok := ctx.Deadline(); !ok {
		// Without a deadline the SDK derives one from the HTTP timeout and
		// never cancels it; owning it releases its timer with the request.
		var cancel context.CancelFunc
		sendCtx, cancel = context.WithTimeout(sendCtx, c.httpClient.Timeout)
		defer cancel()
	}
	if _, err := c.adapter.SendPrimitive(sendCtx, ri, "[]byte", nil); err != nil {
		return nil, classifyTransport(k.op, err, ctx, c.redact)
	}
	if out == nil {
		return nil, &Error{Kind: Transient, Op: k.op, Code: "NoResponse", Message: "no response received"}
	}
	if out.status >= 400 {
		e := classifyHTTP(k.op, out.status, out.header, out.body, c.defaultRetry, time.Now())
		e.Message = c.redact(e.Message)
		return out, e
	}
	return out, nil
}

// pace takes k's cost from the budget, unless the caller already has.
func (c *Client) pace(ctx context.Context, k call) error {
	if k.reserved {
		return nil
	}
	err := c.budget.Wait(ctx, k.ru, k.w)
	var e *Error
	if errors.As(err, &e) {
		e.Op = k.op
	}
	return err
}

// getJSON GETs rawURL (absolute, such as an @odata.nextLink or deltaLink,
// or a path like "/users/delta?$select=id" relative to the /v1.0 base)
// through the same pacing, accounting and error mapping as every other call,
// reserving ru resource units. It is the building block for paged and delta
// reads.
func (c *Client) getJSON(ctx context.Context, op, rawURL string, ru int) ([]byte, error) {
	if strings.HasPrefix(rawURL, "/") {
		rawURL = c.base + rawURL
	}
	resp, err := c.do(ctx, call{op: op, method: abs.GET, url: rawURL, ru: ru})
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}

// page is the envelope of a Graph collection.
type page[T any] struct {
	Value     []T    `json:"value"`
	NextLink  string `json:"@odata.nextLink"`
	DeltaLink string `json:"@odata.deltaLink"`
}

// maxPages stops a server that never stops sending nextLinks.
const maxPages = 100000

// listAll follows @odata.nextLink from first and returns every item.
func listAll[T any](ctx context.Context, c *Client, op, first string, ru int) ([]T, error) {
	var all []T
	next := first
	for i := 0; next != "" && i < maxPages; i++ {
		body, err := c.getJSON(ctx, op, next, ru)
		if err != nil {
			return nil, err
		}
		var p page[T]
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, decodeError(op, err)
		}
		all = append(all, p.Value...)
		next = p.NextLink
	}
	return all, nil
}

func decodeError(op string, err error) error {
	return &Error{Kind: Transient, Op: op, Code: "InvalidResponse", Message: "cannot decode Graph response: " + err.Error(), cause: err}
}
