package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// epoch is the modification time of every entry and the image's creation
// time: a fixed instant, so that the same inputs give the same bytes and
// therefore the same digests (a rebuild with nothing changed is not a new
// image to containerd or to a registry).
var epoch = time.Unix(0, 0).UTC()

// Image is what goes into one single-layer image.
type Image struct {
	// Name is the image reference written in the archive's RepoTags, such as
	// localhost/pause:dev. A tool that imports the archive (ctr, docker)
	// normalizes it: a name without a registry becomes docker.io/library/NAME.
	Name string
	// OS, Arch and Variant are the platform of the binaries inside (GOOS,
	// GOARCH, and for arm the GOARM level as "v7"), which containerd and the
	// kubelet match against the node's.
	OS, Arch, Variant string
	Entrypoint, Cmd   []string
	User              string
	Env               []string
	WorkingDir        string
	Files             []File
	Symlinks          []Symlink
	Dirs              []Dir
}

// File is a host file copied into the layer at Dst.
type File struct {
	Src, Dst string
	// Mode is the file's mode bits as chmod takes them in octal (0755,
	// 4755); 0 means 0755 when the host file is executable by anyone and
	// 0644 otherwise, so that a checkout's umask does not change the image.
	Mode uint32
}

// Symlink is a symbolic link at Dst pointing to Target (absolute or
// relative, as ln -s takes it).
type Symlink struct{ Dst, Target string }

// Dir is a directory at Dst with Mode (octal bits as for File; 0 means
// 0755, 01777 makes a /tmp). Parents of every entry are added as 0755
// directories without being listed.
type Dir struct {
	Dst  string
	Mode uint32
}

// entry is one member of the layer.
type entry struct {
	typeflag byte
	mode     uint32
	target   string // symlinks
	data     []byte // regular files
	explicit bool   // named by the caller, not an implied parent
}

