package chart

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestCRDsEqualConfig: the chart installs exactly config/crd/bases (plus
// its labels and the keep policy).
func TestCRDsEqualConfig(t *testing.T) {
	crds := find(render(t, ""), "CustomResourceDefinition")
	files, _ := filepath.Glob(filepath.Join(chartDir(), "..", "..", "config", "crd", "bases", "*.yaml"))
	if len(crds) != len(files) || len(files) == 0 {
		t.Fatalf("chart renders %d CRDs, config/crd/bases has %d", len(crds), len(files))
	}
	for _, f := range files {
		want := readYAML(t, filepath.Join("config", "crd", "bases", filepath.Base(f)))
		name := want["metadata"].(map[string]any)["name"]
		var got *unstructured.Unstructured
		for _, c := range crds {
			if c.GetName() == name {
				got = c.DeepCopy()
			}
		}
		if got == nil {
			t.Errorf("chart has no CRD %s", name)
			continue
		}
		if got.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s: no helm.sh/resource-policy: keep by default", name)
		}
		anns := got.GetAnnotations()
		delete(anns, "helm.sh/resource-policy")
		got.SetAnnotations(anns)
		got.SetLabels(nil)
		if !reflect.DeepEqual(got.Object, want) {
			t.Errorf("CRD %s differs from %s: run make manifests", name, f)
		}
	}
}

// TestRBACEqualsConfig: the chart grants what config/rbac grants, as a
// ClusterRole by default and as Roles in each watched namespace.
func TestRBACEqualsConfig(t *testing.T) {
	manager := readYAML(t, "config/rbac/role.yaml")["rules"]
	leader := readYAML(t, "config/rbac/leader_election_role.yaml")["rules"]
	objs := render(t, "")
	if crs := find(objs, "ClusterRole"); len(crs) != 1 || !reflect.DeepEqual(crs[0].Object["rules"], manager) {
		t.Errorf("ClusterRole rules differ from config/rbac/role.yaml")
	}
	roles := find(objs, "Role")
	if len(roles) != 1 || !reflect.DeepEqual(roles[0].Object["rules"], leader) {
		t.Errorf("leader-election Role rules differ from config/rbac/leader_election_role.yaml")
	}

	objs = render(t, "testdata/namespaced.yaml")
	if n := len(find(objs, "ClusterRole")) + len(find(objs, "ClusterRoleBinding")); n != 0 {
		t.Errorf("watchNamespaces set, yet %d cluster-scoped RBAC objects", n)
	}
	var namespaces []string
	for _, r := range find(objs, "Role") {
		if r.GetNamespace() == releaseNamespace {
			continue
		}
		namespaces = append(namespaces, r.GetNamespace())
		if !reflect.DeepEqual(r.Object["rules"], manager) {
			t.Errorf("Role in %s: rules differ from config/rbac/role.yaml", r.GetNamespace())
		}
	}
	if !slices.Equal(namespaces, []string{"team-a", "team-b"}) {
		t.Errorf("manager Roles in %v, want team-a, team-b", namespaces)
	}
}

// TestImageEqualsKustomize: kustomize and Helm deploy the same image by
// default (the Makefile's IMG default reads the same kustomization).
func TestImageEqualsKustomize(t *testing.T) {
	k := readYAML(t, "config/manager/kustomization.yaml")["images"].([]any)[0].(map[string]any)
	want := fmt.Sprintf("%s:%s", k["newName"], k["newTag"])
	if got := container(t, render(t, ""))["image"]; got != want {
		t.Errorf("chart image %v, config/manager/kustomization.yaml %s", got, want)
	}
	if got := container(t, render(t, "testdata/monitoring.yaml"))["image"]; !strings.Contains(got.(string), "@sha256:") {
		t.Errorf("image.digest not used: %v", got)
	}
}

