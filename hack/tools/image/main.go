// Command image assembles the manager's OCI image from statically linked
// binaries, without a container daemon or a base image, and pushes it.
//
//	image build -out bin/image -tag REF -version V -revision R -source URL linux/amd64=bin/image/manager-linux-amd64 ...
//	image push -layout bin/image/oci REF
//
// The image holds the binary at /manager, an /etc/passwd and /etc/group that
// name the nonroot user 65532, and nothing else: no shell, no package
// manager. CA roots are compiled into the binary (x509roots/fallback).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: image build|push ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = buildCmd(os.Args[2:])
	case "push":
		err = pushCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func buildCmd(args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	out := fs.String("out", "bin/image", "Output directory: oci/ (OCI layout) and image.tar (docker load).")
	tag := fs.String("tag", "", "Image reference recorded in the layout and tarball.")
	meta := Metadata{}
	fs.StringVar(&meta.Version, "version", "dev", "org.opencontainers.image.version label.")
	fs.StringVar(&meta.Revision, "revision", "unknown", "org.opencontainers.image.revision label.")
	fs.StringVar(&meta.Source, "source", "", "org.opencontainers.image.source label.")
	epoch := fs.Int64("created", 0, "Creation time in Unix seconds (SOURCE_DATE_EPOCH), for reproducible images.")
	_ = fs.Parse(args)
	meta.Created = time.Unix(*epoch, 0).UTC()
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("-tag: %w", err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("no platform=binary arguments")
	}
	var imgs []PlatformImage
	for _, a := range fs.Args() {
		plat, bin, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("argument %q is not platform=binary", a)
		}
		p, err := v1.ParsePlatform(plat)
		if err != nil {
			return err
		}
		img, err := Build(bin, *p, meta)
		if err != nil {
			return fmt.Errorf("building %s: %w", plat, err)
		}
		imgs = append(imgs, PlatformImage{Platform: *p, Image: img})
	}
	layoutDir := filepath.Join(*out, "oci")
	if err := WriteLayout(layoutDir, ref.String(), imgs); err != nil {
		return err
	}
	// image.tar (docker save format) carries one platform: the first.
	tarPath := filepath.Join(*out, "image.tar")
	if err := tarball.WriteToFile(tarPath, ref, imgs[0].Image); err != nil {
		return fmt.Errorf("writing %s: %w", tarPath, err)
	}
	d, _ := imgs[0].Image.Digest()
	fmt.Printf("Built %s (%s, %d platform(s)): %s, %s\n", ref, d, len(imgs), layoutDir, tarPath)
	return nil
}

// pushCmd pushes the layout's image (one platform) or index (several) to a
// registry, with the credentials docker/podman logins left in their config.
func pushCmd(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	dir := fs.String("layout", "bin/image/oci", "OCI layout written by build.")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("push needs one image reference")
	}
	ref, err := name.ParseReference(fs.Arg(0))
	if err != nil {
		return err
	}
	idx, err := ReadLayout(*dir)
	if err != nil {
		return err
	}
	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(im.Manifests) == 1 {
		img, err := idx.Image(im.Manifests[0].Digest)
		if err != nil {
			return err
		}
		err = remote.Write(ref, img, auth)
	} else {
		err = remote.WriteIndex(ref, idx, auth)
	}
	if err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	fmt.Println("Pushed", ref)
	return nil
}

// ReadLayout opens an OCI layout and returns the index of its images.
func ReadLayout(dir string) (v1.ImageIndex, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	return p.ImageIndex()
}
