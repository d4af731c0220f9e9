//go:build sdk

package graphsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

func clientOptions(s *Server, hc *http.Client) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.URL() + "/"},
		Transport: hc,
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

// newSDK builds a Graph client the way the operator does, with a
// deterministic middleware list whose retry handler never retries (so 429s
// and 503s surface in tests).
func newSDK(t *testing.T, s *Server, hc *http.Client, cred azcore.TokenCredential) *msgraphsdk.GraphServiceClient {
	t.Helper()
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{"https://graph.microsoft.com/.default"}, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	opts := msgraphsdk.GetDefaultClientOptions()
	mw := []khttp.Middleware{
		msgraphcore.NewGraphTelemetryHandler(&opts),
		khttp.NewRetryHandlerWithOptions(khttp.RetryHandlerOptions{ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool { return false }}),
		khttp.NewRedirectHandler(),
		khttp.NewCompressionHandler(),
		khttp.NewParametersNameDecodingHandler(),
		khttp.NewUserAgentHandler(),
		khttp.NewHeadersInspectionHandler(),
		khttp.NewUrlReplaceHandler(true, msgraphcore.ReplacementPairs),
	}
	httpClient := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(hc.Transport, mw...), Timeout: 30 * time.Second}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(s.URL() + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter)
}

func secretCred(t *testing.T, s *Server, hc *http.Client, id, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(s.TenantID(), id, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: clientOptions(s, hc), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func odataCode(err error) (int, string, string) {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		code, msg := "", ""
		if m := oe.GetErrorEscaped(); m != nil {
			if m.GetCode() != nil {
				code = *m.GetCode()
			}
			if m.GetMessage() != nil {
				msg = *m.GetMessage()
			}
		}
		return oe.ResponseStatusCode, code, msg
	}
	return 0, "", fmt.Sprint(err)
}

func ptr[T any](v T) *T { return &v }

func TestSDKUsersLifecycle(t *testing.T) {
	s, hc := startTLS(t, Options{Seed: 1})
	s.AddApp(testClient, testSecret, "User.ReadWrite.All", "Organization.Read.All", "Group.Read.All")
	boss := s.PutUser(User{UserPrincipalName: "boss@contoso.com", DisplayName: "Boss", MailNickname: "boss", AccountEnabled: true})
	for i := 0; i < 11; i++ {
		s.PutUser(User{UserPrincipalName: fmt.Sprintf("u%02d@contoso.com", i), DisplayName: fmt.Sprintf("User %02d", i), MailNickname: fmt.Sprintf("u%02d", i), AccountEnabled: true})
	}
	gc := newSDK(t, s, hc, secretCred(t, s, hc, testClient, testSecret))
	ctx := context.Background()

	orgs, err := gc.Organization().Get(ctx, nil)
	if err != nil {
		t.Fatalf("organization: %v", err)
	}
	if n := len(orgs.GetValue()); n != 1 || *orgs.GetValue()[0].GetDisplayName() != "Contoso" || *orgs.GetValue()[0].GetId() != s.TenantID() {
		t.Fatalf("organization: %d", n)
	}
	if vd := orgs.GetValue()[0].GetVerifiedDomains(); len(vd) != 2 || *vd[0].GetName() != "contoso.com" || !*vd[0].GetIsDefault() {
		t.Fatalf("verified domains: %+v", vd)
	}

	// create
	nu := models.NewUser()
	nu.SetAccountEnabled(ptr(true))
	nu.SetDisplayName(ptr("Adele Vance"))
	nu.SetMailNickname(ptr("AdeleV"))
	nu.SetUserPrincipalName(ptr("AdeleV@contoso.com"))
	nu.SetDepartment(ptr("Retail"))
	pp := models.NewPasswordProfile()
	pp.SetPassword(ptr("xWwvJ]6NMw+bWH-d"))
	pp.SetForceChangePasswordNextSignIn(ptr(true))
	nu.SetPasswordProfile(pp)
	created, err := gc.Users().Post(ctx, nu, nil)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	id := *created.GetId()
	if created.GetPasswordProfile() != nil {
		t.Fatal("passwordProfile must never be returned")
	}
	if c := s.Counters(); c.Posts != 1 || c.UserWrites[id] != 1 {
		t.Fatalf("counters after create: %+v", c)
	}
	// duplicate UPN
	if _, err := gc.Users().Post(ctx, nu, nil); err == nil {
		t.Fatal("duplicate create succeeded")
	} else if st, code, msg := odataCode(err); st != 400 || code != "Request_BadRequest" || !strings.Contains(msg, "Another object with the same value for property userPrincipalName already exists.") {
		t.Fatalf("duplicate: %d %s %s", st, code, msg)
	}
	// unverified domain, weak password
	nu.SetUserPrincipalName(ptr("x@fabrikam.com"))
	if _, err := gc.Users().Post(ctx, nu, nil); err == nil {
		t.Fatal("unverified domain accepted")
	} else if _, _, msg := odataCode(err); !strings.Contains(msg, "verified domain names") {
		t.Fatalf("domain: %s", msg)
	}
	nu.SetUserPrincipalName(ptr("weak@contoso.com"))
	pp.SetPassword(ptr("password"))
	if _, err := gc.Users().Post(ctx, nu, nil); err == nil {
		t.Fatal("weak password accepted")
	} else if _, _, msg := odataCode(err); !strings.Contains(msg, "password complexity") {
		t.Fatalf("password: %s", msg)
	}

	// get by UPN with $select
	got, err := gc.Users().ByUserId("adelev@contoso.com").Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "accountEnabled", "department", "createdDateTime"}}})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if *got.GetId() != id || !*got.GetAccountEnabled() || *got.GetDepartment() != "Retail" || got.GetCreatedDateTime() == nil {
		t.Fatalf("get: %+v", got)
	}
	if got.GetDisplayName() != nil {
		t.Fatal("$select must return only selected properties")
	}

	// disable (PATCH accountEnabled only)
	patch := models.NewUser()
	patch.SetAccountEnabled(ptr(false))
	if _, err := gc.Users().ByUserId(id).Patch(ctx, patch, nil); err != nil {
		t.Fatalf("patch: %v", err)
	}
	if u, _ := s.GetUser(id); u.AccountEnabled {
		t.Fatal("patch not applied")
	}

	// manager
	ref := models.NewReferenceUpdate()
	ref.SetOdataId(ptr("https://graph.microsoft.com/v1.0/users/" + boss.ID))
	if err := gc.Users().ByUserId(id).Manager().Ref().Put(ctx, ref, nil); err != nil {
		t.Fatalf("manager put: %v", err)
	}
	m, err := gc.Users().ByUserId(id).Manager().Get(ctx, nil)
	if err != nil || *m.GetId() != boss.ID {
		t.Fatalf("manager get: %v", err)
	}
	if _, ok := m.(models.Userable); !ok {
		t.Fatalf("manager should deserialize as a user, got %T", m)
	}
	ex, err := gc.Users().ByUserId(id).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id"}, Expand: []string{"manager($select=id,userPrincipalName)"}}})
	if err != nil || ex.GetManager() == nil || *ex.GetManager().GetId() != boss.ID {
		t.Fatalf("expand manager: %v", err)
	}
	ref.SetOdataId(ptr("https://graph.microsoft.com/v1.0/users/" + id))
	if err := gc.Users().ByUserId(id).Manager().Ref().Put(ctx, ref, nil); err == nil {
		t.Fatal("self manager accepted")
	}
	if err := gc.Users().ByUserId(id).Manager().Ref().Delete(ctx, nil); err != nil {
		t.Fatalf("manager delete: %v", err)
	}
	if _, err := gc.Users().ByUserId(id).Manager().Get(ctx, nil); err == nil {
		t.Fatal("manager still there")
	} else if st, code, _ := odataCode(err); st != 404 || code != "Request_ResourceNotFound" {
		t.Fatalf("no manager: %d %s", st, code)
	}

	// revoke
	rv, err := gc.Users().ByUserId(id).RevokeSignInSessions().PostAsRevokeSignInSessionsPostResponse(ctx, nil)
	if err != nil || rv.GetValue() == nil || !*rv.GetValue() {
		t.Fatalf("revoke: %v", err)
	}

	// paging with the SDK's page iterator: 13 users, pages of 5
	page, err := gc.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Top: ptr(int32(5)), Select: []string{"id", "userPrincipalName"}}})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	it, err := msgraphcore.NewPageIterator[models.Userable](page, gc.GetAdapter(), models.CreateUserCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	if err := it.Iterate(ctx, func(u models.Userable) bool { seen[*u.GetId()] = true; return true }); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	if len(seen) != 13 {
		t.Fatalf("paged %d users, want 13", len(seen))
	}

	// filter
	fl, err := gc.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: ptr("startswith(displayName,'User 0') and accountEnabled eq true"), Select: []string{"id"}}})
	if err != nil || len(fl.GetValue()) != 10 {
		t.Fatalf("filter: %v %d", err, len(fl.GetValue()))
	}

	// delete -> 404
	if err := gc.Users().ByUserId(id).Delete(ctx, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := gc.Users().ByUserId(id).Get(ctx, nil); err == nil {
		t.Fatal("deleted user still readable")
	} else if st, code, msg := odataCode(err); st != 404 || code != "Request_ResourceNotFound" || !strings.Contains(msg, "does not exist or one of its queried reference-property objects are not present") {
		t.Fatalf("get deleted: %d %s %s", st, code, msg)
	}
	if d := s.DeletedUsers(); len(d) != 1 || d[0].ID != id {
		t.Fatalf("deleted users: %+v", d)
	}
	del, err := gc.Directory().DeletedItems().GraphUser().Get(ctx, nil)
	if err != nil || len(del.GetValue()) != 1 {
		t.Fatalf("deletedItems: %v", err)
	}
	if _, err := gc.Directory().DeletedItems().ByDirectoryObjectId(id).Restore().Post(ctx, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if u, ok := s.GetUser("AdeleV@contoso.com"); !ok || u.ID != id {
		t.Fatal("restore did not bring the UPN back")
	}
}

func TestSDKDeltaAndBatch(t *testing.T) {
	s, hc := startTLS(t, Options{Seed: 2})
	s.AddApp(testClient, testSecret, "User.ReadWrite.All", "GroupMember.Read.All")
	res := s.Generate(GenerateOptions{Users: 250, ManagersEvery: 10, GroupMembers: 120, Seed: 3})
	gc := newSDK(t, s, hc, secretCred(t, s, hc, testClient, testSecret))
	ctx := context.Background()

	// initial delta: follow nextLinks to the deltaLink
	resp, err := gc.Users().Delta().GetAsDeltaGetResponse(ctx, &users.DeltaRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: []string{"displayName", "accountEnabled"}}})
	if err != nil {
		t.Fatalf("delta: %v", err)
	}
	count := 0
	var deltaLink string
	for {
		count += len(resp.GetValue())
		if dl := resp.GetOdataDeltaLink(); dl != nil {
			deltaLink = *dl
			break
		}
		next := resp.GetOdataNextLink()
		if next == nil {
			t.Fatal("delta page without nextLink or deltaLink")
		}
		resp, err = gc.Users().Delta().WithUrl(*next).GetAsDeltaGetResponse(ctx, nil)
		if err != nil {
			t.Fatalf("delta next: %v", err)
		}
	}
	if count != 250 {
		t.Fatalf("initial delta returned %d users", count)
	}
	// change one, delete one, then resume
	s.UpdateUser(res.UserIDs[5], func(u *User) { u.DisplayName = "Renamed" })
	s.DeleteUser(res.UserIDs[6])
	resp, err = gc.Users().Delta().WithUrl(deltaLink).GetAsDeltaGetResponse(ctx, nil)
	if err != nil {
		t.Fatalf("delta resume: %v", err)
	}
	var changed, removed int
	for _, u := range resp.GetValue() {
		if rm, ok := u.GetAdditionalData()["@removed"]; ok {
			removed++
			if *u.GetId() != res.UserIDs[6] {
				t.Fatalf("unexpected removal %s (%v)", *u.GetId(), rm)
			}
			continue
		}
		changed++
		if *u.GetId() != res.UserIDs[5] || *u.GetDisplayName() != "Renamed" {
			t.Fatalf("unexpected change %s", *u.GetId())
		}
	}
	if changed != 1 || removed != 1 || resp.GetOdataDeltaLink() == nil {
		t.Fatalf("delta resume: changed=%d removed=%d", changed, removed)
	}

	// group members through the SDK, transitive and paged
	mem, err := gc.Groups().ByGroupId(res.AllStaffGroupID).Members().Get(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Top: ptr(int32(50))}})
	if err != nil {
		t.Fatalf("members: %v", err)
	}
	mit, err := msgraphcore.NewPageIterator[models.DirectoryObjectable](mem, gc.GetAdapter(), models.CreateDirectoryObjectCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := mit.Iterate(ctx, func(o models.DirectoryObjectable) bool {
		if _, ok := o.(models.Userable); !ok {
			t.Errorf("member %T is not a user", o)
		}
		n++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if n != 119 { // one member was deleted above
		t.Fatalf("members: %d", n)
	}

	// batch: a GET, a PATCH, a 404 and a dependant of the 404
	batch := msgraphcore.NewBatchRequest(gc.GetAdapter())
	getInfo, _ := gc.Users().ByUserId(res.UserIDs[1]).ToGetRequestInformation(ctx, nil)
	patch := models.NewUser()
	patch.SetAccountEnabled(ptr(false))
	patchInfo, _ := gc.Users().ByUserId(res.UserIDs[2]).ToPatchRequestInformation(ctx, patch, nil)
	missInfo, _ := gc.Users().ByUserId("00000000-0000-0000-0000-000000000000").ToGetRequestInformation(ctx, nil)
	dependInfo, _ := gc.Users().ByUserId(res.UserIDs[3]).ToGetRequestInformation(ctx, nil)
	gi, _ := batch.AddBatchRequestStep(*getInfo)
	pi, _ := batch.AddBatchRequestStep(*patchInfo)
	mi, _ := batch.AddBatchRequestStep(*missInfo)
	di, _ := batch.AddBatchRequestStep(*dependInfo)
	di.DependsOnItem(mi)
	before := s.Counters()
	br, err := batch.Send(ctx, gc.GetAdapter())
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	codes := br.GetStatusCodes()
	if codes[*gi.GetId()] != 200 || codes[*pi.GetId()] != 204 || codes[*mi.GetId()] != 404 || codes[*di.GetId()] != 424 {
		t.Fatalf("batch statuses: %v", codes)
	}
	u, err := msgraphcore.GetBatchResponseById[models.Userable](br, *gi.GetId(), models.CreateUserFromDiscriminatorValue)
	if err != nil || *u.GetId() != res.UserIDs[1] {
		t.Fatalf("batch item body: %v", err)
	}
	after := s.Counters()
	if after.Requests-before.Requests != 1 || after.BatchItems-before.BatchItems != 4 {
		t.Fatalf("batch counted as %d requests, %d items", after.Requests-before.Requests, after.BatchItems-before.BatchItems)
	}
	if uu, _ := s.GetUser(res.UserIDs[2]); uu.AccountEnabled {
		t.Fatal("batch PATCH not applied")
	}
}

func TestSDKAuthAndPermissions(t *testing.T) {
	s, hc := startTLS(t, Options{})
	s.AddApp("reader", "readerSecret", "User.Read.All")
	s.AddApp("nothing", "nothingSecret")
	s.PutUser(User{UserPrincipalName: "a@contoso.com", DisplayName: "A", MailNickname: "a", AccountEnabled: true})
	ctx := context.Background()

	// wrong secret and unknown client surface AADSTS codes through azidentity
	_, err := secretCred(t, s, hc, "reader", "wrong").GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("wrong secret: %v", err)
	}
	_, err = secretCred(t, s, hc, "ghost", "x").GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Fatalf("unknown client: %v", err)
	}

	// a reader may read but not write
	gc := newSDK(t, s, hc, secretCred(t, s, hc, "reader", "readerSecret"))
	if _, err := gc.Users().ByUserId("a@contoso.com").Get(ctx, nil); err != nil {
		t.Fatalf("reader get: %v", err)
	}
	patch := models.NewUser()
	patch.SetAccountEnabled(ptr(false))
	_, err = gc.Users().ByUserId("a@contoso.com").Patch(ctx, patch, nil)
	if st, code, msg := odataCode(err); st != 403 || code != "Authorization_RequestDenied" || msg != "Insufficient privileges to complete the operation." {
		t.Fatalf("reader patch: %d %s %s", st, code, msg)
	}
	// an app without consented permissions gets a token without roles
	tok, err := secretCred(t, s, hc, "nothing", "nothingSecret").GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.Token, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var cm map[string]any
	_ = json.Unmarshal(claims, &cm)
	if _, has := cm["roles"]; has || cm["tid"] != s.TenantID() || cm["appid"] != "nothing" || cm["aud"] != "https://graph.microsoft.com" {
		t.Fatalf("claims: %v", cm)
	}
	// enable/disable permission allows PATCH of accountEnabled only
	s.AddApp("disabler", "d", "User.EnableDisableAccount.All", "User.Read.All")
	dc := newSDK(t, s, hc, secretCred(t, s, hc, "disabler", "d"))
	if _, err := dc.Users().ByUserId("a@contoso.com").Patch(ctx, patch, nil); err != nil {
		t.Fatalf("disabler patch accountEnabled: %v", err)
	}
	p2 := models.NewUser()
	p2.SetJobTitle(ptr("x"))
	if _, err := dc.Users().ByUserId("a@contoso.com").Patch(ctx, p2, nil); err == nil {
		t.Fatal("disabler may not change jobTitle")
	}
}

