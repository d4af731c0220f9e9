package plan

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// index finds objects of one Objects by namespace/name.
type index struct {
	dirs    map[string]*v1alpha1.Directory
	users   map[string]*v1alpha1.DirectoryUser
	batches map[string]*v1alpha1.UserDisableBatch
	syncs   map[string]*v1alpha1.GroupSync
	enables map[string]*unstructured.Unstructured
	// scope holds "Kind namespace" for every kind and namespace the
	// objects cover: the prune scope of the manifests.
	scope map[string]bool
}

func newIndex(o *Objects) index {
	ix := index{dirs: map[string]*v1alpha1.Directory{}, users: map[string]*v1alpha1.DirectoryUser{},
		batches: map[string]*v1alpha1.UserDisableBatch{}, syncs: map[string]*v1alpha1.GroupSync{},
		enables: map[string]*unstructured.Unstructured{}, scope: map[string]bool{}}
	if o == nil {
		return ix
	}
	for i := range o.Directories {
		ix.dirs[o.Directories[i].Namespace+"/"+o.Directories[i].Name] = &o.Directories[i]
	}
	for i := range o.Users {
		ix.users[o.Users[i].Namespace+"/"+o.Users[i].Name] = &o.Users[i]
	}
	for i := range o.Batches {
		ix.batches[o.Batches[i].Namespace+"/"+o.Batches[i].Name] = &o.Batches[i]
	}
	for i := range o.GroupSyncs {
		ix.syncs[o.GroupSyncs[i].Namespace+"/"+o.GroupSyncs[i].Name] = &o.GroupSyncs[i]
	}
	for i := range o.EnableBatches {
		ix.enables[o.EnableBatches[i].GetNamespace()+"/"+o.EnableBatches[i].GetName()] = &o.EnableBatches[i]
	}
	for k := range o.Keys() {
		kind, rest, _ := strings.Cut(k, " ")
		ns, _, _ := strings.Cut(rest, "/")
		ix.scope[kind+" "+ns] = true
	}
	return ix
}

func (ix index) has(kind, ns, name string) bool {
	k := ns + "/" + name
	switch kind {
	case KindDirectory:
		return ix.dirs[k] != nil
	case KindDirectoryUser:
		return ix.users[k] != nil
	case KindUserDisableBatch:
		return ix.batches[k] != nil
	case KindGroupSync:
		return ix.syncs[k] != nil
	case KindUserEnableBatch:
		return ix.enables[k] != nil
	}
	return false
}

// Key identifies an object of a kind: "Kind namespace/name".
func Key(kind, ns, name string) string { return kind + " " + ns + "/" + name }

// Keys returns the Key of every object.
func (o *Objects) Keys() map[string]bool {
	out := map[string]bool{}
	for _, d := range o.Directories {
		out[Key(KindDirectory, d.Namespace, d.Name)] = true
	}
	for _, u := range o.Users {
		out[Key(KindDirectoryUser, u.Namespace, u.Name)] = true
	}
	for _, b := range o.Batches {
		out[Key(KindUserDisableBatch, b.Namespace, b.Name)] = true
	}
	for _, g := range o.GroupSyncs {
		out[Key(KindGroupSync, g.Namespace, g.Name)] = true
	}
	for _, e := range o.EnableBatches {
		out[Key(KindUserEnableBatch, e.GetNamespace(), e.GetName())] = true
	}
	return out
}
