package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/directory-operator/directory-operator/internal/testenv/proc"
)

// sim is the graphsim binary, driven through its /_sim control plane.
type sim struct {
	p                      *proc.Process
	url, caFile, tenant    string
	clientID, clientSecret string
	http                   *http.Client
	initialUsers           map[string]simUser // by id, before the operator ran
	initialByUPN           map[string]simUser // by lower-case UPN
	groupID                string
	groupMembers           []string
}

// simUser is the control plane's JSON of a user (Go field names).
type simUser struct {
	ID                string
	UserPrincipalName string
	DisplayName       string
	Mail              string
	JobTitle          string
	Department        string
	AccountEnabled    bool
	ManagerID         string
}

type simGroup struct {
	ID          string
	DisplayName string
	Members     []string
}

// simCounters is the part of /_sim/counters the invariants use.
type simCounters struct {
	Requests     int64            `json:"requests"`
	BatchItems   int64            `json:"batchItems"`
	ByEndpoint   map[string]int64 `json:"byEndpoint"`
	ByStatus     map[string]int64 `json:"byStatus"`
	Writes       int64            `json:"writes"`
	Throttled    int64            `json:"throttled"`
	Posts        int64            `json:"posts"`
	UserWrites   map[string]int64 `json:"userWrites"`
	UserDisables map[string]int64 `json:"userDisables"`
}

func startSim(bin, dir string, cfg config, clientID, clientSecret string, logTo io.Writer) (*sim, error) {
	p, err := proc.Start(filepath.Join(bin, "graphsim"), nil, logTo,
		"--addr", "127.0.0.1:0", "--cert-dir", dir, "--seed", strconv.FormatInt(cfg.seed, 10),
		"--generate-users", strconv.Itoa(cfg.tenantUsers()), "--group-members", strconv.Itoa(cfg.groupMembers),
		"--nested-groups=false", "--client-id", clientID, "--client-secret", clientSecret,
		"--throttling="+strconv.FormatBool(cfg.throttling))
	if err != nil {
		return nil, err
	}
	vars, err := proc.ReadVars(p.Stdout, "GRAPHSIM_STARTUP", 60*time.Second)
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("graphsim: %w\n%s", err, p.Output())
	}
	s := &sim{p: p, url: vars["GRAPHSIM_URL"], caFile: vars["GRAPHSIM_CA_FILE"], tenant: vars["GRAPHSIM_TENANT_ID"],
		clientID: clientID, clientSecret: clientSecret}
	pem, err := os.ReadFile(s.caFile)
	if err != nil {
		p.Stop()
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	s.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return s, nil
}

// settings switches the fault model at run time.
func (s *sim) settings(failureRate float64, lag time.Duration) error {
	return s.do(http.MethodPost, "/_sim/settings", map[string]any{"failureRate": failureRate, "replicationLagMs": lag.Milliseconds()}, nil)
}

func (s *sim) users() ([]simUser, error) {
	var out []simUser
	return out, s.do(http.MethodGet, "/_sim/users", nil, &out)
}

func (s *sim) groups() ([]simGroup, error) {
	var out []simGroup
	return out, s.do(http.MethodGet, "/_sim/groups", nil, &out)
}

func (s *sim) counters() (simCounters, error) {
	var out simCounters
	return out, s.do(http.MethodGet, "/_sim/counters", nil, &out)
}

func (s *sim) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// snapshot records the generated tenant before anything else touches it:
// who exists (so created users can be told apart) and the group to sync.
func (s *sim) snapshot() error {
	us, err := s.users()
	if err != nil {
		return err
	}
	s.initialUsers, s.initialByUPN = map[string]simUser{}, map[string]simUser{}
	for _, u := range us {
		s.initialUsers[u.ID] = u
		s.initialByUPN[strings.ToLower(u.UserPrincipalName)] = u
	}
	gs, err := s.groups()
	if err != nil {
		return err
	}
	for _, g := range gs {
		if g.DisplayName == "All Staff" {
			s.groupID, s.groupMembers = g.ID, g.Members
			return nil
		}
	}
	return fmt.Errorf("the generated tenant has no \"All Staff\" group")
}
