package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// archive is a parsed docker-archive, checked as containerd's importer and
// docker load read one.
type archive struct {
	names    []string // members, in archive order
	manifest []Manifest
	config   Config
	layer    []layerEntry
}

// layerEntry is one member of the layer with what the tests check.
type layerEntry struct {
	name     string
	typeflag byte
	mode     int64
	linkname string
	data     string
}

// readArchive parses b and checks every digest on the way: each blob's
// name is the sha256 of its bytes, and the config's diff_ids are the
// sha256 of the (uncompressed) layers.
func readArchive(t *testing.T, b []byte) archive {
	t.Helper()
	var a archive
	files := map[string][]byte{}
	for _, m := range readTar(t, "outer tar", b) {
		a.names = append(a.names, m.hdr.Name)
		files[m.hdr.Name] = m.data
		if hex, ok := strings.CutPrefix(m.hdr.Name, "blobs/sha256/"); ok && hex != sha256Of(m.data) {
			t.Errorf("%s holds bytes whose sha256 is %s", m.hdr.Name, sha256Of(m.data))
		}
	}
	if err := json.Unmarshal(files["manifest.json"], &a.manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(a.manifest) != 1 || len(a.manifest[0].Layers) != 1 {
		t.Fatalf("manifest.json = %+v, want one image of one layer", a.manifest)
	}
	m := a.manifest[0]
	cfg, ok := files[m.Config]
	if !ok {
		t.Fatalf("the config %s is not in the archive", m.Config)
	}
	if err := json.Unmarshal(cfg, &a.config); err != nil {
		t.Fatalf("config: %v", err)
	}
	layer, ok := files[m.Layers[0]]
	if !ok {
		t.Fatalf("the layer %s is not in the archive", m.Layers[0])
	}
	if want := []string{"sha256:" + sha256Of(layer)}; !reflect.DeepEqual(a.config.RootFS.DiffIDs, want) || a.config.RootFS.Type != "layers" {
		t.Errorf("rootfs = %+v, want layers %v", a.config.RootFS, want)
	}
	for _, m := range readTar(t, "layer", layer) {
		a.layer = append(a.layer, layerEntry{m.hdr.Name, m.hdr.Typeflag, m.hdr.Mode, m.hdr.Linkname, string(m.data)})
	}
	return a
}

// member is one member of a tar archive.
type member struct {
	hdr  *tar.Header
	data []byte
}

// readTar returns the members of the tar archive b, each checked with
// checkHeader.
func readTar(t *testing.T, what string, b []byte) []member {
	t.Helper()
	var members []member
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return members
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		checkHeader(t, hdr)
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", what, hdr.Name, err)
		}
		members = append(members, member{hdr, data})
	}
}

// checkHeader checks what makes a member reproducible and anonymous.
func checkHeader(t *testing.T, hdr *tar.Header) {
	t.Helper()
	if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
		t.Errorf("%s is owned by %d:%d (%q:%q), want 0:0 without names", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
	}
	if !hdr.ModTime.Equal(epoch) {
		t.Errorf("%s has mtime %v, want %v", hdr.Name, hdr.ModTime, epoch)
	}
}

