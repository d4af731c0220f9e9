package chart

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/graphsim"
	"github.com/directory-operator/directory-operator/internal/testenv"
)

// TestAlertsAndDashboardUseExposedMetrics parses every alert rule (as
// Prometheus loads a rule file) and every dashboard query, then checks
// that each metric they select is served by the manager once it has
// reconciled one object of each kind.
func TestAlertsAndDashboardUseExposedMetrics(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	exprs := alertExprs(t, p)
	if len(exprs) < 5 {
		t.Fatalf("only %d alert rules", len(exprs))
	}
	exprs = append(exprs, dashboardExprs(t)...)

	exposed := exposedMetrics(t)
	for _, e := range exprs {
		expr, err := p.ParseExpr(e)
		if err != nil {
			t.Errorf("%q: %v", e, err)
			continue
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && !exposed[familyName(vs.Name, exposed)] {
				t.Errorf("%q selects %s, which the manager does not expose", e, vs.Name)
			}
			return nil
		})
	}
}

// alertExprs loads files/alerts.yaml with Prometheus's own rule-file
// validation (PromQL, durations, label and annotation templates) and checks
// the chart's PrometheusRule carries the same groups.
func alertExprs(t *testing.T, p parser.Parser) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir(), "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(raw, false, model.UTF8Validation, p, slog.Default())
	for _, err := range errs {
		t.Errorf("files/alerts.yaml: %v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	var exprs []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a severity label and summary and description annotations", r.Alert)
			}
			exprs = append(exprs, r.Expr)
		}
	}

	var file map[string]any
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	rules := find(render(t, "testdata/monitoring.yaml"), "PrometheusRule")
	if len(rules) != 1 || !reflect.DeepEqual(rules[0].Object["spec"], file) {
		t.Errorf("the chart's PrometheusRule spec differs from files/alerts.yaml")
	}
	return exprs
}

func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir(), "files", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) == 0 {
		t.Fatal("dashboard has no queries")
	}
	return exprs
}

// familyName maps a histogram or summary series name to its family.
func familyName(series string, exposed map[string]bool) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suffix); ok && exposed[base] {
			return base
		}
	}
	return series
}

// exposedMetrics reconciles one object of each kind against the emulator
// and returns the metric families the manager's registry then serves.
func exposedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	ctx := context.Background()
	e := apiServer(t)
	ns := e.Namespace(t)
	gen := e.Sim.Generate(graphsim.GenerateOptions{Users: 20, GroupMembers: 10, Seed: 7})
	dir := e.CreateDirectory(t, ns, testenv.DirectoryOptions{})
	ref := v1alpha1.DirectoryReference{Name: dir.Name}
	for _, obj := range []client.Object{
		&v1alpha1.DirectoryUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "metrics"},
			Spec: v1alpha1.DirectoryUserSpec{DirectoryRef: ref, UserPrincipalName: "metrics.user@" + gen.Domain}},
		&v1alpha1.GroupSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "staff"},
			Spec: v1alpha1.GroupSyncSpec{DirectoryRef: ref, Group: v1alpha1.GroupSelector{ID: gen.AllStaffGroupID}}},
		&v1alpha1.UserDisableBatch{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "preview"},
			Spec: v1alpha1.UserDisableBatchSpec{DirectoryRef: ref, DryRun: true, Users: gen.UserIDs[:3]}},
	} {
		if err := e.Client.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T: %v", obj, err)
		}
	}
	for _, obj := range []client.Object{dir, &v1alpha1.DirectoryUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "metrics"}},
		&v1alpha1.GroupSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "staff"}},
		&v1alpha1.UserDisableBatch{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "preview"}}} {
		testenv.Eventually(t, 60*time.Second, "Ready "+obj.GetName(), func() bool { return isReady(e.Get(t, obj)) })
	}
	// The collector reads the manager's cache, which may lag the API server.
	var names map[string]bool
	testenv.Eventually(t, 10*time.Second, "status gauges", func() bool {
		names = gather(t)
		return names["directory_operator_groupsync_last_sync_timestamp_seconds"] && names["directory_operator_batch_phase"]
	})
	return names
}

func gather(t *testing.T) map[string]bool {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	var list []string
	for _, f := range families {
		names[f.GetName()] = true
		list = append(list, f.GetName())
	}
	sort.Strings(list)
	t.Logf("exposed: %s", strings.Join(list, " "))
	return names
}

func isReady(obj client.Object) bool {
	var conds []metav1.Condition
	switch o := obj.(type) {
	case *v1alpha1.Directory:
		conds = o.Status.Conditions
	case *v1alpha1.DirectoryUser:
		conds = o.Status.Conditions
	case *v1alpha1.GroupSync:
		conds = o.Status.Conditions
	case *v1alpha1.UserDisableBatch:
		return o.Status.Phase == v1alpha1.BatchCompleted
	}
	return meta.IsStatusConditionTrue(conds, "Ready")
}
