package directory

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// DependentKind is a kind whose resources reference a Directory through
// spec.directoryRef and need it to run their deletion policy.
type DependentKind struct {
	Kind string
	// Object and List are empty prototypes (copied, never modified).
	Object client.Object
	List   client.ObjectList
}

// DependentKinds are the kinds that hold a Directory's deletion. Adding a
// kind is one line here (its spec must have a DirectoryRef field of type
// v1alpha1.DirectoryReference; TestDependentKindsHaveDirectoryRef checks).
// UserDisableBatch's audit ConfigMaps are owned by the Directory, not
// listed here: they are deleted with it and never hold it.
var DependentKinds = []DependentKind{
	{"DirectoryUser", &v1alpha1.DirectoryUser{}, &v1alpha1.DirectoryUserList{}},
	{"UserDisableBatch", &v1alpha1.UserDisableBatch{}, &v1alpha1.UserDisableBatchList{}},
	{"UserEnableBatch", &v1alpha1.UserEnableBatch{}, &v1alpha1.UserEnableBatchList{}},
	{"GroupSync", &v1alpha1.GroupSync{}, &v1alpha1.GroupSyncList{}},
}

// Dependents counts a Directory's dependents by kind.
type Dependents map[string]int

// Total is the number of dependents of every kind.
func (d Dependents) Total() int {
	n := 0
	for _, c := range d {
		n += c
	}
	return n
}

// String is "20 DirectoryUser, 1 GroupSync", kinds in name order.
func (d Dependents) String() string {
	kinds := make([]string, 0, len(d))
	for k, c := range d {
		if c > 0 {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", d[k], k)
	}
	return strings.Join(parts, ", ")
}

// ListDependents counts the resources of every dependent kind that
// reference the Directory dir (in its namespace), read from the cache.
func ListDependents(ctx context.Context, c client.Reader, dir *v1alpha1.Directory) (Dependents, error) {
	return listDependents(ctx, c, []client.ListOption{client.InNamespace(dir.Namespace)}, func(ref v1alpha1.DirectoryReference) bool {
		return !ref.IsCluster() && ref.Name == dir.Name
	})
}

// ListClusterDependents counts the resources, in every namespace, that
// reference the ClusterDirectory name.
func ListClusterDependents(ctx context.Context, c client.Reader, name string) (Dependents, error) {
	return listDependents(ctx, c, nil, func(ref v1alpha1.DirectoryReference) bool {
		return ref.IsCluster() && ref.Name == name
	})
}

func listDependents(ctx context.Context, c client.Reader, opts []client.ListOption, match func(v1alpha1.DirectoryReference) bool) (Dependents, error) {
	deps := Dependents{}
	for _, k := range DependentKinds {
		list := k.List.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, list, opts...); err != nil {
			return nil, fmt.Errorf("listing %s: %w", k.Kind, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		for _, o := range items {
			if ref, ok := DirectoryRefOf(o); ok && match(ref) {
				deps[k.Kind]++
			}
		}
	}
	return deps, nil
}

// DirectoryRefOf returns spec.directoryRef of a dependent resource. Every
// dependent kind has one; reading it by reflection keeps DependentKinds a
// one-line-per-kind table.
func DirectoryRefOf(o runtime.Object) (v1alpha1.DirectoryReference, bool) {
	v := reflect.ValueOf(o)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return v1alpha1.DirectoryReference{}, false
	}
	spec := v.FieldByName("Spec")
	if !spec.IsValid() || spec.Kind() != reflect.Struct {
		return v1alpha1.DirectoryReference{}, false
	}
	ref := spec.FieldByName("DirectoryRef")
	if !ref.IsValid() {
		return v1alpha1.DirectoryReference{}, false
	}
	r, ok := ref.Interface().(v1alpha1.DirectoryReference)
	return r, ok
}
