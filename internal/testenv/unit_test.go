package testenv

import (
	"slices"
	"testing"
)

func TestSelectsOnlyUnit(t *testing.T) {
	names := []string{"TestUnitCreate", "TestUnitDiff", "TestCreateUser", "TestThousandUsers"}
	for _, tc := range []struct {
		pattern string
		want    bool
	}{
		{"Unit", true},
		{"^TestUnit", true},
		{"TestUnitCreate/sub", true},
		{"Create", false}, // TestCreateUser needs the environment
		{"Unit|Thousand", false},
		{"NoSuchTest", true}, // nothing to run, nothing to start
		{"[", false},         // does not compile: start, let go test report it
	} {
		if got := selectsOnlyUnit(tc.pattern, names); got != tc.want {
			t.Errorf("selectsOnlyUnit(%q) = %v, want %v", tc.pattern, got, tc.want)
		}
	}
}

func TestTestNamesReadsThisPackage(t *testing.T) {
	names, ok := testNames(".")
	if !ok || !slices.Contains(names, "TestSelectsOnlyUnit") || slices.Contains(names, "TestMain") {
		t.Fatalf("testNames = %v, %v", names, ok)
	}
}