func sha256Of(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// writeFile writes a host file for an image and returns its path.
func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

func TestWriteMakesAnImportableDockerArchive(t *testing.T) {
	bin := writeFile(t, "bin", "\x7fELF pretend", 0o700)
	text := writeFile(t, "text", "root:x:0:0::/:/sbin/nologin\n", 0o600)
	tests := []struct {
		name      string
		img       Image
		wantCfg   ContainerConfig
		wantLayer []layerEntry
	}{{
		name: "a static binary as the entrypoint, as the pause image",
		img: Image{Name: "localhost/pause:dev", OS: "linux", Arch: "amd64", Entrypoint: []string{"/pause"},
			Files: []File{{Src: bin, Dst: "/pause"}}},
		wantCfg: ContainerConfig{Entrypoint: []string{"/pause"}},
		wantLayer: []layerEntry{
			{"pause", tar.TypeReg, 0o755, "", "\x7fELF pretend"},
		},
	}, {
		name: "busybox and its applets, parents made, entries in path order",
		img: Image{Name: "localhost/workload:dev", OS: "linux", Arch: "arm64", Cmd: []string{"/bin/sh"},
			Files:    []File{{Src: bin, Dst: "/bin/busybox", Mode: 0o755}},
			Symlinks: []Symlink{{Dst: "/bin/sh", Target: "busybox"}, {Dst: "/bin/ip", Target: "/bin/busybox"}},
			Dirs:     []Dir{{Dst: "/tmp", Mode: 0o1777}}},
		wantCfg: ContainerConfig{Cmd: []string{"/bin/sh"}},
		wantLayer: []layerEntry{
			{"bin/", tar.TypeDir, 0o755, "", ""},
			{"bin/busybox", tar.TypeReg, 0o755, "", "\x7fELF pretend"},
			{"bin/ip", tar.TypeSymlink, 0o777, "/bin/busybox", ""},
			{"bin/sh", tar.TypeSymlink, 0o777, "busybox", ""},
			{"tmp/", tar.TypeDir, 0o1777, "", ""},
		},
	}, {
		name: "the controller: user, env, workdir, a non-executable file defaults to 0644",
		img: Image{Name: "registry.example:5000/team/network-controller:v1.2.3", OS: "linux", Arch: "arm", Variant: "v7",
			User: "65532:65532", Env: []string{"A=1", "B=x=y"}, WorkingDir: "/",
			Entrypoint: []string{"/network-controller", "--leader-elect"},
			Files:      []File{{Src: bin, Dst: "/network-controller"}, {Src: text, Dst: "/etc/passwd"}}},
		wantCfg: ContainerConfig{User: "65532:65532", Env: []string{"A=1", "B=x=y"}, WorkingDir: "/",
			Entrypoint: []string{"/network-controller", "--leader-elect"}},
		wantLayer: []layerEntry{
			{"etc/", tar.TypeDir, 0o755, "", ""},
			{"etc/passwd", tar.TypeReg, 0o644, "", "root:x:0:0::/:/sbin/nologin\n"},
			{"network-controller", tar.TypeReg, 0o755, "", "\x7fELF pretend"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first, second bytes.Buffer
			if err := Write(&first, tt.img); err != nil {
				t.Fatal(err)
			}
			if err := Write(&second, tt.img); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Error("two writes of the same image differ")
			}
			a := readArchive(t, first.Bytes())
			m := a.manifest[0]
			if want := []string{m.Config, m.Layers[0], "manifest.json"}; !reflect.DeepEqual(sorted(a.names), sorted(want)) || !slices.IsSorted(a.names) {
				t.Errorf("archive members %v, want %v in path order", a.names, want)
			}
			if !reflect.DeepEqual(m.RepoTags, []string{tt.img.Name}) {
				t.Errorf("RepoTags = %v, want [%s]", m.RepoTags, tt.img.Name)
			}
			c := a.config
			if c.OS != tt.img.OS || c.Architecture != tt.img.Arch || c.Variant != tt.img.Variant {
				t.Errorf("platform %s/%s/%s, want %s/%s/%s", c.OS, c.Architecture, c.Variant, tt.img.OS, tt.img.Arch, tt.img.Variant)
			}
			if !reflect.DeepEqual(c.Config, tt.wantCfg) {
				t.Errorf("config = %+v, want %+v", c.Config, tt.wantCfg)
			}
			if !c.Created.Equal(epoch) {
				t.Errorf("created %v, want %v", c.Created, epoch)
			}
			if !reflect.DeepEqual(a.layer, tt.wantLayer) {
				t.Errorf("layer:\n got %+v\nwant %+v", a.layer, tt.wantLayer)
			}
		})
	}
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func TestWriteRefusesWhatCannotBeAnImage(t *testing.T) {
	bin := writeFile(t, "bin", "x", 0o755)
	base := Image{Name: "localhost/x:dev", OS: "linux", Arch: "amd64"}
	with := func(f func(*Image)) Image {
		img := base
		f(&img)
		return img
	}
	tests := []struct {
		name    string
		img     Image
		wantErr string
	}{
		{"no tag", with(func(i *Image) { i.Name = "localhost/x" }), "has no tag"},
		{"a port is not a tag", with(func(i *Image) { i.Name = "localhost:5000/x" }), "has no tag"},
		{"upper case repository", with(func(i *Image) { i.Name = "localhost/X:dev" }), "repository has"},
		{"bad tag", with(func(i *Image) { i.Name = "x:a+b" }), "tag has"},
		{"no platform", with(func(i *Image) { i.Arch = "" }), "architecture"},
		{"relative destination", with(func(i *Image) { i.Files = []File{{Src: bin, Dst: "bin/x"}} }), "clean absolute path"},
		{"unclean destination", with(func(i *Image) { i.Files = []File{{Src: bin, Dst: "/bin/../x"}} }), "clean absolute path"},
		{"the root", with(func(i *Image) { i.Dirs = []Dir{{Dst: "/"}} }), "clean absolute path"},
		{"a path given twice", with(func(i *Image) {
			i.Files = []File{{Src: bin, Dst: "/x"}}
			i.Symlinks = []Symlink{{Dst: "/x", Target: "y"}}
		}), "given twice"},
		{"a file inside a file", with(func(i *Image) { i.Files = []File{{Src: bin, Dst: "/x"}, {Src: bin, Dst: "/x/y"}} }), "not a directory"},
		{"a file inside a symlink", with(func(i *Image) {
			i.Files = []File{{Src: bin, Dst: "/bin/x"}}
			i.Symlinks = []Symlink{{Dst: "/bin", Target: "usr/bin"}}
		}), "not a directory"},
		{"a missing host file", with(func(i *Image) { i.Files = []File{{Src: bin + ".missing", Dst: "/x"}} }), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Write(io.Discard, tt.img)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Write = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	t.Setenv("GOOS", "linux")
	t.Setenv("GOARCH", "arm")
	t.Setenv("GOARM", "6")
	img, out, err := parseArgs([]string{"-o", "x.tar", "-name", "localhost/c:dev",
		"-entrypoint", "/c", "-entrypoint", "--flag", "-cmd", "a", "-user", "65532:65532",
		"-env", "A=1", "-workdir", "/", "-symlink", "/bin/sh=busybox", "-dir", "/tmp:1777",
		"bin/c:/c", "etc/passwd:/etc/passwd:0644"})
	if err != nil {
		t.Fatal(err)
	}
	want := Image{Name: "localhost/c:dev", OS: "linux", Arch: "arm", Variant: "v6",
		Entrypoint: []string{"/c", "--flag"}, Cmd: []string{"a"}, User: "65532:65532",
		Env: []string{"A=1"}, WorkingDir: "/",
		Files:    []File{{Src: "bin/c", Dst: "/c"}, {Src: "etc/passwd", Dst: "/etc/passwd", Mode: 0o644}},
		Symlinks: []Symlink{{Dst: "/bin/sh", Target: "busybox"}},
		Dirs:     []Dir{{Dst: "/tmp", Mode: 0o1777}}}
	if out != "x.tar" || !reflect.DeepEqual(img, want) {
		t.Errorf("parseArgs = %+v, %q\nwant %+v, x.tar", img, out, want)
	}

	for _, bad := range [][]string{
		{"-name", "localhost/c:dev"},     // no -o
		{"-o", "x.tar"},                  // no -name
		{"-o", "x", "-name", "a:b", "c"}, // not SRC:DST
		{"-o", "x", "-name", "a:b", "c:/c:9"},
		{"-o", "x", "-name", "a:b", "c:/c:0"},
		{"-o", "x", "-name", "a:b", "c:/c:10000"},
		{"-o", "x", "-name", "a:b", "-symlink", "/bin/sh"},
		{"-o", "x", "-name", "a:b", "-env", "=1"},
		{"-o", "x", "-name", "a:b", "-dir", "/tmp:rw"},
	} {
		if _, _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%q) accepted it", bad)
		}
	}
}

// TestRunLeavesAnUnchangedImageAlone checks the cache by content: a second
// run with the same inputs does not rewrite the file, and a changed input
// does.
func TestRunLeavesAnUnchangedImageAlone(t *testing.T) {
	src := writeFile(t, "f", "one", 0o644)
	out := filepath.Join(t.TempDir(), "i.tar")
	args := []string{"-o", out, "-name", "localhost/i:dev", src + ":/f"}
	if err := run(args); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(out)
	// A marker mode that a rewrite (a new file, renamed over) would reset.
	if err := os.Chmod(out, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(args); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("an unchanged image was rewritten (mode %v)", st.Mode().Perm())
	}
	if err := os.WriteFile(src, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(args); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(out)
	if st, _ := os.Stat(out); bytes.Equal(first, second) || st.Mode().Perm() != 0o644 {
		t.Errorf("a changed image was not rewritten")
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("the output directory holds %d files, want only the image", len(entries))
	}
}
