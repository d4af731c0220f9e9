package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Nonroot is the user the manager runs as: distroless's "nonroot", so the
// image and the Dockerfile build agree and runAsNonRoot admits it.
const Nonroot = "65532"

// Entrypoint is where the binary lives in the image.
const Entrypoint = "/manager"

// Metadata becomes the image's OCI labels and creation time.
type Metadata struct {
	Version, Revision, Source string
	Created                   time.Time
}

// PlatformImage is one platform's image.
type PlatformImage struct {
	Platform v1.Platform
	Image    v1.Image
}

// Build returns an OCI image for one platform: a single layer with the
// binary and the nonroot user's passwd/group entries, on no base image.
func Build(binary string, platform v1.Platform, meta Metadata) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	layerTar, err := rootFS(bin, meta.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   v1.Time{Time: meta.Created},
		CreatedBy: "hack/tools/image: manager binary, nonroot user",
	}})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = platform.OS, platform.Architecture, platform.Variant
	cfg.Created = v1.Time{Time: meta.Created}
	cfg.Config.Entrypoint = []string{Entrypoint}
	cfg.Config.User = Nonroot + ":" + Nonroot
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{"PATH=/"}
	cfg.Config.Labels = labels(meta)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, labels(meta)).(v1.Image), nil
}

func labels(meta Metadata) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "directory-operator",
		"org.opencontainers.image.description": "Kubernetes operator for Microsoft Entra ID users and groups",
		"org.opencontainers.image.version":     meta.Version,
		"org.opencontainers.image.revision":    meta.Revision,
		"org.opencontainers.image.created":     meta.Created.Format(time.RFC3339),
	}
	if meta.Source != "" {
		l["org.opencontainers.image.source"] = meta.Source
	}
	return l
}

// rootFS is the layer's tar: fixed owners and times, so the same binary
// always gives the same digest.
func rootFS(bin []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")},
		{Entrypoint[1:], 0o755, bin},
	}
	dirs := []string{"etc/", "home/", "home/nonroot/", "tmp/"}
	for _, d := range dirs {
		mode, uid := int64(0o755), 0
		switch d {
		case "home/nonroot/":
			mode, uid = 0o700, 65532
		case "tmp/":
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, Uid: uid, Gid: uid, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLayout replaces dir with an OCI layout holding the images, each
// annotated with its platform and the reference it was built as.
func WriteLayout(dir, ref string, imgs []PlatformImage) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("creating OCI layout %s: %w", dir, err)
	}
	for _, pi := range imgs {
		if err := p.AppendImage(pi.Image, layout.WithPlatform(pi.Platform),
			layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
			return fmt.Errorf("writing %s to %s: %w", pi.Platform, dir, err)
		}
	}
	return nil
}
