package graphsim

import "net/http"

// LoseAnswers installs f (nil removes it). It is asked about every
// top-level Graph request after the request was carried out, with its
// method, path and the status Graph would answer; when it returns true the
// connection is closed without an answer. This is the lost answer of a
// write Graph applied (a gateway timeout after the commit, a client killed
// mid-request), aimed at one request where DropRate hits at random and
// before anything is applied. f may block, e.g. to stop a client first.
func (s *Server) LoseAnswers(f func(method, path string, status int) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseAnswer = f
}

// answerLost asks the LoseAnswers hook, outside the server lock.
func (s *Server) answerLost(r *http.Request, status int) bool {
	s.mu.Lock()
	f := s.loseAnswer
	s.mu.Unlock()
	return f != nil && f(r.Method, r.URL.Path, status)
}

// abortAnswer closes the connection without writing an answer.
func abortAnswer(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2 or recorder: abort the stream
}
