package export

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/directory-operator/directory-operator/internal/testenv"
)

var (
	kube   client.Client
	scheme = runtime.NewScheme()
	cfg    *rest.Config
)

// TestMain runs against a real apiserver: its ConfigMap size validation is
// what the encodings and shards exist for.
func TestMain(m *testing.M) {
	_ = clientgoscheme.AddToScheme(scheme)
	env := &envtest.Environment{BinaryAssetsDirectory: filepath.Join(testenv.Root(), "bin", "k8s")}
	var err error
	cfg, err = env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest (run `make envtest`):", err)
		os.Exit(1)
	}
	kube, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// owner creates a namespace and an object to own the export.
func owner(t *testing.T) client.Object {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "export-"}}
	if err := kube.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	o := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "owner"}}
	if err := kube.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	return o
}

// csvOfSize renders a CSV of about n bytes. Random cells make it compress
// poorly, so a large one needs several shards even gzip-compressed.
func csvOfSize(n int, random bool) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var rows [][]string
	size := 0
	for i := 0; size < n; i++ {
		cell := fmt.Sprintf("user%06d@contoso.com", i)
		if random {
			b := make([]byte, 48)
			for j := range b {
				b[j] = byte('!' + rng.IntN(94))
			}
			cell = string(b)
		}
		row := []string{fmt.Sprint(i), cell, "Name, \"quoted\"", "line\nbreak"}
		rows = append(rows, row)
		size += len(cell) + 40
	}
	return CSV([]string{"id", "value", "name", "note"}, rows)
}

func TestRoundTrips(t *testing.T) {
	old := MaxPayload
	MaxPayload = 64 << 10 // shards after 64 KiB keep the test data small
	t.Cleanup(func() { MaxPayload = old })

	cases := []struct {
		name     string
		file     []byte
		encoding string
		shards   int
	}{
		{"plain", csvOfSize(20<<10, false), EncodingPlain, 1},
		{"gzip", csvOfSize(300<<10, false), EncodingGzip, 1},
		{"sharded", csvOfSize(300<<10, true), EncodingGzip, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			o := owner(t)
			res, err := Write(ctx, kube, scheme, o, "members", "users.csv", tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if res.Encoding != tc.encoding || len(res.ConfigMaps) < tc.shards || (tc.shards == 1 && len(res.ConfigMaps) != 1) {
				t.Fatalf("got encoding %s with %d ConfigMaps, want %s with %d", res.Encoding, len(res.ConfigMaps), tc.encoding, tc.shards)
			}
			got, err := Read(ctx, kube, o.GetNamespace(), "members", "users.csv")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.file) {
				t.Fatalf("Read returned %d bytes, want the %d written", len(got), len(tc.file))
			}
			// The documented command, run as a user would, prints the file.
			printed := testenv.Shell(t, cfg, res.Command)
			if !bytes.Equal(printed, tc.file) {
				t.Fatalf("%s printed %d bytes, want %d", res.Command, len(printed), len(tc.file))
			}
			if _, err := csv.NewReader(bytes.NewReader(printed)).ReadAll(); err != nil {
				t.Fatalf("printed CSV does not parse: %v", err)
			}
			for _, name := range res.ConfigMaps {
				var cm corev1.ConfigMap
				if err := kube.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: name}, &cm); err != nil {
					t.Fatal(err)
				}
				if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != o.GetUID() {
					t.Fatalf("ConfigMap %s is not owned by the exporter: %v", name, cm.OwnerReferences)
				}
			}
		})
	}
}

// A smaller export replaces a sharded one: the extra shards go, and reading
// back gives the new file.
func TestShrinkDeletesStaleShards(t *testing.T) {
	old := MaxPayload
	MaxPayload = 64 << 10
	t.Cleanup(func() { MaxPayload = old })
	ctx := context.Background()
	o := owner(t)
	ns := o.GetNamespace()
	big, err := Write(ctx, kube, scheme, o, "members", "users.csv", csvOfSize(300<<10, true))
	if err != nil {
		t.Fatal(err)
	}
	if len(big.ConfigMaps) < 3 {
		t.Fatalf("want several shards, got %v", big.ConfigMaps)
	}
	small := csvOfSize(1<<10, false)
	res, err := Write(ctx, kube, scheme, o, "members", "users.csv", small)
	if err != nil {
		t.Fatal(err)
	}
	if res.Encoding != EncodingPlain || len(res.ConfigMaps) != 1 {
		t.Fatalf("got %+v", res)
	}
	var list corev1.ConfigMapList
	if err := kube.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{LabelExport: "members"}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || len(list.Items[0].BinaryData) != 0 {
		t.Fatalf("stale shards left: %d ConfigMaps", len(list.Items))
	}
	got, err := Read(ctx, kube, ns, "members", "users.csv")
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("Read after shrink: %d bytes, err %v", len(got), err)
	}
	if err := Delete(ctx, kube, ns, "members"); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(ctx, kube, ns, "members", "users.csv"); err != nil || got != nil {
		t.Fatalf("Read after Delete: %q, %v", got, err)
	}
}

func TestCommand(t *testing.T) {
	plain := Command("ns", []string{"m"}, EncodingPlain, "users.csv")
	if plain != `kubectl get configmap m -n ns -o jsonpath='{.data.users\.csv}'` {
		t.Errorf("plain: %s", plain)
	}
	sharded := Command("ns", []string{"m", "m-1"}, EncodingGzip, "users.csv")
	if !strings.HasPrefix(sharded, "{ ") || !strings.HasSuffix(sharded, "; } | gunzip") || strings.Count(sharded, "base64 -d") != 2 {
		t.Errorf("sharded: %s", sharded)
	}
}
