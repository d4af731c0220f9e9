// Command graphsim runs the Microsoft Graph / Entra ID emulator as a
// standalone TLS server for demos, benchmarks and manual testing.
//
// It prints KEY=VALUE lines (URL, CA file, tenant, client id and secret) so
// scripts can `eval` or source them, then serves until interrupted. The
// control plane under /_sim (counters, reset, fixtures, generate, settings)
// needs no authentication.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/directory-operator/directory-operator/internal/graphsim"
)

const defaultPerms = "User.ReadWrite.All,User.EnableDisableAccount.All,Group.Read.All,GroupMember.Read.All,Organization.Read.All,Directory.Read.All,Mail.Send"

func main() {
	fs := flag.NewFlagSet("graphsim", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9443", "listen address (host:port; port 0 picks a free port)")
	hostnames := fs.String("hostnames", "", "comma-separated extra DNS names for the TLS certificate (127.0.0.1, ::1 and localhost are always included)")
	tenantID := fs.String("tenant-id", graphsim.DefaultTenantID, "tenant id (GUID)")
	orgName := fs.String("org-name", "Contoso", "organization display name (also names the initial <org>.onmicrosoft.com domain)")
	domains := fs.String("domains", "contoso.com", "comma-separated verified domains; the first is the default domain")
	tenantSize := fs.String("tenant-size", "", "throttle size class S, M or L (default: derived from the user count: <50 S, 50-500 M, >500 L)")
	throttling := fs.Bool("throttling", false, "enable Graph's identity throttling buckets (RU per 10 s, writes per 150 s)")
	timeScale := fs.Float64("time-scale", 1, "compress throttle windows and Retry-After by this factor (10 = ten times faster)")
	ru := fs.Int("ru-per-10s", 0, "override the app+tenant resource-unit limit per 10 s (0 = from tenant size)")
	writes := fs.Int("writes-per-150s", 0, "override the app+tenant write limit per 150 s (0 = 3000)")
	genUsers := fs.Int("generate-users", 10000, "generate this many users at startup (0 = empty tenant)")
	managersEvery := fs.Int("managers-every", 8, "generated users get a manager tree with about one manager per N users (0 = none)")
	groupMembers := fs.Int("group-members", 5000, "members of the generated \"All Staff\" group (0 = no such group)")
	nested := fs.Bool("nested-groups", true, "generate department groups nested in \"All Departments\"")
	disabled := fs.Float64("disabled-share", 0.02, "share of generated users that are disabled")
	seed := fs.Int64("seed", 1, "seed for ids and generated data")
	lag := fs.Duration("replication-lag", 0, "objects created or changed within this window are missing or stale on reads (e.g. 2s)")
	failure := fs.Float64("failure-rate", 0, "share of Graph requests answered 503/504 generalException (0..1)")
	failureRA := fs.Duration("failure-retry-after", 0, "Retry-After sent with injected failures (0 = none)")
	drop := fs.Float64("drop-rate", 0, "share of Graph requests whose connection is dropped without an answer (0..1)")
	latency := fs.Duration("latency", 0, "fixed latency added to every Graph answer")
	jitter := fs.Duration("latency-jitter", 0, "extra uniform random latency in [0, jitter)")
	deltaTTL := fs.Duration("delta-token-ttl", 0, "delta tokens expire after this long with 410 syncStateNotFound (0 = never)")
	fixtures := fs.String("fixtures", "", "JSON or YAML fixture file ({users: [...], groups: [...]}) loaded after generation")
	certDir := fs.String("cert-dir", "", "directory to write ca.pem (the certificate to trust) into (default: a temp dir)")
	clientID := fs.String("client-id", "", "client id of the seeded app (default: generated)")
	clientSecret := fs.String("client-secret", "", "client secret of the seeded app (default: generated)")
	perms := fs.String("permissions", defaultPerms, "comma-separated application permissions granted to the seeded app (empty = none, like an app without admin consent)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: graphsim [flags]\n\nRuns a local Microsoft Graph v1.0 (identity subset) and Entra ID token endpoint over TLS.\n"+
			"Authority host and Graph share one URL; Graph lives under /v1.0, the control plane under /_sim.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])

	start := time.Now()
	s := graphsim.New(graphsim.Options{
		TenantID: *tenantID, OrgDisplayName: *orgName, Domains: splitList(*domains), TimeScale: *timeScale,
		Throttling: *throttling, TenantSize: strings.ToUpper(*tenantSize), RUPer10s: *ru, WritesPer150s: *writes,
		ReplicationLag: *lag, FailureRate: *failure, FailureRetryAfter: *failureRA, DropRate: *drop,
		Latency: *latency, LatencyJitter: *jitter, DeltaTokenTTL: *deltaTTL, Seed: *seed, Addr: *addr,
		Hostnames: splitList(*hostnames),
	})
	if *genUsers > 0 {
		s.Generate(graphsim.GenerateOptions{Users: *genUsers, ManagersEvery: *managersEvery, GroupMembers: *groupMembers,
			NestedGroups: *nested, DisabledShare: *disabled, Seed: *seed})
	}
	if *fixtures != "" {
		f, err := os.Open(*fixtures)
		if err != nil {
			fatal(err)
		}
		err = s.LoadFixtures(f)
		f.Close()
		if err != nil {
			fatal(err)
		}
	}
	if *clientID == "" {
		*clientID = randomGUID()
	}
	if *clientSecret == "" {
		*clientSecret = "gsim~" + randomHex(20)
	}
	s.AddApp(*clientID, *clientSecret, splitList(*perms)...)
	if err := s.Start(); err != nil {
		fatal(err)
	}
	dir := *certDir
	if dir == "" {
		d, err := os.MkdirTemp("", "graphsim-")
		if err != nil {
			fatal(err)
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, s.CACertPEM(), 0o644); err != nil {
		fatal(err)
	}
	fmt.Printf("GRAPHSIM_URL=%s\n", s.URL())
	fmt.Printf("GRAPHSIM_GRAPH_URL=%s/v1.0\n", s.URL())
	fmt.Printf("GRAPHSIM_CA_FILE=%s\n", caFile)
	fmt.Printf("GRAPHSIM_TENANT_ID=%s\n", s.TenantID())
	fmt.Printf("GRAPHSIM_CLIENT_ID=%s\n", *clientID)
	fmt.Printf("GRAPHSIM_CLIENT_SECRET=%s\n", *clientSecret)
	fmt.Printf("GRAPHSIM_USERS=%d\n", len(s.Users()))
	fmt.Printf("GRAPHSIM_STARTUP=%s\n", time.Since(start).Round(time.Millisecond))
	os.Stdout.Sync()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	s.Close()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomGUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "graphsim:", err)
	os.Exit(1)
}