func TestSDKCertificateAndFederated(t *testing.T) {
	s, hc := startTLS(t, Options{})
	s.PutUser(User{UserPrincipalName: "a@contoso.com", DisplayName: "A", MailNickname: "a", AccountEnabled: true})
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "operator"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	certPEM := pemEncode("CERTIFICATE", der)
	s.AddCertApp("certapp", certPEM, "User.Read.All")
	cred, err := azidentity.NewClientCertificateCredential(s.TenantID(), "certapp", []*x509.Certificate{cert}, key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOptions(s, hc), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	gc := newSDK(t, s, hc, cred)
	if _, err := gc.Users().ByUserId("a@contoso.com").Get(context.Background(), nil); err != nil {
		t.Fatalf("certificate app: %v", err)
	}
	// a certificate that is not registered must be rejected
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	oder, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &other.PublicKey, other)
	ocert, _ := x509.ParseCertificate(oder)
	bad, err := azidentity.NewClientCertificateCredential(s.TenantID(), "certapp", []*x509.Certificate{ocert}, other,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOptions(s, hc), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}); err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
		t.Fatalf("wrong key: %v", err)
	}

	// workload identity federation: an external (here unsigned) token
	s.AddFederatedApp("wi", "https://oidc.cluster.local", "system:serviceaccount:directory-operator:controller", "User.Read.All")
	mk := func(sub string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
			c, _ := json.Marshal(map[string]any{"iss": "https://oidc.cluster.local", "sub": sub, "aud": "api://AzureADTokenExchange", "exp": time.Now().Add(time.Hour).Unix()})
			return h + "." + base64.RawURLEncoding.EncodeToString(c) + ".c2ln", nil
		}
	}
	fc, err := azidentity.NewClientAssertionCredential(s.TenantID(), "wi", mk("system:serviceaccount:directory-operator:controller"),
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: clientOptions(s, hc), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newSDK(t, s, hc, fc).Users().ByUserId("a@contoso.com").Get(context.Background(), nil); err != nil {
		t.Fatalf("federated app: %v", err)
	}
	fbad, _ := azidentity.NewClientAssertionCredential(s.TenantID(), "wi", mk("system:serviceaccount:other:sa"),
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: clientOptions(s, hc), DisableInstanceDiscovery: true})
	if _, err := fbad.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}); err == nil || !strings.Contains(err.Error(), "AADSTS70021") {
		t.Fatalf("federated wrong subject: %v", err)
	}
}
