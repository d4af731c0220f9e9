package graph

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// coalescer gathers concurrent single-object calls of one client into
// $batch envelopes of up to 20, so that many reconciles reading or updating
// their own user at once (an adoption of 10,000 DirectoryUsers, every user
// re-checked after a manager restart, a spec change rolled out to every
// user) cost one HTTP request per 20 users instead of one each. Callers
// still make a simple call and get their own answer: a missing user, an
// item answered 429 with its Retry-After or any other per-item error goes
// back to that caller only.
//
// It works like a database's group commit, not with a timer: a call that
// arrives while no call of this coalescer is in flight goes out at once, on
// its own, so an idle operator pays no added latency. Calls that arrive
// while one is in flight queue up; when the in-flight call returns, the
// queue leaves as envelopes of 20 (or as a plain request when only one is
// waiting). A full envelope leaves at once. The wait is therefore at most
// one round trip, and the busier the client, the fuller the envelopes.
//
// A client has two: one for reads, one for writes, so an envelope never
// mixes them. Graph runs the items of an envelope in any order (there is no
// dependsOn here), so a read next to a write of the same user could see the
// user before or after it. For the same reason the write coalescer never
// sends two writes of one user (same key) in one round: the later one stays
// queued until the earlier one has been answered, which keeps the callers'
// order.
type coalescer struct {
	c *Client
	// writes makes same-key items wait for each other (see above).
	writes   bool
	mu       sync.Mutex
	queue    []*pendingCall // may leave in the next round
	inflight int
	// Writes only: keys with a call in flight or queued, and the calls
	// that wait for an earlier call of their key (in arrival order). Held
	// calls do not count towards a full envelope.
	busy, queued map[string]bool
	held         []*pendingCall
}

type pendingCall struct {
	key    string // the object the call changes (writes); lower case
	item   batchItem
	caller context.Context   // only to drop calls given up before they leave
	done   chan itemResponse // buffered: the sender never blocks
}

// send sends item (relative to the version root) alone or inside an
// envelope and returns its answer. key names the object a write changes.
//
// A caller whose ctx ends while its item waits gets ctx's error at once.
// An item still queued then is never sent; one already in an envelope may
// still be applied (the envelope runs for the others), exactly as a plain
// request cancelled after it was sent may have been.
func (q *coalescer) send(ctx context.Context, key string, item batchItem) itemResponse {
	if meterOf(ctx) != nil {
		// A metered operation counts exactly its own requests; a shared
		// envelope belongs to no single meter.
		return q.single(ctx, item)
	}
	key = strings.ToLower(key)
	q.mu.Lock()
	if q.inflight == 0 && len(q.queue) == 0 {
		// Nothing in flight, so no key is busy either.
		p := &pendingCall{key: key, item: item}
		q.startLocked([]*pendingCall{p})
		q.mu.Unlock()
		r := q.single(ctx, item)
		q.finished([]*pendingCall{p})
		return r
	}
	p := &pendingCall{key: key, item: item, caller: ctx, done: make(chan itemResponse, 1)}
	q.enqueueLocked(p)
	if len(q.queue) >= maxBatchItems {
		q.flushLocked()
	}
	q.mu.Unlock()
	select {
	case r := <-p.done:
		return r
	case <-ctx.Done():
		return itemResponse{err: classifyTransport(item.op, ctx.Err(), ctx, q.c.redact)}
	}
}

// startLocked counts calls as in flight and marks their keys busy.
func (q *coalescer) startLocked(ps []*pendingCall) {
	q.inflight++
	if !q.writes {
		return
	}
	if q.busy == nil {
		q.busy = map[string]bool{}
	}
	for _, p := range ps {
		q.busy[p.key] = true
		delete(q.queued, p.key)
	}
}

// enqueueLocked queues p, or holds it behind an earlier call of its key.
func (q *coalescer) enqueueLocked(p *pendingCall) {
	if !q.writes {
		q.queue = append(q.queue, p)
		return
	}
	if q.busy[p.key] || q.queued[p.key] {
		q.held = append(q.held, p)
		return
	}
	if q.queued == nil {
		q.queued = map[string]bool{}
	}
	q.queued[p.key] = true
	q.queue = append(q.queue, p)
}

