package export

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
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
			res, err := Write(ctx, kube, kube, scheme, o, "members", "users.csv", tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if res.Encoding != tc.encoding || len(res.ConfigMaps) < tc.shards || (tc.shards == 1 && len(res.ConfigMaps) != 1) {
				t.Fatalf("got encoding %s with %d ConfigMaps, want %s with %d", res.Encoding, len(res.ConfigMaps), tc.encoding, tc.shards)
			}
			got, err := Read(ctx, kube, o, "members", "users.csv")
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
	big, err := Write(ctx, kube, kube, scheme, o, "members", "users.csv", csvOfSize(300<<10, true))
	if err != nil {
		t.Fatal(err)
	}
	if len(big.ConfigMaps) < 3 {
		t.Fatalf("want several shards, got %v", big.ConfigMaps)
	}
	small := csvOfSize(1<<10, false)
	res, err := Write(ctx, kube, kube, scheme, o, "members", "users.csv", small)
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
	got, err := Read(ctx, kube, o, "members", "users.csv")
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("Read after shrink: %d bytes, err %v", len(got), err)
	}
	if err := Delete(ctx, kube, o, "members"); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(ctx, kube, o, "members", "users.csv"); err != nil || got != nil {
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

// An export never takes over a ConfigMap it did not create for its owner:
// not a user's (same name), not one labelled like an export, not another
// owner's export. Each is refused with ExportConflict and left as it was;
// Delete leaves them alone too.
func TestRefusesForeignConfigMap(t *testing.T) {
	ctx := context.Background()
	o := owner(t)
	ns := o.GetNamespace()
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other-owner"}}
	if err := kube.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	ref := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: other.Name, UID: other.UID, Controller: ptr(true)}
	cases := map[string]*corev1.ConfigMap{
		"user's":          {ObjectMeta: metav1.ObjectMeta{Name: "app-config"}},
		"export-labelled": {ObjectMeta: metav1.ObjectMeta{Name: "labelled", Labels: map[string]string{LabelExport: "labelled", LabelShard: "0"}}},
		"another owner's": {ObjectMeta: metav1.ObjectMeta{Name: "theirs", Labels: map[string]string{LabelExport: "theirs", LabelShard: "0"}, OwnerReferences: []metav1.OwnerReference{ref}}},
	}
	for what, cm := range cases {
		t.Run(what, func(t *testing.T) {
			cm.Namespace = ns
			cm.Data = map[string]string{"app.yaml": "keep: me"}
			if err := kube.Create(ctx, cm); err != nil {
				t.Fatal(err)
			}
			before := cm.DeepCopy()
			_, err := Write(ctx, kube, kube, scheme, o, cm.Name, "users.csv", []byte("id\r\n1\r\n"))
			var stalled *ctrlkit.StalledError
			if !errors.As(err, &stalled) || stalled.Reason != v1alpha1.ReasonExportConflict {
				t.Fatalf("Write over %s ConfigMap: got %v, want Stalled %s", what, err, v1alpha1.ReasonExportConflict)
			}
			if !strings.Contains(stalled.Message, cm.Name) {
				t.Errorf("message does not name the ConfigMap: %s", stalled.Message)
			}
			if got, err := Read(ctx, kube, o, cm.Name, "app.yaml"); err != nil || got != nil {
				t.Errorf("Read returned a foreign ConfigMap as the export: %q, %v", got, err)
			}
			if err := Delete(ctx, kube, o, cm.Name); err != nil {
				t.Fatal(err)
			}
			after := &corev1.ConfigMap{}
			if err := kube.Get(ctx, client.ObjectKeyFromObject(cm), after); err != nil {
				t.Fatalf("foreign ConfigMap gone: %v", err)
			}
			if !reflect.DeepEqual(after.Data, before.Data) || !reflect.DeepEqual(after.OwnerReferences, before.OwnerReferences) ||
				!reflect.DeepEqual(after.Labels, before.Labels) || after.ResourceVersion != before.ResourceVersion {
				t.Fatalf("foreign ConfigMap changed: data %v owners %v labels %v", after.Data, after.OwnerReferences, after.Labels)
			}
		})
	}
}

// A ConfigMap the cache cannot see (it only holds labelled exports) but
// that Write created for this owner is found with the live reader and
// updated, not reported as a conflict.
func TestUpdatesOwnExportMissingFromCache(t *testing.T) {
	ctx := context.Background()
	o := owner(t)
	if _, err := Write(ctx, kube, kube, scheme, o, "members", "users.csv", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	blind := &missingReader{Client: kube}
	if _, err := Write(ctx, blind, kube, scheme, o, "members", "users.csv", []byte("v2")); err != nil {
		t.Fatalf("rewrite with a lagging cache: %v", err)
	}
	if got, err := Read(ctx, kube, o, "members", "users.csv"); err != nil || string(got) != "v2" {
		t.Fatalf("Read: %q, %v", got, err)
	}
}

// missingReader is a client whose reads see nothing, like a cache that has
// not caught up.
type missingReader struct{ client.Client }

func (m *missingReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(corev1.Resource("configmaps"), key.Name)
}

func ptr[T any](v T) *T { return &v }
