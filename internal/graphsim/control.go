package graphsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveControl is the unauthenticated test control plane under /_sim, so
// the standalone binary can be scripted (curl) by demos and benchmarks.
//
//	GET  /_sim/info                 tenant id, domains, url
//	GET  /_sim/counters             Counters as JSON
//	POST /_sim/counters/reset       zero counters
//	POST /_sim/reset                drop data, throttle state and counters
//	GET  /_sim/users                list users;  POST: create/replace one (fixture user JSON)
//	DELETE /_sim/users/{id|upn}     soft-delete
//	GET  /_sim/groups               list groups; POST: create/replace one (fixture group JSON)
//	POST /_sim/fixtures             load a JSON or YAML fixture document
//	POST /_sim/generate             GenerateOptions JSON -> GenerateResult
//	POST /_sim/apps                 {"clientId","secret","permissions":[...]} register/replace an app
//	POST /_sim/settings             {"throttling":bool,"replicationLagMs":n,"failureRate":p,"deltaTokenTtlMs":n}
//	POST /_sim/advance              {"seconds":n} move the emulator clock
//	GET  /_sim/outbox               mails sendMail accepted (DELETE: clear)
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_sim"), "/")
	bad := func(err string) { writeJSON(w, 400, map[string]string{"error": err}) }
	switch {
	case p == "/info" && r.Method == http.MethodGet:
		var ds []string
		for _, d := range s.domains {
			ds = append(ds, d.name)
		}
		writeJSON(w, 200, map[string]any{"tenantId": s.tenantID, "url": s.baseURL(r), "graph": s.baseURL(r) + "/v1.0", "domains": ds, "organization": s.orgName})
	case p == "/counters" && r.Method == http.MethodGet:
		c := s.Counters()
		bs := map[string]int64{}
		for k, v := range c.ByStatus {
			bs[strconv.Itoa(k)] = v
		}
		writeJSON(w, 200, map[string]any{"requests": c.Requests, "betaRequests": c.BetaRequests, "batchItems": c.BatchItems, "byEndpoint": c.ByEndpoint,
			"byStatus": bs, "resourceUnits": c.ResourceUnits, "writes": c.Writes, "throttled": c.Throttled,
			"userWrites": c.UserWrites, "userDisables": c.UserDisables, "posts": c.Posts, "tokenRequests": c.TokenRequests, "dropped": c.Dropped, "mailsSent": c.MailsSent})
	case p == "/outbox" && r.Method == http.MethodGet:
		writeJSON(w, 200, s.Outbox())
	case p == "/outbox" && r.Method == http.MethodDelete:
		s.ClearOutbox()
		w.WriteHeader(204)
	case p == "/counters/reset" && r.Method == http.MethodPost:
		s.ResetCounters()
		w.WriteHeader(204)
	case p == "/reset" && r.Method == http.MethodPost:
		s.Reset()
		w.WriteHeader(204)
	case p == "/users" && r.Method == http.MethodGet:
		writeJSON(w, 200, s.Users())
	case p == "/users" && r.Method == http.MethodPost:
		var fu fixtureUser
		if err := json.NewDecoder(r.Body).Decode(&fu); err != nil {
			bad(err.Error())
			return
		}
		doc, _ := json.Marshal(fixtureFile{Users: []fixtureUser{fu}})
		if err := s.LoadFixtures(bytes.NewReader(doc)); err != nil {
			bad(err.Error())
			return
		}
		u, _ := s.GetUser(fu.UserPrincipalName)
		writeJSON(w, 201, u)
	case strings.HasPrefix(p, "/users/") && r.Method == http.MethodDelete:
		id := strings.TrimPrefix(p, "/users/")
		if _, ok := s.GetUser(id); !ok {
			writeJSON(w, 404, map[string]string{"error": "no such user"})
			return
		}
		s.DeleteUser(id)
		w.WriteHeader(204)
	case p == "/groups" && r.Method == http.MethodGet:
		writeJSON(w, 200, s.Groups())
	case p == "/groups" && r.Method == http.MethodPost:
		var fg fixtureGroup
		if err := json.NewDecoder(r.Body).Decode(&fg); err != nil {
			bad(err.Error())
			return
		}
		doc, _ := json.Marshal(fixtureFile{Groups: []fixtureGroup{fg}})
		if err := s.LoadFixtures(bytes.NewReader(doc)); err != nil {
			bad(err.Error())
			return
		}
		writeJSON(w, 201, map[string]string{"status": "created"})
	case p == "/fixtures" && r.Method == http.MethodPost:
		if err := s.LoadFixtures(r.Body); err != nil {
			bad(err.Error())
			return
		}
		w.WriteHeader(204)
	case p == "/generate" && r.Method == http.MethodPost:
		var o GenerateOptions
		if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
			bad(err.Error())
			return
		}
		res := s.Generate(o)
		res.UserIDs = nil // 100k ids are of no use to a shell script
		writeJSON(w, 200, res)
	case p == "/apps" && r.Method == http.MethodPost:
		var a struct {
			ClientID    string   `json:"clientId"`
			Secret      string   `json:"secret"`
			Permissions []string `json:"permissions"`
		}
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil || a.ClientID == "" {
			bad("need clientId")
			return
		}
		if a.Secret != "" {
			s.AddApp(a.ClientID, a.Secret, a.Permissions...)
		} else {
			s.SetPermissions(a.ClientID, a.Permissions...)
		}
		w.WriteHeader(204)
	case p == "/settings" && r.Method == http.MethodPost:
		var st struct {
			Throttling       *bool    `json:"throttling"`
			ReplicationLagMs *int64   `json:"replicationLagMs"`
			FailureRate      *float64 `json:"failureRate"`
			DeltaTokenTTLMs  *int64   `json:"deltaTokenTtlMs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
			bad(err.Error())
			return
		}
		if st.Throttling != nil {
			s.SetThrottling(*st.Throttling)
		}
		if st.ReplicationLagMs != nil {
			s.SetReplicationLag(time.Duration(*st.ReplicationLagMs) * time.Millisecond)
		}
		if st.FailureRate != nil {
			s.SetFailureRate(*st.FailureRate)
		}
		if st.DeltaTokenTTLMs != nil {
			s.SetDeltaTokenTTL(time.Duration(*st.DeltaTokenTTLMs) * time.Millisecond)
		}
		w.WriteHeader(204)
	case p == "/advance" && r.Method == http.MethodPost:
		var a struct {
			Seconds float64 `json:"seconds"`
		}
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			bad(err.Error())
			return
		}
		s.Advance(time.Duration(a.Seconds * float64(time.Second)))
		w.WriteHeader(204)
	default:
		writeJSON(w, 404, map[string]string{"error": "unknown control endpoint " + r.Method + " " + r.URL.Path})
	}
}
