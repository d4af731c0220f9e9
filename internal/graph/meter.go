package graph

import (
	"context"
	"sync/atomic"
)

// Usage counts what a client, a budget or one operation sent and was charged.
type Usage struct {
	Requests      int64 // HTTP requests; a $batch envelope counts 1, a retry counts again
	ResourceUnits int64 // RU charged (x-ms-resource-unit, else the documented cost)
	Writes        int64
	Throttled     int64 // 429 answers, including $batch items
}

func (u *Usage) add(v Usage) {
	u.Requests += v.Requests
	u.ResourceUnits += v.ResourceUnits
	u.Writes += v.Writes
	u.Throttled += v.Throttled
}

// Sub returns u - v.
func (u Usage) Sub(v Usage) Usage {
	return Usage{u.Requests - v.Requests, u.ResourceUnits - v.ResourceUnits, u.Writes - v.Writes, u.Throttled - v.Throttled}
}

// Meter adds up what the requests sent with one context cost: every HTTP
// attempt (paging, $batch envelopes, SDK retries) and the resource units,
// writes and 429s Graph answered, $batch items included. A client is shared
// by every controller of a Directory, so the difference of Client.Usage
// over an operation would count the others' traffic too; a Meter counts
// only what was sent with its context. Safe for concurrent use.
type Meter struct {
	parent                                     *Meter
	requests, resourceUnits, writes, throttled atomic.Int64
}

type meterKey struct{}

// WithMeter returns a context whose Graph requests are added to the
// returned Meter (and to the meters of ctx, if any: an operation's meter
// includes its steps' meters).
//
//	ctx, m := graph.WithMeter(ctx)
//	... calls with ctx ...
//	status.GraphRequests = m.Usage().Requests
func WithMeter(ctx context.Context) (context.Context, *Meter) {
	m := &Meter{parent: meterOf(ctx)}
	return context.WithValue(ctx, meterKey{}, m), m
}

// Usage is what the requests sent with the meter's context cost so far.
func (m *Meter) Usage() Usage {
	return Usage{
		Requests:      m.requests.Load(),
		ResourceUnits: m.resourceUnits.Load(),
		Writes:        m.writes.Load(),
		Throttled:     m.throttled.Load(),
	}
}

func meterOf(ctx context.Context) *Meter {
	m, _ := ctx.Value(meterKey{}).(*Meter)
	return m
}

// add counts u on m and its parents; a nil Meter counts nothing.
func (m *Meter) add(u Usage) {
	for ; m != nil; m = m.parent {
		m.requests.Add(u.Requests)
		m.resourceUnits.Add(u.ResourceUnits)
		m.writes.Add(u.Writes)
		m.throttled.Add(u.Throttled)
	}
}