// TestDeployment: the Deployment matches config/manager's hardening and
// turns values into flags.
func TestDeployment(t *testing.T) {
	cfg := readYAML(t, "config/manager/manager.yaml")
	cfgPod := cfg["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	cfgContainer := cfgPod["containers"].([]any)[0].(map[string]any)

	objs := render(t, "")
	c := container(t, objs)
	for _, field := range []string{"securityContext", "resources"} {
		if !reflect.DeepEqual(c[field], cfgContainer[field]) {
			t.Errorf("container %s %v differs from config/manager %v", field, c[field], cfgContainer[field])
		}
	}
	pod := find(objs, "Deployment")[0].Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	if !reflect.DeepEqual(pod["securityContext"], cfgPod["securityContext"]) {
		t.Errorf("pod securityContext differs from config/manager")
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if c[probe] == nil {
			t.Errorf("no %s", probe)
		}
	}
	assertArgs(t, c, "--leader-elect", "--concurrency=4", "--user-concurrency=32", "--zap-log-level=info")
	for _, a := range c["args"].([]any) {
		if strings.HasPrefix(a.(string), "--kube-api-") {
			t.Errorf("default values pass %s; want no client-side limit", a)
		}
	}

	c = container(t, render(t, "testdata/namespaced.yaml"))
	assertArgs(t, c, "--leader-elect", "--leader-election-id=directory-operator-shard-1", "--watch-namespaces=team-a,team-b",
		"--label-selector=shard=1", "--concurrency=8", "--user-concurrency=16", "--kube-api-qps=100", "--kube-api-burst=200",
		"--zap-log-level=debug", "--graph-time-scale=1", "--budget-shards=auto", "--budget-lease-duration=15s")

	objs = render(t, "testdata/monitoring.yaml")
	sa := find(objs, "ServiceAccount")[0]
	if sa.GetName() != "entra-operator" || sa.GetAnnotations()["azure.workload.identity/client-id"] != "11111111-2222-4333-8444-555555555555" {
		t.Errorf("ServiceAccount %s annotations %v", sa.GetName(), sa.GetAnnotations())
	}
	labels, _, _ := unstructured.NestedStringMap(find(objs, "Deployment")[0].Object, "spec", "template", "metadata", "labels")
	if labels["azure.workload.identity/use"] != "true" {
		t.Errorf("pod labels %v lack azure.workload.identity/use", labels)
	}
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "ConfigMap", "Service"} {
		if len(find(objs, kind)) != 1 {
			t.Errorf("monitoring values: want one %s", kind)
		}
	}
}

func container(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	deps := find(objs, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("%d Deployments", len(deps))
	}
	cs, _, _ := unstructured.NestedSlice(deps[0].Object, "spec", "template", "spec", "containers")
	return cs[0].(map[string]any)
}

func assertArgs(t *testing.T, c map[string]any, want ...string) {
	t.Helper()
	var args []string
	for _, a := range c["args"].([]any) {
		args = append(args, a.(string))
	}
	for _, w := range want {
		if !slices.Contains(args, w) {
			t.Errorf("args %v lack %s", args, w)
		}
	}
}

// TestReplicasNeedLeaderElection: two managers without a lease would both
// write to Graph, so the chart refuses that combination.
func TestReplicasNeedLeaderElection(t *testing.T) {
	_, err := renderFiles(t, map[string]any{"replicas": 2, "leaderElection": map[string]any{"enabled": false}})
	if err == nil || !strings.Contains(err.Error(), "leaderElection") {
		t.Errorf("replicas 2 without leader election rendered (err %v)", err)
	}
	if _, err := renderFiles(t, map[string]any{"replicas": 1, "leaderElection": map[string]any{"enabled": false}}); err != nil {
		t.Errorf("one replica without leader election: %v", err)
	}
}

// TestShardsGetTheLeaseRole: a shard (labelSelector) splits the Graph quota
// through Leases, so the Lease Role must exist even without leader election.
func TestShardsGetTheLeaseRole(t *testing.T) {
	for _, tc := range []struct {
		vals map[string]any
		want bool
	}{
		{map[string]any{"replicas": 1, "leaderElection": map[string]any{"enabled": false}}, false},
		{map[string]any{"replicas": 1, "leaderElection": map[string]any{"enabled": false}, "labelSelector": "shard=a"}, true},
		{map[string]any{"replicas": 1, "leaderElection": map[string]any{"enabled": false}, "labelSelector": "shard=a",
			"budgetShards": map[string]any{"enabled": "false"}}, false},
		{map[string]any{"replicas": 1, "leaderElection": map[string]any{"enabled": false}, "budgetShards": map[string]any{"enabled": "true"}}, true},
	} {
		files, err := renderFiles(t, tc.vals)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Contains(files["directory-operator/templates/rbac.yaml"], "-leader-election")
		if got != tc.want {
			t.Errorf("values %v: Lease Role rendered %v, want %v", tc.vals, got, tc.want)
		}
	}
}
