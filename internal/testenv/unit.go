package testenv

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
)

// UnitPrefix names the unit tests: tests of a controller's steps against
// fake ports and a fake Kubernetes client, which need no test environment.
const UnitPrefix = "TestUnit"

// UnitOnly reports whether the -run pattern selects only unit tests
// (UnitPrefix) of the package under test, so that its TestMain can skip
// starting the test environment. The test names are read from the
// package's *_test.go files (a test binary runs in its package's
// directory); anything unclear (no pattern, a pattern that does not
// compile, unreadable files) says false, and the environment starts.
func UnitOnly() bool {
	f := flag.Lookup("test.run")
	if f == nil || f.Value.String() == "" {
		return false
	}
	names, ok := testNames(".")
	return ok && selectsOnlyUnit(f.Value.String(), names)
}

// selectsOnlyUnit reports whether the -run pattern selects no test of
// names but unit tests.
func selectsOnlyUnit(pattern string, names []string) bool {
	// Only the top-level part selects tests; "A/B" runs subtests B of A.
	top, _, _ := strings.Cut(pattern, "/")
	re, err := regexp.Compile(top)
	if err != nil {
		return false
	}
	for _, n := range names {
		if re.MatchString(n) && !strings.HasPrefix(n, UnitPrefix) {
			return false
		}
	}
	return true
}

// testNames lists the Test functions declared in dir's *_test.go files.
func testNames(dir string) ([]string, bool) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		return nil, false
	}
	var names []string
	fset := token.NewFileSet()
	for _, file := range files {
		af, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, false
		}
		for _, d := range af.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") && fn.Name.Name != "TestMain" {
				names = append(names, fn.Name.Name)
			}
		}
	}
	return names, true
}
