package graphsim

// Counters is a snapshot of what clients did to the emulator since the last
// reset. Control-plane calls (/_sim, PutUser, ...) are never counted.
type Counters struct {
	// Requests counts HTTP requests under /v1.0 and /beta, the $batch
	// envelope included (its items are not HTTP requests; see BatchItems).
	Requests int64
	// BetaRequests counts the HTTP requests among Requests sent to /beta.
	BetaRequests int64
	// BatchItems counts requests executed inside $batch envelopes.
	BatchItems int64
	// ByEndpoint counts top-level requests and batch items by template,
	// e.g. "GET /users/{id}", "POST /$batch".
	ByEndpoint map[string]int64
	// ByStatus counts top-level answers and batch item answers by status.
	ByStatus map[int]int64
	// ResourceUnits and Writes are what the throttle model charged
	// (throttled requests are not charged).
	ResourceUnits int64
	Writes        int64
	// Throttled counts 429 answers, batch items included.
	Throttled int64
	// ThrottledBy splits Throttled by the bucket that refused: the limit
	// exceeded and the scope kind, e.g. "WriteLimitExceeded
	// Tenant_Application" (app+tenant) or "... Application" (app-wide).
	ThrottledBy map[string]int64
	// UserWrites counts successful writes per user id (PATCH, DELETE,
	// manager changes, revokeSignInSessions, creates).
	UserWrites map[string]int64
	// UserDisables counts, per user id, the successful PATCHes that set
	// accountEnabled to false (a batch promises one per user, so a second
	// one is a write repeated after a lost answer).
	UserDisables map[string]int64
	// Posts counts successful POST /users creates.
	Posts int64
	// TokenRequests counts calls to the token endpoint (not in Requests).
	TokenRequests int64
	// Dropped counts connections closed on purpose (Options.DropRate).
	Dropped int64
	// MailsSent counts accepted sendMail calls.
	MailsSent int64
}

type counterState struct {
	requests, betaRequests, batchItems, ru, writes, throttled, posts, tokenRequests, dropped, mails int64
	byEndpoint                                                                                      map[string]int64
	byStatus                                                                                        map[int]int64
	userWrites                                                                                      map[string]int64
	userDisables                                                                                    map[string]int64
	throttledBy                                                                                     map[string]int64
}

func (c *counterState) reset() {
	*c = counterState{byEndpoint: map[string]int64{}, byStatus: map[int]int64{}, userWrites: map[string]int64{}, userDisables: map[string]int64{},
		throttledBy: map[string]int64{}}
}

func (s *Server) count(tmpl string, status int, inBatch bool) {
	s.mu.Lock()
	s.cnt.byEndpoint[tmpl]++
	s.cnt.byStatus[status]++
	if inBatch {
		s.cnt.batchItems++
	}
	s.mu.Unlock()
}

// Counters returns a copy of the counters.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Counters{
		Requests: s.cnt.requests, BetaRequests: s.cnt.betaRequests, BatchItems: s.cnt.batchItems, ResourceUnits: s.cnt.ru, Writes: s.cnt.writes,
		Throttled: s.cnt.throttled, Posts: s.cnt.posts, TokenRequests: s.cnt.tokenRequests, Dropped: s.cnt.dropped,
		MailsSent:  s.cnt.mails,
		ByEndpoint: map[string]int64{}, ByStatus: map[int]int64{}, UserWrites: map[string]int64{}, UserDisables: map[string]int64{},
		ThrottledBy: map[string]int64{},
	}
	for k, v := range s.cnt.throttledBy {
		c.ThrottledBy[k] = v
	}
	for k, v := range s.cnt.byEndpoint {
		c.ByEndpoint[k] = v
	}
	for k, v := range s.cnt.byStatus {
		c.ByStatus[k] = v
	}
	for k, v := range s.cnt.userWrites {
		c.UserWrites[k] = v
	}
	for k, v := range s.cnt.userDisables {
		c.UserDisables[k] = v
	}
	return c
}

// ResetCounters zeroes the counters (data and throttle state stay).
func (s *Server) ResetCounters() {
	s.mu.Lock()
	s.cnt.reset()
	s.mu.Unlock()
}