// Manifest is one element of a docker-archive's manifest.json.
type Manifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Config is the image configuration (the Docker image spec v1.2 / OCI
// image config), with only the fields this tool sets.
type Config struct {
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Variant      string          `json:"variant,omitempty"`
	Created      time.Time       `json:"created"`
	Config       ContainerConfig `json:"config"`
	RootFS       RootFS          `json:"rootfs"`
	History      []History       `json:"history"`
}

// ContainerConfig is the default run configuration of the image.
type ContainerConfig struct {
	User       string   `json:"User,omitempty"`
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
}

// RootFS lists the uncompressed layers' digests.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// History says where the layer came from.
type History struct {
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

// Write writes img to w as a docker-archive (the layout of `docker save`):
// manifest.json, the config and the layer as blobs/sha256/<hex>, the layer
// an uncompressed tar. Everything is in a fixed order with fixed times, so
// the same Image gives the same bytes.
func Write(w io.Writer, img Image) error {
	if err := validateName(img.Name); err != nil {
		return err
	}
	if img.OS == "" || img.Arch == "" {
		return errors.New("the platform needs an OS and an architecture")
	}
	entries, err := collect(img)
	if err != nil {
		return err
	}
	layer, err := layerTar(entries)
	if err != nil {
		return err
	}
	layerHex := sha256Hex(layer)
	cfg := Config{
		Architecture: img.Arch,
		OS:           img.OS,
		Variant:      img.Variant,
		Created:      epoch,
		Config: ContainerConfig{
			User:       img.User,
			Env:        img.Env,
			Entrypoint: img.Entrypoint,
			Cmd:        img.Cmd,
			WorkingDir: img.WorkingDir,
		},
		RootFS:  RootFS{Type: "layers", DiffIDs: []string{"sha256:" + layerHex}},
		History: []History{{Created: epoch, CreatedBy: "hack/image"}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgPath := "blobs/sha256/" + sha256Hex(cfgJSON)
	layerPath := "blobs/sha256/" + layerHex
	manifest, err := json.Marshal([]Manifest{{
		Config:   cfgPath,
		RepoTags: []string{img.Name},
		Layers:   []string{layerPath},
	}})
	if err != nil {
		return err
	}
	files := map[string][]byte{cfgPath: cfgJSON, layerPath: layer, "manifest.json": manifest}
	tw := tar.NewWriter(w)
	for _, name := range sortedKeys(files) {
		data := files[name]
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// validateName accepts NAME:TAG where NAME is a lower-case repository path
// (what containerd and docker accept) and TAG is present: an image imported
// without a tag has no name to run it by.
func validateName(name string) error {
	i := strings.LastIndex(name, ":")
	if i < 0 || strings.Contains(name[i:], "/") {
		return fmt.Errorf("image name %q has no tag (NAME:TAG)", name)
	}
	repo, tag := name[:i], name[i+1:]
	if repo == "" || tag == "" || len(tag) > 128 {
		return fmt.Errorf("image name %q is not NAME:TAG", name)
	}
	for _, c := range tag {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("image name %q: tag has %q", name, c)
		}
	}
	// A first element with a dot or a port, or localhost, is a registry
	// host, where upper case and a port are allowed; the path after it is
	// lower case.
	repoPath := repo
	if host, rest, ok := strings.Cut(repo, "/"); ok && (strings.ContainsAny(host, ".:") || host == "localhost") {
		repoPath = rest
		for _, c := range host {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:", c)) {
				return fmt.Errorf("image name %q: registry host has %q", name, c)
			}
		}
	}
	if repoPath == "" {
		return fmt.Errorf("image name %q has no repository", name)
	}
	for _, c := range repoPath {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("._-/", c)) {
			return fmt.Errorf("image name %q: repository has %q (lower case, digits, . _ - / only)", name, c)
		}
	}
	return nil
}

// collect turns img's files, symlinks and directories into layer entries
// keyed by their path without the leading slash, with every parent
// directory present.
func collect(img Image) (map[string]*entry, error) {
	entries := map[string]*entry{}
	add := func(dst string, e *entry) error {
		p, err := layerPath(dst)
		if err != nil {
			return err
		}
		if old, ok := entries[p]; ok && old.explicit {
			return fmt.Errorf("%s is given twice", dst)
		}
		entries[p] = e
		return nil
	}
	for _, f := range img.Files {
		data, err := os.ReadFile(f.Src)
		if err != nil {
			return nil, err
		}
		mode := f.Mode
		if mode == 0 {
			st, err := os.Stat(f.Src)
			if err != nil {
				return nil, err
			}
			mode = 0o644
			if st.Mode()&0o111 != 0 {
				mode = 0o755
			}
		}
		if err := add(f.Dst, &entry{typeflag: tar.TypeReg, mode: mode, data: data, explicit: true}); err != nil {
			return nil, err
		}
	}
	for _, s := range img.Symlinks {
		if s.Target == "" {
			return nil, fmt.Errorf("symlink %s has no target", s.Dst)
		}
		if err := add(s.Dst, &entry{typeflag: tar.TypeSymlink, mode: 0o777, target: s.Target, explicit: true}); err != nil {
			return nil, err
		}
	}
	for _, d := range img.Dirs {
		mode := d.Mode
		if mode == 0 {
			mode = 0o755
		}
		if err := add(d.Dst, &entry{typeflag: tar.TypeDir, mode: mode, explicit: true}); err != nil {
			return nil, err
		}
	}
	// Parents: implied directories, unless the caller made that path a
	// file or a symlink, which cannot hold anything.
	for _, p := range sortedKeys(entries) {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			e, ok := entries[dir]
			if !ok {
				entries[dir] = &entry{typeflag: tar.TypeDir, mode: 0o755}
				continue
			}
			if e.typeflag != tar.TypeDir {
				return nil, fmt.Errorf("/%s is inside /%s, which is not a directory", p, dir)
			}
		}
	}
	return entries, nil
}

// layerPath checks that dst is an absolute, clean path below / and returns
// it without the leading slash, as tar members are named.
func layerPath(dst string) (string, error) {
	if !strings.HasPrefix(dst, "/") || path.Clean(dst) != dst || dst == "/" {
		return "", fmt.Errorf("destination %q is not a clean absolute path below /", dst)
	}
	return dst[1:], nil
}

// layerTar writes the entries in path order, owned by 0:0 with no user or
// group names: the owner inside a container is the image's USER, and the
// build machine's users must not leak into the image.
func layerTar(entries map[string]*entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range sortedKeys(entries) {
		e := entries[p]
		hdr := &tar.Header{Typeflag: e.typeflag, Name: p, Mode: int64(e.mode), ModTime: epoch, Linkname: e.target}
		switch e.typeflag {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeReg:
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("/%s: %w", p, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
