package graph

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/directory-operator/directory-operator/internal/graphsim"
)

// At the most verbose level the client dumps every Graph and token
// exchange with its bodies, and no dump holds the client secret, a
// password or a token, even through a logger that redacts nothing itself.
func TestDebugDumpsNeverHoldSecrets(t *testing.T) {
	_, cfg := startSim(t, graphsim.Options{}, "User.ReadWrite.All")
	c := mustClient(t, cfg)
	var mu sync.Mutex
	var out strings.Builder
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		out.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
	ctx := logr.NewContext(context.Background(), log)

	const password = "Canary-Pw-8d1e!x"
	u, err := c.CreateUser(ctx, NewUser{UserPrincipalName: "canary@contoso.com", DisplayName: "Canary", MailNickname: "canary",
		AccountEnabled: true, Password: password, ForceChangeNextSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	logs := out.String()
	for _, want := range []string{"token exchange", "Graph exchange", "POST", "canary@contoso.com", "requestBody", "responseBody"} {
		if !strings.Contains(logs, want) {
			t.Errorf("dump lacks %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{cfg.ClientSecret, password, "eyJ", "Bearer ey"} {
		if strings.Contains(logs, secret) {
			t.Errorf("dump holds %q:\n%s", secret, logs)
		}
	}
}
