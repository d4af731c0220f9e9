package chart

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/directory-operator/directory-operator/internal/testenv"
)

const releaseNamespace = "directory-operator"

// valuesFiles are the cases every chart test covers: "" is the defaults.
var valuesFiles = []string{"", "testdata/namespaced.yaml", "testdata/monitoring.yaml"}

func chartDir() string { return filepath.Join(testenv.Root(), "charts", "directory-operator") }

func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	vals, err := chartutil.ReadValuesFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

// render runs `helm template` through the SDK and returns the objects in a
// stable order.
func render(t *testing.T, valuesFile string) []*unstructured.Unstructured {
	t.Helper()
	files, err := renderFiles(t, readValues(t, valuesFile))
	if err != nil {
		t.Fatalf("%s: %v", valuesFile, err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []*unstructured.Unstructured
	for _, n := range names {
		if strings.HasSuffix(n, "NOTES.txt") {
			continue
		}
		for _, doc := range strings.Split(files[n], "\n---") {
			if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) == "" {
				continue
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatalf("%s (%s): %v\n%s", n, valuesFile, err, doc)
			}
			if len(u.Object) == 0 {
				continue
			}
			objs = append(objs, u)
		}
	}
	return objs
}

// renderFiles renders the chart with vals, by template file name.
func renderFiles(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir())
	if err != nil {
		t.Fatal(err)
	}
	rv, err := chartutil.ToRenderValues(ch, vals,
		chartutil.ReleaseOptions{Name: "directory-operator", Namespace: releaseNamespace, IsInstall: true, Revision: 1},
		chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	return engine.Render(ch, rv)
}

func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// readYAML decodes a repository file into a generic map.
func readYAML(t *testing.T, rel string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.Root(), rel))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return m
}

// TestLint is `helm lint --strict` for every values file.
func TestLint(t *testing.T) {
	for _, vf := range valuesFiles {
		linter := lint.All(chartDir(), readValues(t, vf), releaseNamespace, false)
		for _, msg := range linter.Messages {
			if msg.Severity >= support.WarningSev {
				t.Errorf("lint (%q): %s", vf, msg)
			}
		}
	}
}
