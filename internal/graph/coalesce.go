package graph

import (
	"context"
	"net/http"
	"sync"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// coalescer gathers concurrent single-object reads of one client into
// $batch envelopes of up to 20, so that many reconciles reading their own
// user at once (an adoption of 10,000 DirectoryUsers, every user re-checked
// after a manager restart) cost one HTTP request per 20 users instead of
// one each. Callers still make a simple call and get their own answer: a
// missing user, an item answered 429 with its Retry-After or any other
// per-item error goes back to that caller only.
//
// It works like a database's group commit, not with a timer: a read that
// arrives while no read of this client is in flight goes out at once, on
// its own, so an idle operator pays no added latency. Reads that arrive
// while one is in flight queue up; when the in-flight read returns, the
// queue leaves as envelopes of 20 (or as a plain GET when only one is
// waiting). A full envelope leaves at once. The wait is therefore at most
// one round trip, and the busier the client, the fuller the envelopes.
type coalescer struct {
	c        *Client
	mu       sync.Mutex
	queue    []*pendingRead
	inflight int
}

type pendingRead struct {
	item batchItem
	done chan itemResponse // buffered: the sender never blocks
}

// get sends item (a GET relative to the version root) alone or inside an
// envelope and returns its answer.
func (q *coalescer) get(ctx context.Context, item batchItem) itemResponse {
	if meterOf(ctx) != nil {
		// A metered operation counts exactly its own requests; a shared
		// envelope belongs to no single meter.
		return q.single(ctx, item)
	}
	q.mu.Lock()
	if q.inflight == 0 && len(q.queue) == 0 {
		q.inflight++
		q.mu.Unlock()
		r := q.single(ctx, item)
		q.finished()
		return r
	}
	p := &pendingRead{item: item, done: make(chan itemResponse, 1)}
	q.queue = append(q.queue, p)
	if len(q.queue) >= maxBatchItems {
		q.flushLocked()
	}
	q.mu.Unlock()
	select {
	case r := <-p.done:
		return r
	case <-ctx.Done():
		// The envelope still runs for the others; its answer for this
		// caller is dropped.
		return itemResponse{err: classifyTransport(item.op, ctx.Err(), ctx, q.c.redact)}
	}
}

// finished marks one read or envelope done and sends what queued behind it.
func (q *coalescer) finished() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inflight--
	if q.inflight == 0 && len(q.queue) > 0 {
		q.flushLocked()
	}
}

// flushLocked sends the queue in envelopes of up to 20, each on its own
// goroutine. The envelopes run detached from any one caller's context: a
// caller that gives up must not cancel its neighbours' reads.
func (q *coalescer) flushLocked() {
	for len(q.queue) > 0 {
		n := min(len(q.queue), maxBatchItems)
		batch := q.queue[:n:n]
		q.queue = q.queue[n:]
		q.inflight++
		go func() {
			defer q.finished()
			ctx := context.Background()
			if len(batch) == 1 {
				batch[0].done <- q.single(ctx, batch[0].item)
				return
			}
			items := make([]batchItem, len(batch))
			for i, p := range batch {
				items[i] = p.item
			}
			out := make([]itemResponse, len(batch))
			if err := q.c.sendEnvelope(ctx, items, out); err != nil {
				for i := range out {
					out[i] = itemResponse{err: err}
				}
			}
			for i, p := range batch {
				p.done <- out[i]
			}
		}()
	}
	if len(q.queue) == 0 {
		q.queue = nil
	}
}

// single sends one read as a plain GET.
func (q *coalescer) single(ctx context.Context, item batchItem) itemResponse {
	resp, err := q.c.do(ctx, call{op: item.op, method: abs.GET, url: q.c.base + item.url, ru: item.ru})
	if err != nil {
		return itemResponse{err: err}
	}
	return itemResponse{status: http.StatusOK, header: resp.header, body: resp.body}
}
