package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestPush pushes the layout (as `make image-push` does) to an in-memory
// registry on loopback and pulls it back by tag.
func TestPush(t *testing.T) {
	dir := layoutForTest(t)
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/directory-operator:test"
	if err := pushCmd([]string{"-layout", dir, ref}); err != nil {
		t.Fatal(err)
	}
	idx, err := ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(parsed)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d != im.Manifests[0].Digest {
		t.Errorf("pulled %s, pushed %s", d, im.Manifests[0].Digest)
	}
}
