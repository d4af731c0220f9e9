package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/plan"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// update regenerates the golden files: go test ./internal/cli -run TestPlan -update
var update = flag.Bool("update", false, "rewrite the golden files")

var env *testenv.Env

// The plugin's tests run the commands as a user does (Main with a
// kubeconfig) against a real kube-apiserver + etcd and the Graph emulator.
// No controller runs: the cluster state is written as the operator would
// have recorded it, so every ID and name in the golden files is fixed.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testenv.Run(m, testenv.Options{}, &env))
}

// run runs kubectl-entra with args and returns its output and exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testenv.WriteKubeconfig(env.Config, kc); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := Main(append([]string{"--kubeconfig", kc}, args...), Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return out.String(), errOut.String(), code
}

// namespace creates a namespace with a fixed name (it appears in golden
// files) and the emulator's Directory "tenant" in it.
func namespace(t *testing.T, name string, safety v1alpha1.SafetySpec) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	dir := env.CreateDirectory(t, name, testenv.DirectoryOptions{Safety: safety})
	// Ready, as the Directory controller (not running here) would say.
	dir.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: v1alpha1.ReasonSucceeded, Message: "connected", LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(context.Background(), dir); err != nil {
		t.Fatalf("marking the Directory Ready: %v", err)
	}
}

// applyCluster creates the objects of a manifest folder with the status
// their manifests carry, as the operator would have recorded it.
func applyCluster(t *testing.T, ns, dir string) {
	t.Helper()
	ctx := context.Background()
	objs, err := plan.ReadManifests([]string{dir}, true, ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	var list []client.Object
	for i := range objs.Users {
		list = append(list, &objs.Users[i])
	}
	for i := range objs.Batches {
		list = append(list, &objs.Batches[i])
	}
	for _, o := range list {
		status := o.DeepCopyObject().(client.Object)
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("creating %s: %v", o.GetName(), err)
		}
		copyStatus(status, o)
		if err := env.Client.Status().Update(ctx, o); err != nil {
			t.Fatalf("writing status of %s: %v", o.GetName(), err)
		}
	}
}

func copyStatus(from, to client.Object) {
	switch f := from.(type) {
	case *v1alpha1.DirectoryUser:
		to.(*v1alpha1.DirectoryUser).Status = f.Status
	case *v1alpha1.UserDisableBatch:
		to.(*v1alpha1.UserDisableBatch).Status = f.Status
	}
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func clientKey(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
