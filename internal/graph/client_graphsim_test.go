package graph

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/directory-operator/directory-operator/internal/graphsim"
)

const simClient = "0b7e5c5e-7d8e-4a35-9a55-1f4f9c3e2a10"

// startSim starts an emulated tenant with one secret app holding perms.
func startSim(t *testing.T, opts graphsim.Options, perms ...string) (*graphsim.Server, Config) {
	t.Helper()
	sim := graphsim.New(opts)
	if err := sim.Start(); err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(sim.Close)
	sim.AddApp(simClient, fakeSecret, perms...)
	return sim, Config{
		TenantID: sim.TenantID(), ClientID: simClient, ClientSecret: fakeSecret,
		AuthorityHost: sim.URL() + "/", GraphEndpoint: sim.URL(), CABundlePEM: sim.CACertPEM(),
		HTTPTimeout: 20 * time.Second,
	}
}

func mustClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestGraphsimEveryMethod(t *testing.T) {
	sim, cfg := startSim(t, graphsim.Options{}, "User.ReadWrite.All", "GroupMember.Read.All", "Organization.Read.All")
	c := mustClient(t, cfg)
	ctx := context.Background()

	org, err := c.Organization(ctx)
	if err != nil || org.DisplayName != "Contoso" || org.ID == "" || len(org.VerifiedDomains) == 0 {
		t.Fatalf("Organization = %+v, %v", org, err)
	}
	perms, err := c.GrantedPermissions(ctx)
	if err != nil || !contains(perms, "User.ReadWrite.All") {
		t.Fatalf("GrantedPermissions = %v, %v", perms, err)
	}

	adele, boss := everyMethodUsers(t, c, sim)
	everyMethodBatch(t, c, sim, adele)
	everyMethodGroups(t, c, sim, adele, boss)

	users, err := c.ListUsers(ctx, true)
	if err != nil || len(users) != 27 {
		t.Fatalf("ListUsers = %d users, %v", len(users), err)
	}

	if err := c.DeleteUser(ctx, adele.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := c.GetUser(ctx, adele.ID); !IsNotFound(err) {
		t.Fatalf("GetUser after delete err = %v", err)
	}
	if err := c.DeleteUser(ctx, adele.ID); !IsNotFound(err) {
		t.Fatalf("second DeleteUser err = %v, want NotFound", err)
	}

	// Our accounting matches the emulator's count of Graph requests.
	if got, want := c.Usage().Requests, sim.Counters().Requests; got != want {
		t.Errorf("client counted %d requests, emulator %d", got, want)
	}
}

// everyMethodUsers creates, updates and reads two users (adele reports to
// boss) and revokes their sessions.
func everyMethodUsers(t *testing.T, c *Client, sim *graphsim.Server) (adele, boss User) {
	t.Helper()
	ctx := context.Background()
	boss, err := c.CreateUser(ctx, NewUser{UserPrincipalName: "boss@contoso.com", DisplayName: "Boss", MailNickname: "boss",
		AccountEnabled: true, Password: "Sup3r-Secret-Passw0rd!", JobTitle: "CEO"})
	if err != nil || boss.ID == "" {
		t.Fatalf("CreateUser boss = %+v, %v", boss, err)
	}
	adele, err = c.CreateUser(ctx, NewUser{UserPrincipalName: "adele@contoso.com", DisplayName: "Adele", MailNickname: "adele",
		AccountEnabled: true, Password: "Sup3r-Secret-Passw0rd!", Department: "Sales", UsageLocation: "FR", EmployeeID: "E1"})
	if err != nil {
		t.Fatalf("CreateUser adele: %v", err)
	}
	_, err = c.CreateUser(ctx, NewUser{UserPrincipalName: "adele@contoso.com", DisplayName: "Dup", MailNickname: "dup", Password: "Sup3r-Secret-Passw0rd!"})
	if KindOf(err) != Conflict || strings.Contains(err.Error(), "Sup3r-Secret") {
		t.Fatalf("duplicate CreateUser err = %v, want Conflict without the password", err)
	}

	if err := c.SetManager(ctx, adele.ID, boss.ID); err != nil {
		t.Fatalf("SetManager: %v", err)
	}
	job, empty := "Account Executive", ""
	if err := c.UpdateUser(ctx, adele.ID, UserUpdate{JobTitle: &job, Department: &empty}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	got, err := c.GetUser(ctx, "adele@contoso.com")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if got.ID != adele.ID || got.JobTitle != job || got.Department != "" || got.UsageLocation != "FR" || got.EmployeeID != "E1" ||
		got.AccountEnabled == nil || !*got.AccountEnabled || got.CreatedDateTime == nil ||
		got.Manager == nil || got.Manager.ID != boss.ID || got.Manager.UserPrincipalName != "boss@contoso.com" {
		t.Fatalf("GetUser = %+v (manager %+v)", got, got.Manager)
	}
	if live, _ := sim.GetUser(adele.ID); live.Department != "" || live.ManagerID != boss.ID {
		t.Fatalf("emulator state = %+v", live)
	}

	ms, err := c.GetManagers(ctx, []string{adele.ID, boss.ID})
	if err != nil || ms[0].Manager == nil || ms[0].Manager.ID != boss.ID || ms[1].Manager != nil || ms[1].Err != nil {
		t.Fatalf("GetManagers = %+v, %v", ms, err)
	}
	if err := c.RemoveManager(ctx, adele.ID); err != nil {
		t.Fatalf("RemoveManager: %v", err)
	}
	if ms, _ := c.GetManagers(ctx, []string{adele.ID}); ms[0].Manager != nil || ms[0].Err != nil {
		t.Fatalf("manager after removal = %+v", ms[0])
	}

	if err := c.RevokeSignInSessions(ctx, adele.ID); err != nil {
		t.Fatalf("RevokeSignInSessions: %v", err)
	}
	rv, err := c.RevokeSignInSessionsMany(ctx, []string{adele.ID, boss.ID})
	if err != nil || rv[0].Err != nil || rv[1].Err != nil {
		t.Fatalf("RevokeSignInSessionsMany = %+v, %v", rv, err)
	}

	return adele, boss
}

// everyMethodBatch reads and writes users in $batch over more than one
// envelope.
func everyMethodBatch(t *testing.T, c *Client, sim *graphsim.Server, adele User) {
	t.Helper()
	ctx := context.Background()
	var keys []string
	for i := range 25 {
		u := sim.PutUser(graphsim.User{UserPrincipalName: fmt.Sprintf("bulk%02d@contoso.com", i), DisplayName: "Bulk", AccountEnabled: true, JobTitle: "Clerk"})
		keys = append(keys, u.ID)
	}
	keys = append(keys, "nobody@contoso.com", "adele@contoso.com")
	before := c.Usage()
	res, err := c.GetUsers(ctx, keys)
	if err != nil {
		t.Fatalf("GetUsers: %v", err)
	}
	if d := c.Usage().Sub(before); d.Requests != 2 {
		t.Errorf("GetUsers of %d keys used %d requests, want 2", len(keys), d.Requests)
	}
	for i, r := range res[:25] {
		if r.Err != nil || r.User.ID != keys[i] || r.User.JobTitle != "Clerk" || r.User.AccountEnabled == nil || !*r.User.AccountEnabled {
			t.Fatalf("GetUsers[%d] = %+v", i, r)
		}
	}
	if !IsNotFound(res[25].Err) || res[26].Err != nil || res[26].User.ID != adele.ID {
		t.Fatalf("GetUsers tail = %+v / %+v", res[25], res[26])
	}
	off := false
	var ups []UserUpdateItem
	for _, id := range keys[:25] {
		ups = append(ups, UserUpdateItem{ID: id, Update: UserUpdate{AccountEnabled: &off}})
	}
	ups = append(ups, UserUpdateItem{ID: "00000000-0000-0000-0000-000000000000", Update: UserUpdate{AccountEnabled: &off}})
	ur, err := c.UpdateUsers(ctx, ups)
	if err != nil {
		t.Fatalf("UpdateUsers: %v", err)
	}
	for i, r := range ur[:25] {
		if r.Err != nil {
			t.Fatalf("UpdateUsers[%d] = %v", i, r.Err)
		}
		if u, _ := sim.GetUser(keys[i]); u.AccountEnabled {
			t.Fatalf("user %s still enabled", keys[i])
		}
	}
	if !IsNotFound(ur[25].Err) {
		t.Fatalf("UpdateUsers of a missing user = %v", ur[25].Err)
	}

}

// everyMethodGroups reads groups and their direct and transitive members.
func everyMethodGroups(t *testing.T, c *Client, sim *graphsim.Server, adele, boss User) {
	t.Helper()
	ctx := context.Background()
	g := sim.PutGroup(graphsim.Group{DisplayName: "O'Neil Fans", SecurityEnabled: true, Members: []string{adele.ID}})
	outer := sim.PutGroup(graphsim.Group{DisplayName: "Outer", SecurityEnabled: true, Members: []string{g.ID, boss.ID}})
	gg, err := c.GetGroup(ctx, g.ID)
	if err != nil || gg.DisplayName != "O'Neil Fans" || !gg.SecurityEnabled {
		t.Fatalf("GetGroup = %+v, %v", gg, err)
	}
	found, err := c.FindGroups(ctx, "O'Neil Fans")
	if err != nil || len(found) != 1 || found[0].ID != g.ID {
		t.Fatalf("FindGroups = %+v, %v", found, err)
	}
	all, err := c.ListGroups(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("ListGroups = %+v, %v", all, err)
	}
	direct, err := c.ListGroupMembers(ctx, outer.ID, false)
	if err != nil || ids(direct) != ids([]User{{ID: boss.ID}}) {
		t.Fatalf("direct members = %+v, %v (nested group must be skipped)", direct, err)
	}
	trans, err := c.ListGroupMembers(ctx, outer.ID, true, "id", "userPrincipalName")
	if err != nil || ids(trans) != ids([]User{{ID: boss.ID}, {ID: adele.ID}}) {
		t.Fatalf("transitive members = %+v, %v", trans, err)
	}
}

func TestGraphsimCredentialErrors(t *testing.T) {
	sim, cfg := startSim(t, graphsim.Options{}, "User.Read.All")
	ctx := context.Background()

	wrong := cfg
	wrong.ClientSecret = "not-the-right-secret"
	_, err := mustClient(t, wrong).Organization(ctx)
	var e *Error
	if !errors.As(err, &e) || e.Kind != Unauthorized || !strings.HasPrefix(e.Code, "AADSTS") {
		t.Fatalf("wrong secret err = %v, want Unauthorized with an AADSTS code", err)
	}
	if strings.Contains(err.Error(), wrong.ClientSecret) {
		t.Fatalf("error leaks the secret: %v", err)
	}

	unknownTenant := cfg
	unknownTenant.TenantID = "11111111-2222-3333-4444-555555555555"
	if _, err := mustClient(t, unknownTenant).Organization(ctx); KindOf(err) != Unauthorized {
		t.Fatalf("unknown tenant err = %v, want Unauthorized", err)
	}

	// Read-only app writing: 403.
	c := mustClient(t, cfg)
	u := sim.PutUser(graphsim.User{UserPrincipalName: "x@contoso.com", AccountEnabled: true})
	off := false
	if err := c.UpdateUser(ctx, u.ID, UserUpdate{AccountEnabled: &off}); KindOf(err) != Forbidden {
		t.Fatalf("write without permission err = %v, want Forbidden", err)
	}

	// Nothing listens: Transient.
	dead := cfg
	dead.AuthorityHost, dead.GraphEndpoint = "https://127.0.0.1:1/", "https://127.0.0.1:1"
	dead.HTTPTimeout = 3 * time.Second
	if _, err := mustClient(t, dead).Organization(ctx); KindOf(err) != Transient {
		t.Fatalf("unreachable err = %v, want Transient", err)
	}
}

func TestGraphsimCertificateAndWorkloadIdentity(t *testing.T) {
	sim, cfg := startSim(t, graphsim.Options{}, "User.Read.All")
	ctx := context.Background()

	certPEM, keyPEM := selfSignedCert(t)
	const certApp = "5a1c3f8e-3f55-4f4e-9d7b-2c0f9b1e6d21"
	sim.AddCertApp(certApp, certPEM, "User.Read.All")
	cc := cfg
	cc.ClientID, cc.ClientSecret, cc.CertificatePEM, cc.PrivateKeyPEM = certApp, "", certPEM, keyPEM
	if _, err := mustClient(t, cc).Organization(ctx); err != nil {
		t.Fatalf("certificate credential: %v", err)
	}

	const fedApp = "7d2e4a9b-6c1f-4b3e-8a5d-9e0f1a2b3c4d"
	const issuer, subject = "https://oidc.example/cluster", "system:serviceaccount:dirop:manager"
	sim.AddFederatedApp(fedApp, issuer, subject, "User.Read.All")
	enc := base64.RawURLEncoding
	claims, _ := json.Marshal(map[string]any{"iss": issuer, "sub": subject, "aud": "api://AzureADTokenExchange", "exp": time.Now().Add(time.Hour).Unix()})
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(enc.EncodeToString([]byte(`{"alg":"RS256"}`))+"."+enc.EncodeToString(claims)+".c2ln\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc := cfg
	fc.ClientID, fc.ClientSecret, fc.FederatedTokenFile = fedApp, "", file
	if _, err := mustClient(t, fc).Organization(ctx); err != nil {
		t.Fatalf("workload identity credential: %v", err)
	}
}

// With Graph's quota far below our budget's idea of it, a 429 must come back
// at once as Throttled; with the budget matching the quota, a run paces
// itself and Graph never answers 429.
func TestGraphsimThrottling(t *testing.T) {
	const scale = 20 // 10 s RU window → 0.5 s
	sim, cfg := startSim(t, graphsim.Options{Throttling: true, TimeScale: scale, RUPer10s: 40}, "User.ReadWrite.All")
	var keys []string
	for i := range 100 {
		keys = append(keys, sim.PutUser(graphsim.User{UserPrincipalName: fmt.Sprintf("t%03d@contoso.com", i), AccountEnabled: true}).ID)
	}
	ctx := context.Background()

	over := cfg
	over.Budget = BudgetConfig{ResourceUnitsPer10s: 8000, WritesPer150s: 3000, TimeScale: scale}
	c := mustClient(t, over)
	start := time.Now()
	res, err := c.GetUsers(ctx, keys)
	el := time.Since(start)
	if err != nil {
		if _, ok := IsThrottled(err); !ok {
			t.Fatalf("GetUsers over quota: err = %v, want nil or Throttled", err)
		}
	}
	// Five envelopes, each paced for at most maxInlineWait: no Retry-After
	// is ever slept in full beyond that bound.
	if el > 5*maxInlineWait+2*time.Second {
		t.Fatalf("over quota: GetUsers took %v", el)
	}
	var ok, thr int
	for _, r := range res {
		if r.Err == nil {
			ok++
		} else if ra, t := IsThrottled(r.Err); t && ra > 0 {
			thr++
		}
	}
	if ok == 0 || thr == 0 || ok+thr != len(keys) {
		t.Fatalf("over quota: %d ok, %d throttled of %d", ok, thr, len(keys))
	}
	if u := c.Usage(); u.Throttled != int64(sim.Counters().Throttled) || u.Throttled < int64(thr) {
		t.Fatalf("client counted %d 429s, emulator %d, items %d", u.Throttled, sim.Counters().Throttled, thr)
	}
	t.Logf("over quota: %d ok, %d throttled items in %v; client usage %+v", ok, thr, el, c.Usage())

	// Same quota as the emulator: no 429 at all, at the cost of short
	// waits between envelopes.
	time.Sleep(time.Second) // let the emulator's bucket refill
	sim.ResetCounters()
	matched := cfg
	// The emulator's 40 RU, refilled 1 % slower as the operator does
	// (connection.RefillShare), since two clocks never agree exactly and a
	// budget at exactly 100 % meets Graph's empty bucket now and then.
	matched.Budget = BudgetConfig{ResourceUnitsPer10s: 40, WritesPer150s: 3000, TimeScale: scale, RefillShare: 0.99}
	c2 := mustClient(t, matched)
	for done := 0; done < len(keys); {
		res, err := c2.GetUsers(ctx, keys[done:min(done+20, len(keys))])
		if err != nil {
			t.Fatalf("paced GetUsers: %v", err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("paced item %s: %v", r.Key, r.Err)
			}
		}
		done += len(res)
	}
	if n := sim.Counters().Throttled; n != 0 {
		t.Fatalf("emulator answered %d 429s to a client pacing at its quota", n)
	}
	t.Logf("paced: %+v, emulator counters: %d requests, %d RU", c2.Usage(), sim.Counters().Requests, sim.Counters().ResourceUnits)
}

func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "directory-operator-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func ids(us []User) string {
	var out []string
	for _, u := range us {
		out = append(out, u.ID)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
