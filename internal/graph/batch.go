package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// maxBatchItems is Graph's $batch limit. (The SDK's batch collection splits
// at 19; we build the envelope ourselves and use all 20.)
const maxBatchItems = 20

// UserResult is one answer of GetUsers, in input order.
type UserResult struct {
	Key  string // the id or UPN asked for
	User User
	Err  error // *Error; NotFound for a missing user
}

// ItemResult is one answer of a write batch, in input order.
type ItemResult struct {
	Key string
	Err error // *Error; nil on success
}

// ManagerResult is one answer of GetManagers. Manager nil with Err nil
// means the user has no manager. (Graph answers 404 both for "no manager"
// and for "no such user"; the two cannot be told apart from this call.)
type ManagerResult struct {
	UserID  string
	Manager *UserRef
	Err     error
}

// UserUpdateItem is one PATCH of UpdateUsers.
type UserUpdateItem struct {
	ID     string
	Update UserUpdate
}

// batchItem is one request inside a $batch.
type batchItem struct {
	op     string // for errors, e.g. "PATCH /users/{id}"
	method string
	url    string          // relative to the version root: "/users/…"
	body   json.RawMessage // nil for none
	ru, w  int
}

type batchRequestItem struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

type batchResponse struct {
	Responses []batchResponseItem `json:"responses"`
}

type batchResponseItem struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

type itemResponse struct {
	status int
	header http.Header
	body   []byte
	err    error // *Error for status >= 400 or when the item was never answered
}

// runBatch sends items in $batch envelopes of 20, one envelope at a time,
// and returns one itemResponse per item in input order. Graph runs the
// items of one envelope concurrently and throttles them one by one, so an
// item may come back 429 with its own Retry-After: the SDK never retries
// batch items, and neither do we. The item's error is Throttled and the
// shared budget is blocked until its Retry-After, so the next envelope
// (and every other caller) holds off.
//
// Each envelope is paced through the budget for the sum of its items' cost,
// waiting at most maxInlineWait (1 s: one 20-write envelope at the published
// write quota). When the budget needs longer, or an envelope fails as a
// whole, runBatch stops: the items not answered carry that error, and it is
// also returned, so callers keep the answers they got (and checkpoint them)
// and requeue for the rest.
func (c *Client) runBatch(ctx context.Context, items []batchItem) ([]itemResponse, error) {
	out := make([]itemResponse, len(items))
	chunks := (len(items) + maxBatchItems - 1) / maxBatchItems
	var (
		mu       sync.Mutex
		next     int
		firstErr error
		wg       sync.WaitGroup
	)
	// Envelopes go out on a few connections at once: a run of reads is
	// bound by round trips, not quota (5,000 rows are 250 envelopes), and
	// the budget still paces every envelope, so writes stay at the quota.
	// Each worker writes only its own chunk of out. The first envelope goes
	// alone: if Graph throttles or refuses it, nothing else was sent.
	if chunks > 0 {
		end := min(maxBatchItems, len(items))
		if err := c.sendEnvelope(ctx, items[:end], out[:end], false); err != nil {
			firstErr = err
		}
		next = 1
	}
	for w := 0; firstErr == nil && w < min(batchConcurrency, chunks-1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if firstErr != nil || next >= chunks {
					mu.Unlock()
					return
				}
				start := next * maxBatchItems
				next++
				mu.Unlock()
				end := min(start+maxBatchItems, len(items))
				if err := c.sendEnvelope(ctx, items[start:end], out[start:end], false); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		for i := range out {
			if out[i].status == 0 && out[i].err == nil {
				out[i].err = firstErr
			}
		}
	}
	return out, firstErr
}

// batchConcurrency is how many $batch envelopes one call keeps in flight.
// Graph's guidance is to keep concurrency modest; four hides the round
// trip without letting one caller monopolise the shared budget.
const batchConcurrency = 4

