// Command image writes a single-layer container image as a tarball,
// without a container engine or a registry: the images the real-node tests
// import into containerd (hack/images.sh), the controller's own among them.
//
//	go run ./hack/image -o OUT.tar -name localhost/NAME:TAG \
//	    [-entrypoint ARG]... [-cmd ARG]... [-user UID:GID] [-env K=V]... \
//	    [-workdir DIR] [-os GOOS] [-arch GOARCH] [-variant V] \
//	    [-symlink DST=TARGET]... [-dir DST[:MODE]]... [SRC:DST[:MODE]]...
//
// Each SRC:DST[:MODE] puts the host file SRC at DST in the image, MODE in
// octal (default 0755 if SRC is executable, else 0644); parent directories
// are made as needed. -entrypoint and -cmd add one element each.
//
// The tarball is a docker-archive, the layout `docker save` writes
// (manifest.json naming the config and the layer), not an OCI image
// layout, because every tool a user would load it with reads it as it
// is: containerd's `ctr images import` (1.6 included), `docker load` of
// any version, `podman load`, `kind load image-archive`, `minikube image
// load`. An OCI layout would not do as well: ctr 1.6 takes its standard
// ref-name annotation as a tag to put under --base-name (a full name needs
// containerd's own annotation), and docker load before Docker 25 does not
// read it at all.
//
// The output is deterministic: fixed times, entries in path order, files
// owned by 0:0 in the layer, so the same inputs give the same digests.
// The platform defaults to the GOOS/GOARCH of the environment (the
// target the binaries inside were built for), else this program's own.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// listFlag collects the values of a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(2)
	}
}

// run parses args, builds the image and writes it to the -o file. The file
// is written next to its destination and renamed over it, so that a reader
// never sees half an image. A file that already holds exactly these bytes
// is left alone, modification time included: the output is deterministic,
// so an unchanged image is not rewritten and whatever imports it can tell.
func run(args []string) error {
	img, out, err := parseArgs(args)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := Write(&buf, img); err != nil {
		return err
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, buf.Bytes()) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// parseArgs turns the command line into an Image and the output path.
func parseArgs(args []string) (Image, string, error) {
	fset := flag.NewFlagSet("image", flag.ContinueOnError)
	var (
		img                             Image
		entrypoint, cmd, env, links, ds listFlag
	)
	out := fset.String("o", "", "the tarball to write (required)")
	fset.StringVar(&img.Name, "name", "", "the image's name, NAME:TAG (required)")
	fset.Var(&entrypoint, "entrypoint", "one element of the ENTRYPOINT (repeat for more)")
	fset.Var(&cmd, "cmd", "one element of the CMD (repeat for more)")
	fset.StringVar(&img.User, "user", "", "the USER, such as 65532:65532")
	fset.Var(&env, "env", "an environment variable K=V (repeatable)")
	fset.StringVar(&img.WorkingDir, "workdir", "", "the working directory")
	fset.StringVar(&img.OS, "os", envOr("GOOS", runtime.GOOS), "the image's OS")
	fset.StringVar(&img.Arch, "arch", envOr("GOARCH", runtime.GOARCH), "the image's architecture")
	fset.StringVar(&img.Variant, "variant", "", "the architecture's variant (default v$GOARM on arm)")
	fset.Var(&links, "symlink", "a symbolic link DST=TARGET (repeatable)")
	fset.Var(&ds, "dir", "a directory DST[:MODE] (repeatable; parents are made anyway)")
	if err := fset.Parse(args); err != nil {
		return Image{}, "", err
	}
	if *out == "" || img.Name == "" {
		return Image{}, "", errors.New("-o and -name are required")
	}
	if img.Variant == "" && img.Arch == "arm" {
		img.Variant = "v" + envOr("GOARM", "7")
	}
	img.Entrypoint, img.Cmd, img.Env = entrypoint, cmd, env
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return Image{}, "", fmt.Errorf("-env %q is not K=V", e)
		}
	}
	for _, l := range links {
		dst, target, ok := strings.Cut(l, "=")
		if !ok || target == "" {
			return Image{}, "", fmt.Errorf("-symlink %q is not DST=TARGET", l)
		}
		img.Symlinks = append(img.Symlinks, Symlink{Dst: dst, Target: target})
	}
	for _, d := range ds {
		dst, mode, err := splitMode(d)
		if err != nil {
			return Image{}, "", fmt.Errorf("-dir %q: %w", d, err)
		}
		img.Dirs = append(img.Dirs, Dir{Dst: dst, Mode: mode})
	}
	for _, a := range fset.Args() {
		src, rest, ok := strings.Cut(a, ":")
		if !ok || src == "" {
			return Image{}, "", fmt.Errorf("%q is not SRC:DST[:MODE]", a)
		}
		dst, mode, err := splitMode(rest)
		if err != nil {
			return Image{}, "", fmt.Errorf("%q: %w", a, err)
		}
		img.Files = append(img.Files, File{Src: src, Dst: dst, Mode: mode})
	}
	return img, *out, nil
}

// splitMode splits PATH[:MODE], MODE in octal up to 07777.
func splitMode(s string) (string, uint32, error) {
	p, m, ok := strings.Cut(s, ":")
	if !ok {
		return p, 0, nil
	}
	mode, err := strconv.ParseUint(m, 8, 32)
	if err != nil || mode == 0 || mode > 0o7777 {
		return "", 0, fmt.Errorf("mode %q is not octal 1-7777", m)
	}
	return p, uint32(mode), nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
