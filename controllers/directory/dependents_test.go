package directory

import (
	"testing"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// Every dependent kind must expose spec.directoryRef, or its resources
// would never hold a Directory's deletion.
func TestDependentKindsHaveDirectoryRef(t *testing.T) {
	for _, k := range DependentKinds {
		if _, ok := DirectoryRefOf(k.Object); !ok {
			t.Errorf("%s has no spec.directoryRef of type DirectoryReference", k.Kind)
		}
	}
	if _, ok := DirectoryRefOf(&v1alpha1.Directory{}); ok {
		t.Errorf("a Directory is no dependent")
	}
}

func TestDependentsString(t *testing.T) {
	d := Dependents{"GroupSync": 1, "DirectoryUser": 20, "UserDisableBatch": 0}
	if got, want := d.String(), "20 DirectoryUser, 1 GroupSync"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if d.Total() != 21 {
		t.Errorf("Total() = %d", d.Total())
	}
}