// sendEnvelope sends items as one $batch and settles each item's answer into
// out. reserved says the caller has already taken the envelope's cost from
// the budget (the coalescer sizes envelopes to what the budget grants).
func (c *Client) sendEnvelope(ctx context.Context, items []batchItem, out []itemResponse, reserved bool) error {
	const op = "POST /$batch"
	reqs := make([]batchRequestItem, len(items))
	var ru, w int
	for i, it := range items {
		reqs[i] = batchRequestItem{ID: strconv.Itoa(i + 1), Method: it.method, URL: it.url, Body: it.body}
		if it.body != nil {
			reqs[i].Headers = map[string]string{"Content-Type": "application/json"}
		}
		ru += it.ru
		w += it.w
	}
	body, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return &Error{Kind: Invalid, Op: op, Code: "InvalidRequest", Message: "cannot encode batch"}
	}
	resp, err := c.do(ctx, call{op: op, method: abs.POST, url: c.base + "/$batch", body: body, ru: ru, w: w, batch: true, reserved: reserved})
	if err != nil {
		if resp != nil {
			// Graph answered the envelope itself with an error: no item ran.
			c.budget.adjust(-float64(ru), -float64(w))
		}
		return err
	}
	var br batchResponse
	if err := json.Unmarshal(resp.body, &br); err != nil {
		return decodeError(op, err)
	}
	now := time.Now()
	var used Usage
	for _, r := range br.Responses {
		i, err := strconv.Atoi(r.ID)
		if err != nil || i < 1 || i > len(items) || out[i-1].status != 0 {
			continue
		}
		out[i-1] = c.settleItem(items[i-1], r, now, &used)
	}
	for i := range out {
		if out[i].status == 0 && out[i].err == nil {
			out[i].err = &Error{Kind: Transient, Op: items[i].op, Code: "MissingBatchItem", Message: "the $batch answer did not include this request"}
		}
	}
	c.budget.adjust(float64(used.ResourceUnits-int64(ru)), float64(used.Writes-int64(w)))
	c.account(ctx, used)
	return nil
}

// settleItem turns one item of a $batch answer into its response, feeding
// the budget what Graph said about it and adding what it cost to used.
func (c *Client) settleItem(it batchItem, r batchResponseItem, now time.Time, used *Usage) itemResponse {
	h := make(http.Header, len(r.Headers))
	for k, v := range r.Headers {
		h.Set(k, v)
	}
	ir := itemResponse{status: r.Status, header: h}
	if len(r.Body) > 0 && string(r.Body) != "null" {
		ir.body = r.Body
	}
	if p, perr := strconv.ParseFloat(strings.TrimSpace(h.Get("x-ms-throttle-limit-percentage")), 64); perr == nil {
		c.budget.limitPercentage(p, it.w > 0)
	}
	switch {
	case r.Status == http.StatusTooManyRequests:
		used.Throttled++
		ra, ok := ParseRetryAfter(h.Get("Retry-After"), now)
		if !ok {
			ra = c.defaultRetry
		}
		c.budget.throttled(ra, h.Get("x-ms-throttle-information"), h.Get("x-ms-throttle-scope"))
	case r.Status == http.StatusFailedDependency:
		// Never executed.
	default:
		cost := it.ru
		if v, perr := strconv.Atoi(strings.TrimSpace(h.Get("x-ms-resource-unit"))); perr == nil && v >= 0 {
			cost = v
		}
		used.ResourceUnits += int64(cost)
		used.Writes += int64(it.w)
	}
	if r.Status >= 400 {
		e := classifyHTTP(it.op, r.Status, h, ir.body, c.defaultRetry, now)
		e.Message = c.redact(e.Message)
		ir.err = e
	}
	return ir
}

