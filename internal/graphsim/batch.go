package graphsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

const maxBatch = 20

// serveBatch executes a JSON batch. The envelope is authenticated once; each
// item is routed, permission-checked, charged and throttled on its own and
// may fail on its own (including 429 with its own Retry-After). Items whose
// dependency failed get 424. Responses come back in no particular order, as
// with Graph: clients must match them by id.
func (s *Server) serveBatch(env *call) gresp {
	var req struct {
		Requests []batchItem `json:"requests"`
	}
	d := json.NewDecoder(bytes.NewReader(env.body))
	if len(bytes.TrimSpace(env.body)) == 0 || d.Decode(&req) != nil {
		return env.errResp(badRequest("BadRequest", "Invalid batch payload format."))
	}
	if len(req.Requests) == 0 {
		return env.errResp(badRequest("BadRequest", "Invalid batch payload format: the requests array is empty."))
	}
	if len(req.Requests) > maxBatch {
		return env.errResp(badRequest("BadRequest", fmt.Sprintf("The number of requests in the batch (%d) exceeds the limit of %d.", len(req.Requests), maxBatch)))
	}
	byID := map[string]*batchItem{}
	for i := range req.Requests {
		it := &req.Requests[i]
		if it.ID == "" {
			return env.errResp(badRequest("BadRequest", "Batch request id is missing."))
		}
		if it.Method == "" || it.URL == "" {
			return env.errResp(badRequest("BadRequest", fmt.Sprintf("Request id : %s is missing method or url.", it.ID)))
		}
		if _, dup := byID[it.ID]; dup {
			return env.errResp(badRequest("BadRequest", "Batch request contains duplicate request ids: '"+it.ID+"'."))
		}
		byID[it.ID] = it
		hasBody := len(it.Body) > 0 && string(bytes.TrimSpace(it.Body)) != "null"
		if hasBody && headerValue(it.Headers, "Content-Type") == "" {
			return env.errResp(badRequest("BadRequest", fmt.Sprintf("Write request id : %s does not contain Content-Type header or body.", it.ID)))
		}
	}
	for _, it := range req.Requests {
		for _, dep := range it.DependsOn {
			if _, ok := byID[dep]; !ok {
				return env.errResp(badRequest("BadRequest", fmt.Sprintf("Request id : %s depends on request id : %s, which is not in the batch.", it.ID, dep)))
			}
		}
	}
	results := map[string]map[string]any{}
	status := map[string]int{}
	var order []string
	for len(order) < len(req.Requests) {
		progressed := false
		for i := range req.Requests {
			it := &req.Requests[i]
			if _, done := status[it.ID]; done {
				continue
			}
			ready, failedDep := true, ""
			for _, dep := range it.DependsOn {
				st, done := status[dep]
				if !done {
					ready = false
					break
				}
				if st < 200 || st > 299 {
					failedDep = dep
				}
			}
			if !ready {
				continue
			}
			progressed = true
			var res map[string]any
			if failedDep != "" {
				c := s.itemCall(env, it)
				e := c.errResp(&gerror{status: 424, code: "FailedDependency", msg: fmt.Sprintf("The request depends on request id '%s', which failed.", failedDep)})
				s.count(strings.ToUpper(it.Method)+" (failed dependency)", 424, true)
				res = itemResult(it.ID, e)
				status[it.ID] = 424
			} else {
				resp := s.execItem(env, it)
				res = itemResult(it.ID, resp)
				status[it.ID] = resp.status
			}
			results[it.ID] = res
			order = append(order, it.ID)
		}
		if !progressed {
			return env.errResp(badRequest("BadRequest", "Batch request contains a circular dependsOn chain."))
		}
	}
	s.mu.Lock()
	s.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	s.mu.Unlock()
	out := make([]any, 0, len(order))
	for _, id := range order {
		out = append(out, results[id])
	}
	b, _ := json.Marshal(map[string]any{"responses": out})
	return gresp{status: 200, body: b, ctype: "application/json"}
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (s *Server) itemCall(env *call, it *batchItem) *call {
	hdr := http.Header{}
	for k, v := range it.Headers {
		hdr.Set(k, v)
	}
	c := &call{method: strings.ToUpper(it.Method), ver: env.ver, hdr: hdr, base: env.base, reqID: randomRequestID(),
		clientReqID: env.clientReqID, now: s.now(), claims: env.claims, inBatch: true}
	if len(it.Body) > 0 && string(bytes.TrimSpace(it.Body)) != "null" {
		c.body = it.Body
		// Non-JSON bodies travel base64-encoded as a JSON string.
		if it.Body[0] == '"' && !strings.Contains(strings.ToLower(headerValue(it.Headers, "Content-Type")), "json") {
			var sv string
			if json.Unmarshal(it.Body, &sv) == nil {
				if raw, err := base64.StdEncoding.DecodeString(sv); err == nil {
					c.body = raw
				}
			}
		}
	}
	return c
}

func (s *Server) execItem(env *call, it *batchItem) gresp {
	c := s.itemCall(env, it)
	u := it.URL
	if strings.Contains(u, "://") {
		s.count(c.method+" (unknown)", 400, true)
		return c.errResp(badRequest("BadRequest", "Invalid request URI: batch item URLs must be relative to the version, e.g. /users/{id}."))
	}
	u = strings.TrimPrefix(u, "/")
	path, rawQuery, _ := strings.Cut(u, "?")
	segs, lsegs, err := splitPath(path)
	if err != nil || len(lsegs) == 0 || lsegs[0] == "$batch" {
		s.count(c.method+" (unknown)", 400, true)
		return c.errResp(badRequest("BadRequest", "Invalid request URI."))
	}
	c.segs, c.lsegs, c.rawQuery = segs, lsegs, rawQuery
	return s.exec(c)
}

func itemResult(id string, resp gresp) map[string]any {
	hdr := map[string]string{}
	for k, vs := range resp.hdr {
		if len(vs) > 0 {
			// Graph spells its own headers in lower case inside batch items.
			if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ms-") {
				k = lk
			}
			hdr[k] = vs[0]
		}
	}
	res := map[string]any{"id": id, "status": resp.status}
	if resp.body != nil {
		ct := resp.ctype
		if ct == "" {
			ct = jsonCT
		}
		hdr["Content-Type"] = ct
		if strings.Contains(ct, "json") && json.Valid(resp.body) {
			res["body"] = json.RawMessage(resp.body)
		} else {
			res["body"] = base64.StdEncoding.EncodeToString(resp.body)
		}
	}
	res["headers"] = hdr
	return res
}
