package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// Kinds the plan understands.
const (
	KindDirectory        = "Directory"
	KindDirectoryUser    = "DirectoryUser"
	KindUserDisableBatch = "UserDisableBatch"
	KindUserEnableBatch  = "UserEnableBatch"
	KindGroupSync        = "GroupSync"
)

// Objects is a set of the operator's objects: the manifests of a folder, or
// what the cluster holds.
type Objects struct {
	Directories   []v1alpha1.Directory
	Users         []v1alpha1.DirectoryUser
	Batches       []v1alpha1.UserDisableBatch
	GroupSyncs    []v1alpha1.GroupSync
	EnableBatches []unstructured.Unstructured
	// Ignored names manifests of other kinds (ConfigMaps, Secrets…),
	// which the plan leaves to `kubectl diff`.
	Ignored []string
}

// Namespaces lists the namespaces the objects live in, sorted.
func (o *Objects) Namespaces() []string {
	set := map[string]bool{}
	for _, d := range o.Directories {
		set[d.Namespace] = true
	}
	for _, u := range o.Users {
		set[u.Namespace] = true
	}
	for _, b := range o.Batches {
		set[b.Namespace] = true
	}
	for _, g := range o.GroupSyncs {
		set[g.Namespace] = true
	}
	for _, e := range o.EnableBatches {
		set[e.GetNamespace()] = true
	}
	out := make([]string, 0, len(set))
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// ReadManifests reads the manifests in paths: files, or directories
// (their .yaml, .yml and .json files; subdirectories with recursive).
// "-" reads standard input. Objects without a namespace get namespace.
func ReadManifests(paths []string, recursive bool, namespace string, stdin io.Reader) (*Objects, error) {
	out := &Objects{}
	for _, p := range paths {
		if p == "-" {
			if err := out.decode("<stdin>", stdin, namespace); err != nil {
				return nil, err
			}
			continue
		}
		files, err := manifestFiles(p, recursive)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			if err := out.decode(f, bytes.NewReader(b), namespace); err != nil {
				return nil, err
			}
		}
	}
	return out, out.checkDuplicates()
}

func manifestFiles(root string, recursive bool) ([]string, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{root}, nil
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && !recursive {
				return fs.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// decode reads every document of one file (multi-document YAML, JSON, and
// List kinds).
func (o *Objects) decode(name string, r io.Reader, namespace string) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	for doc := 1; ; doc++ {
		var u unstructured.Unstructured
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return fmt.Errorf("%s: document %d: %w", name, doc, err)
			}
			for i := range list.Items {
				if err := o.add(name, &list.Items[i], namespace); err != nil {
					return err
				}
			}
			continue
		}
		if err := o.add(name, &u, namespace); err != nil {
			return err
		}
	}
}

func (o *Objects) add(file string, u *unstructured.Unstructured, namespace string) error {
	gvk := u.GroupVersionKind()
	if gvk.Group != v1alpha1.GroupVersion.Group {
		o.Ignored = append(o.Ignored, fmt.Sprintf("%s %s (%s)", u.GetKind(), u.GetName(), file))
		return nil
	}
	if gvk.Version != v1alpha1.GroupVersion.Version {
		return fmt.Errorf("%s: %s %s: apiVersion %s is not served; use %s", file, u.GetKind(), u.GetName(), u.GetAPIVersion(), v1alpha1.GroupVersion)
	}
	if u.GetName() == "" {
		return fmt.Errorf("%s: a %s without metadata.name", file, u.GetKind())
	}
	if u.GetNamespace() == "" {
		u.SetNamespace(namespace)
	}
	var target any
	switch gvk.Kind {
	case KindDirectory:
		o.Directories = append(o.Directories, v1alpha1.Directory{})
		target = &o.Directories[len(o.Directories)-1]
	case KindDirectoryUser:
		o.Users = append(o.Users, v1alpha1.DirectoryUser{})
		target = &o.Users[len(o.Users)-1]
	case KindUserDisableBatch:
		o.Batches = append(o.Batches, v1alpha1.UserDisableBatch{})
		target = &o.Batches[len(o.Batches)-1]
	case KindGroupSync:
		o.GroupSyncs = append(o.GroupSyncs, v1alpha1.GroupSync{})
		target = &o.GroupSyncs[len(o.GroupSyncs)-1]
	case KindUserEnableBatch:
		o.EnableBatches = append(o.EnableBatches, *u)
		return nil
	default:
		o.Ignored = append(o.Ignored, fmt.Sprintf("%s %s (%s)", u.GetKind(), u.GetName(), file))
		return nil
	}
	// Strict: a misspelt field would otherwise vanish from the plan and
	// be rejected only at apply time.
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, target, true); err != nil {
		return fmt.Errorf("%s: %s %s: %w", file, gvk.Kind, u.GetName(), err)
	}
	return nil
}

func (o *Objects) checkDuplicates() error {
	seen := map[string]bool{}
	check := func(kind, ns, name string) error {
		k := kind + " " + ns + "/" + name
		if seen[k] {
			return fmt.Errorf("%s appears twice in the manifests", k)
		}
		seen[k] = true
		return nil
	}
	var errs []error
	for _, d := range o.Directories {
		errs = append(errs, check(KindDirectory, d.Namespace, d.Name))
	}
	for _, u := range o.Users {
		errs = append(errs, check(KindDirectoryUser, u.Namespace, u.Name))
	}
	for _, b := range o.Batches {
		errs = append(errs, check(KindUserDisableBatch, b.Namespace, b.Name))
	}
	for _, g := range o.GroupSyncs {
		errs = append(errs, check(KindGroupSync, g.Namespace, g.Name))
	}
	for _, e := range o.EnableBatches {
		errs = append(errs, check(KindUserEnableBatch, e.GetNamespace(), e.GetName()))
	}
	return errors.Join(errs...)
}
