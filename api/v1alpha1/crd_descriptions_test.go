package v1alpha1_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// TestCRDFieldsHaveDescriptions keeps `kubectl explain` useful: every field
// of every generated CRD schema needs a description, which controller-gen
// takes from the Go doc comment on the field in *_types.go.
func TestCRDFieldsHaveDescriptions(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs found under config/crd/bases: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				t.Errorf("%s %s: no schema", crd.Spec.Names.Kind, v.Name)
				continue
			}
			var missing []string
			walkSchema(crd.Spec.Names.Kind, v.Schema.OpenAPIV3Schema, &missing)
			sort.Strings(missing)
			for _, m := range missing {
				t.Errorf("%s %s: field %s has no description (add a doc comment to the Go field)", filepath.Base(f), v.Name, m)
			}
		}
	}
}

// walkSchema records the path of every property without a description.
// apiVersion, kind and metadata are described by Kubernetes itself.
func walkSchema(path string, s *apiextensionsv1.JSONSchemaProps, missing *[]string) {
	for name, p := range s.Properties {
		child := path + "." + name
		if path == rootPath(path) && (name == "apiVersion" || name == "kind" || name == "metadata") {
			continue
		}
		if p.Description == "" {
			*missing = append(*missing, child)
		}
		walkSchema(child, &p, missing)
	}
	if s.Items != nil && s.Items.Schema != nil {
		walkSchema(path+"[]", s.Items.Schema, missing)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		walkSchema(path+"{}", s.AdditionalProperties.Schema, missing)
	}
}

// rootPath is the kind name that starts every path: the top-level object.
func rootPath(path string) string {
	for i, c := range path {
		if c == '.' {
			return path[:i]
		}
	}
	return path
}
