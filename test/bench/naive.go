//go:build sdk

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	kauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// naive is the baseline: what users write today from the msgraph-sdk-go
// samples. One call per user, in sequence, through the SDK's default
// middleware pipeline, whose RetryHandler retries 429/503/504 up to 3 times
// honouring Retry-After (truncated to whole seconds, as the SDK does). A
// call still failing after the SDK's retries is sent again, as a user
// re-running the script for the users it missed would; that is what makes
// the baseline finish at all under throttling.
type naive struct {
	c *msgraphsdk.GraphServiceClient
}

// maxNaiveAttempts bounds the "re-run" of one call; beyond it the user is
// counted as failed.
const maxNaiveAttempts = 20

func newNaive(simURL, tenantID, clientID, secret string, caPEM []byte) (*naive, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("emulator CA is not PEM")
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: simURL + "/"},
			Transport: &http.Client{Transport: base},
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		// Offline: no instance discovery against login.microsoft.com.
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(simURL)
	if err != nil {
		return nil, err
	}
	auth, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{"https://graph.microsoft.com/.default"}, []string{u.Hostname()})
	if err != nil {
		return nil, err
	}
	// The SDK's own default client and middleware; only the transport
	// underneath changes, to trust the emulator's certificate.
	opts := msgraphsdk.GetDefaultClientOptions()
	hc := msgraphcore.GetDefaultClient(&opts)
	hc.Transport = khttp.NewCustomTransportWithParentTransport(base, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...)
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		return nil, err
	}
	adapter.SetBaseUrl(simURL + "/v1.0")
	return &naive{c: msgraphsdk.NewGraphServiceClient(adapter)}, nil
}

// again re-sends a call the SDK gave up on.
func again(ctx context.Context, f func() error) error {
	var err error
	for range maxNaiveAttempts {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// disable reads each user and disables it, one user after the other.
// It returns how many users it could not disable.
func (n *naive) disable(ctx context.Context, keys []string) (failed int) {
	off := false
	for _, k := range keys {
		var u models.Userable
		err := again(ctx, func() (err error) {
			u, err = n.c.Users().ByUserId(k).Get(ctx, nil)
			return err
		})
		if err != nil {
			failed++
			continue
		}
		if e := u.GetAccountEnabled(); e != nil && !*e {
			continue
		}
		body := models.NewUser()
		body.SetAccountEnabled(&off)
		if err := again(ctx, func() error {
			_, err := n.c.Users().ByUserId(*u.GetId()).Patch(ctx, body, nil)
			return err
		}); err != nil {
			failed++
		}
	}
	return failed
}

// query reads jobTitle and accountEnabled of each user, one after the other.
func (n *naive) query(ctx context.Context, keys []string) (failed int) {
	cfg := &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "jobTitle", "accountEnabled"}},
	}
	for _, k := range keys {
		if err := again(ctx, func() error {
			_, err := n.c.Users().ByUserId(k).Get(ctx, cfg)
			return err
		}); err != nil {
			failed++
		}
	}
	return failed
}

// create creates one user and returns how long the SDK call took.
func (n *naive) create(ctx context.Context, upn, nickname string) (time.Duration, error) {
	on, force := true, true
	pwd := "Bench-" + nickname + "-Pa55word!"
	u := models.NewUser()
	u.SetAccountEnabled(&on)
	u.SetDisplayName(&nickname)
	u.SetMailNickname(&nickname)
	u.SetUserPrincipalName(&upn)
	p := models.NewPasswordProfile()
	p.SetPassword(&pwd)
	p.SetForceChangePasswordNextSignIn(&force)
	u.SetPasswordProfile(p)
	start := time.Now()
	_, err := n.c.Users().Post(ctx, u, nil)
	return time.Since(start), err
}
