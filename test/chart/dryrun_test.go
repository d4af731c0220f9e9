package chart

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/directory-operator/directory-operator/internal/testenv"
)

// notServed are kinds whose CRDs (the Prometheus Operator's) the test API
// server does not have; TestAlertsAndDashboardUseExposedMetrics and
// TestDeployment check those objects instead.
var notServed = map[string]bool{"ServiceMonitor": true, "PrometheusRule": true}

// TestServerSideDryRun applies the rendered chart, for every values file,
// to a real kube-apiserver with server-side apply and dry run: schemas,
// RBAC rule shapes and CRDs are validated as on a cluster.
func TestServerSideDryRun(t *testing.T) {
	for _, ns := range []string{releaseNamespace, "team-a", "team-b"} {
		createNamespace(t, ns)
	}
	for _, vf := range valuesFiles {
		for _, obj := range render(t, vf) {
			if notServed[obj.GetKind()] {
				continue
			}
			dryRunApply(t, vf, obj)
		}
	}
}

// TestSampleDryRun applies config/samples/directory-emulator.yaml the same way.
func TestSampleDryRun(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "samples", "directory-emulator.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
		t.Fatal(err)
	}
	obj.SetNamespace("default")
	dryRunApply(t, "directory-emulator.yaml", obj)
}

func dryRunApply(t *testing.T, source string, obj *unstructured.Unstructured) {
	t.Helper()
	e := apiServer(t)
	//nolint:staticcheck // unstructured objects are applied as a patch.
	err := e.Client.Patch(context.Background(), obj, client.Apply,
		client.DryRunAll, client.FieldOwner("chart-test"), client.ForceOwnership)
	if err != nil {
		t.Errorf("%s: dry-run apply of %s %s/%s: %v", source, obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	e := apiServer(t)
	err := e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