// releaseLocked frees key and queues the oldest call held behind it.
func (q *coalescer) releaseLocked(key string) {
	delete(q.busy, key)
	for i, p := range q.held {
		if p.key == key {
			q.held = append(q.held[:i:i], q.held[i+1:]...)
			q.enqueueLocked(p)
			return
		}
	}
}

// finished marks one call or envelope done and sends what queued behind it.
func (q *coalescer) finished(ps []*pendingCall) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inflight--
	if q.writes {
		for _, p := range ps {
			q.releaseLocked(p.key)
		}
	}
	if len(q.queue) > 0 && (q.inflight == 0 || len(q.queue) >= maxBatchItems) {
		q.flushLocked()
	}
}

// flushLocked sends the queue in envelopes of up to 20, each on its own
// goroutine. The envelopes run detached from any one caller's context:
// a caller that gives up must not cancel its neighbours' calls.
func (q *coalescer) flushLocked() {
	round := q.queue
	q.queue = nil
	for len(round) > 0 {
		n := min(len(round), maxBatchItems)
		batch := round[:n:n]
		round = round[n:]
		q.startLocked(batch)
		go func() {
			defer q.finished(batch)
			q.deliver(context.Background(), batch)
		}()
	}
}

// deliver sends batch and hands each caller its answer.
func (q *coalescer) deliver(ctx context.Context, batch []*pendingCall) {
	// A caller that gave up while queued has its answer already (its ctx's
	// error): its call is not sent, so a write it abandoned is not applied
	// behind its back.
	live := batch[:0:0]
	for _, p := range batch {
		if p.caller == nil || p.caller.Err() == nil {
			live = append(live, p)
		}
	}
	batch = live
	items := make([]batchItem, len(batch))
	for i, p := range batch {
		items[i] = p.item
	}
	out := make([]itemResponse, len(batch))
	k, wait := 0, time.Duration(0)
	if len(batch) > 1 {
		k, wait = q.grant(items)
	}
	var wg sync.WaitGroup
	if k > 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.envelope(ctx, items[:k], out[:k], wait)
		}()
	}
	// What the budget cannot pay for within maxInlineWait as one envelope
	// goes as plain requests, each paced (or refused with its own
	// RetryAfter) by the budget like any call: the same answers these
	// callers would have had without coalescing.
	for i := max(k, 0); i < len(items); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = q.single(ctx, items[i])
		}()
	}
	wg.Wait()
	for i, p := range batch {
		p.done <- out[i]
	}
}

// grant reserves the budget for the longest prefix of items (two or more)
// that it allows within maxInlineWait and returns its length and the wait to
// observe before sending; 0 when not even two fit. An envelope needs its
// whole cost at once: asked for all 20 writes when the budget allows 12
// within the bound, Budget.Wait would refuse all 20, where 20 plain
// requests would have got 12 through.
func (q *coalescer) grant(items []batchItem) (int, time.Duration) {
	for k := len(items); k > 1; k-- {
		var ru, w int
		for _, it := range items[:k] {
			ru += it.ru
			w += it.w
		}
		if wait, ok, _ := q.c.budget.reserveOrPeekWho(ru, w, maxInlineWait, false); ok {
			return k, wait
		}
	}
	return 0, 0
}

// envelope sends items, already paid for, as one $batch after wait.
func (q *coalescer) envelope(ctx context.Context, items []batchItem, out []itemResponse, wait time.Duration) {
	if wait > 0 {
		time.Sleep(wait) // ≤ maxInlineWait, as Budget.Wait would
	}
	if err := q.c.sendEnvelope(ctx, items, out, true); err != nil {
		for i := range out {
			out[i] = itemResponse{err: err}
		}
	}
}

// single sends one call as a plain request.
func (q *coalescer) single(ctx context.Context, item batchItem) itemResponse {
	resp, err := q.c.do(ctx, call{op: item.op, method: httpMethod(item.method), url: q.c.base + item.url,
		body: item.body, ru: item.ru, w: item.w})
	if err != nil {
		r := itemResponse{err: err}
		if resp != nil {
			r.status = resp.status
		}
		return r
	}
	return itemResponse{status: resp.status, header: resp.header, body: resp.body}
}

func httpMethod(m string) abs.HttpMethod {
	switch m {
	case http.MethodPatch:
		return abs.PATCH
	case http.MethodPut:
		return abs.PUT
	case http.MethodPost:
		return abs.POST
	case http.MethodDelete:
		return abs.DELETE
	}
	return abs.GET
}
