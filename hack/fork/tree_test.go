package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// widget is a fork unlike this project in every name: another group with
// several labels, a beta version, a module with a major version and a name
// that is not the module's.
var widget = identity{Module: "example.org/widget-operator/v3", Group: "widgets.example.org", Version: "v2beta1", Kind: "Widget", Name: "widget-ctl"}

// copyTree copies this repository's tracked text files into a temporary
// directory and returns it with the list of files.
func copyTree(t *testing.T) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git to list the repository's files")
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", repo, "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not in a git checkout (%v)", err)
	}
	dst := t.TempDir()
	var files []string
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(repo, f))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		if isBinary(data) {
			continue
		}
		info, err := os.Stat(filepath.Join(repo, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return dst, files
}

// listFiles lists the regular files under root, slash separated.
func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func forkCopy(t *testing.T, root string, files []string, to identity) (from identity) {
	t.Helper()
	from, err := detect(root)
	if err != nil {
		t.Fatal(err)
	}
	to = mustComplete(t, to)
	if clash, err := collisions(root, files, from, to); err != nil || len(clash) > 0 {
		t.Fatalf("the tree already uses %s: %v %v", to, clash, err)
	}
	p, err := planFork(root, files, from, to, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.apply(); err != nil {
		t.Fatal(err)
	}
	return from
}

// TestForkOfThisTree forks this repository (without code generation) and
// checks what the result is made of: the new names detected from it, the
// API package and the example moved, nothing of the old names left outside
// the controller's own identifiers.
func TestForkOfThisTree(t *testing.T) {
	root, files := copyTree(t)
	from := forkCopy(t, root, files, widget)
	to := mustComplete(t, widget)

	got, err := detect(root)
	if err != nil {
		t.Fatalf("the fork cannot be forked again: %v", err)
	}
	if got != to {
		t.Errorf("the fork reads as %s, want %s", got, to)
	}
	after := listFiles(t, root)
	left, err := residue(root, after, from, to)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range left {
		t.Errorf("still names %s: %s", from.Kind, f)
	}
	for _, f := range after {
		if strings.HasPrefix(f, "pkg/generated/") || strings.Contains(f, "/zz_generated") {
			t.Errorf("generated file %s is left for hack/update-codegen.sh to replace", f)
		}
		if strings.HasPrefix(f, from.apiDir()+"/") {
			t.Errorf("%s is left in the old API package", f)
		}
	}
	for _, f := range []string{"pkg/apis/widgets/v2beta1/types.go", "pkg/apis/widgets/v2beta1/doc.go", "artifacts/examples/example-widget.yaml"} {
		if !fileExists(filepath.Join(root, f)) {
			t.Errorf("%s is missing", f)
		}
	}
	for _, f := range []string{"artifacts/examples/network-attachment-definition-crd.yaml", "go.sum"} {
		before, _ := os.ReadFile(filepath.Join("..", "..", f))
		now, _ := os.ReadFile(filepath.Join(root, f))
		if !bytes.Equal(before, now) {
			t.Errorf("%s is not the project's to rename, but changed", f)
		}
	}
}

// TestForkThereAndBackChangesNothing forks this repository to widget and
// back to what it was: every file must come back byte for byte, but for the
// plural the fork always makes explicit in +kubebuilder:resource. So no rule
// renames what it cannot rename back, and none misses what another renamed.
func TestForkThereAndBackChangesNothing(t *testing.T) {
	root, files := copyTree(t)
	original := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		original[f] = data
	}
	from := forkCopy(t, root, files, widget)
	forkCopy(t, root, listFiles(t, root), from)

	back := map[string]bool{}
	for _, f := range listFiles(t, root) {
		back[f] = true
		want, ok := original[f]
		if !ok {
			t.Errorf("%s is new", f)
			continue
		}
		got, _ := os.ReadFile(filepath.Join(root, f))
		if f == from.apiDir()+"/types.go" {
			// Explicit now, whether it was before or not.
			implicit := func(b []byte) []byte { return bytes.Replace(b, []byte(",path="+from.Plural+"\n"), []byte("\n"), 1) }
			got, want = implicit(got), implicit(want)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs:\n%s", f, diffLines(string(want), string(got)))
		}
	}
	for f := range original {
		if !back[f] && !generated(f, from) {
			t.Errorf("%s is gone", f)
		}
	}
}

// TestResidueFindsWhatTheRulesLeft: residue reports every line outside Go
// identifiers that still names the old identity, and nothing else.
func TestResidueFindsWhatTheRulesLeft(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"notes.md": "a Subnet of example.com\nstill a Network\nnetwork-controller runs\nNetworkAttachmentDefinition and a secondary network\nlabelled bench.samplecrd.k8s.io/run\nlabelled bench.example.com/run\n",
		"left.go": `package main

type attachment struct {
	// Network is the configuration list's name.
	Network string
}

// newNetwork stays: the controller's own name.
func newNetwork() string { return "pkg/apis/samplecrd/v1" }

const metric = "network_controller_syncs_total" // NETWORK_CONTROLLER_CACHE

const tick = "bench.samplecrd.k8s.io/tick"
`,
	}
	var list []string
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(root, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		list = append(list, f)
	}
	got, err := residue(root, list, network, mustComplete(t, subnet))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"notes.md:2: still a Network":                                                             true,
		"notes.md:3: network-controller runs":                                                     true,
		`left.go:9: func newNetwork() string { return "pkg/apis/samplecrd/v1" }`:                  true,
		`left.go:11: const metric = "network_controller_syncs_total" // NETWORK_CONTROLLER_CACHE`: true,
		"notes.md:5: labelled bench.samplecrd.k8s.io/run":                                         true,
		`left.go:13: const tick = "bench.samplecrd.k8s.io/tick"`:                                  true,
	}
	seen := map[string]bool{}
	for _, f := range got {
		seen[f.String()] = true
		if !want[f.String()] {
			t.Errorf("unexpected finding %s", f)
		}
	}
	for w := range want {
		if !seen[w] {
			t.Errorf("missed %s", w)
		}
	}
}
