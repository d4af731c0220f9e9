package graph

// Design notes.
//
// One path. Every Graph request goes through Client.do: budget reservation
// (Budget.Wait, at most 1 s inline), the kiota request adapter (azidentity
// token, CAE, telemetry, the tamed RetryHandler; no request gzip), the meter
// RoundTripper under the middleware chain (request counts, x-ms-resource-unit,
// x-ms-throttle-limit-percentage, 429 → budget block, Prometheus), and one
// error classification (classifyHTTP / classifyTransport). Code added to this
// package later, such as users/delta and groups/delta, should use
// c.getJSON(ctx, op, url, ru) for single pages (it accepts @odata.nextLink and
// @odata.deltaLink URLs as they come) and page[T] (Value, NextLink,
// DeltaLink) to decode them, so it inherits all of the above.
//
// No sleeping on throttling. A 429 is never retried by the SDK: it returns
// at once as a Throttled *Error with Retry-After, and blocks the shared
// Budget until then, so other callers fail fast with a client-side
// Throttled error (Code BudgetExhausted) instead of piling on. Controllers
// requeue with RequeueAfter = RetryAfter + jitter.
//
// Batches. $batch envelopes hold 20 items, are sent one at a time, and
// return results in input order; item errors are typed like any other.
// Batch calls stop early (and say so in their error) rather than wait more
// than 1 s for quota, so a controller can checkpoint what was done.
//
// Accounting. Client.Usage is cumulative per client; Budget.Stats gives the
// last minute per app+tenant for Directory status. A $batch envelope counts
// as one request; its items' RU, writes and 429s are counted from the batch
// answer.