// GetUsers reads many users by id or UPN through $batch (20 per HTTP
// request), with selectProps (default id, userPrincipalName, jobTitle,
// accountEnabled). Results are in input order; a missing user has a
// NotFound Err. The returned error is non-nil only when the run stopped
// early (budget exhausted for longer than 1 s, envelope failure, ctx); the
// unanswered results then carry that error.
func (c *Client) GetUsers(ctx context.Context, keys []string, selectProps ...string) ([]UserResult, error) {
	if len(selectProps) == 0 {
		selectProps = []string{"id", "userPrincipalName", "jobTitle", "accountEnabled"}
	}
	q := query{{"$select", strings.Join(selectProps, ",")}}.encode()
	items := make([]batchItem, len(keys))
	for i, k := range keys {
		items[i] = batchItem{op: "GET /users/{id}", method: http.MethodGet, url: userPath(k) + q, ru: estimateRU(1, true, false, 0)}
	}
	rs, err := c.runBatch(ctx, items)
	out := make([]UserResult, len(keys))
	for i, r := range rs {
		out[i] = UserResult{Key: keys[i], Err: r.err}
		if r.err == nil {
			out[i].User, out[i].Err = decodeUser(items[i].op, r.body)
		}
	}
	return out, err
}

// UpdateUsers PATCHes many users through $batch (20 per HTTP request), each
// with only its non-nil fields. An empty update is not sent and succeeds.
// Results and the returned error follow GetUsers.
func (c *Client) UpdateUsers(ctx context.Context, updates []UserUpdateItem) ([]ItemResult, error) {
	out := make([]ItemResult, len(updates))
	var items []batchItem
	var idx []int
	for i, u := range updates {
		out[i].Key = u.ID
		if u.Update.Empty() {
			continue
		}
		body, _ := json.Marshal(updateBody(u.Update))
		items = append(items, batchItem{op: "PATCH /users/{id}", method: http.MethodPatch, url: userPath(u.ID), body: body, ru: 1, w: 1})
		idx = append(idx, i)
	}
	rs, err := c.runBatch(ctx, items)
	for j, r := range rs {
		out[idx[j]].Err = r.err
	}
	return out, err
}

// RevokeSignInSessionsMany revokes the sessions of many users through
// $batch. Results and the returned error follow GetUsers.
func (c *Client) RevokeSignInSessionsMany(ctx context.Context, ids []string) ([]ItemResult, error) {
	items := make([]batchItem, len(ids))
	for i, id := range ids {
		items[i] = batchItem{op: "POST /users/{id}/revokeSignInSessions", method: http.MethodPost,
			url: userPath(id) + "/revokeSignInSessions", ru: 1, w: 1}
	}
	rs, err := c.runBatch(ctx, items)
	out := make([]ItemResult, len(ids))
	for i, r := range rs {
		out[i] = ItemResult{Key: ids[i], Err: r.err}
	}
	return out, err
}

// GetManagers reads the manager (id and UPN) of many users through $batch.
// A 404 means "no manager" (Manager nil, Err nil). Results and the returned
// error follow GetUsers.
func (c *Client) GetManagers(ctx context.Context, userIDs []string) ([]ManagerResult, error) {
	q := query{{"$select", "id,userPrincipalName"}}.encode()
	items := make([]batchItem, len(userIDs))
	for i, id := range userIDs {
		items[i] = batchItem{op: "GET /users/{id}/manager", method: http.MethodGet, url: userPath(id) + "/manager" + q, ru: estimateRU(1, true, false, 0)}
	}
	rs, err := c.runBatch(ctx, items)
	out := make([]ManagerResult, len(userIDs))
	for i, r := range rs {
		out[i] = ManagerResult{UserID: userIDs[i]}
		switch {
		case r.err != nil && r.status == http.StatusNotFound:
		case r.err != nil:
			out[i].Err = r.err
		default:
			var m wireRef
			if jerr := json.Unmarshal(r.body, &m); jerr != nil {
				out[i].Err = decodeError(items[i].op, jerr)
			} else if m.ID != "" {
				out[i].Manager = &UserRef{ID: m.ID, UserPrincipalName: m.UserPrincipalName}
			}
		}
	}
	return out, err
}
