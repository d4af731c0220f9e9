package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestImage checks the image `make image` wrote (IMAGE_LAYOUT, an OCI
// layout) or, without it, one built here from a fresh static build of the
// manager: its config, that it holds no shell, and that the binary in its
// layer runs.
func TestImage(t *testing.T) {
	dir := layoutForTest(t)
	idx, err := ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	for _, desc := range im.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, img)
		files := extract(t, img)
		for _, sh := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh"} {
			if _, ok := files[sh]; ok {
				t.Errorf("image contains a shell: /%s", sh)
			}
		}
		bin, ok := files[Entrypoint[1:]]
		if !ok {
			t.Fatalf("image has no %s", Entrypoint)
		}
		if desc.Platform != nil && desc.Platform.OS == runtime.GOOS && desc.Platform.Architecture == runtime.GOARCH {
			runHelp(t, bin)
			ran = true
		}
	}
	if !ran {
		t.Errorf("no image for %s/%s in %s, so the binary was not run", runtime.GOOS, runtime.GOARCH, dir)
	}
}

func checkConfig(t *testing.T, img v1.Image) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != Entrypoint {
		t.Errorf("entrypoint %q, want [%s]", c.Entrypoint, Entrypoint)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", c.User)
	}
	for _, l := range []string{"org.opencontainers.image.source", "org.opencontainers.image.version", "org.opencontainers.image.revision"} {
		if c.Labels[l] == "" {
			t.Errorf("label %s missing", l)
		}
	}
}

// extract returns the regular files of the flattened image by path.
func extract(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "/")
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[name] = b
		case tar.TypeSymlink, tar.TypeLink:
			files[name] = nil // a link to a shell counts as a shell
		}
	}
}

// runHelp runs the image's binary with --help: it must start (static,
// right platform) and list the manager's flags.
func runHelp(t *testing.T, bin []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manager")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", Entrypoint, err, out)
	}
	for _, flag := range []string{"-leader-elect", "-watch-namespaces", "-label-selector", "-metrics-bind-address"} {
		if !strings.Contains(string(out), flag) {
			t.Errorf("--help does not list %s:\n%s", flag, out)
		}
	}
}

// layoutForTest is the layout `make image` wrote (IMAGE_LAYOUT) or else a
// fresh one.
func layoutForTest(t *testing.T) string {
	if dir := os.Getenv("IMAGE_LAYOUT"); dir != "" {
		return dir
	}
	return buildForTest(t)
}

// buildForTest builds the manager statically and an image from it, as
// `make image` does, into a temporary OCI layout.
func buildForTest(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "manager")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/manager")
	cmd.Dir = filepath.Join("..", "..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	p := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	img, err := Build(bin, p, Metadata{Version: "test", Revision: "test", Source: "https://example.com/directory-operator", Created: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "oci")
	if err := WriteLayout(dir, "example.com/directory-operator:test", []PlatformImage{{Platform: p, Image: img}}); err != nil {
		t.Fatal(err)
	}
	return dir
}
