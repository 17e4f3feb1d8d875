package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo makes a git repository of a copy of this tree, committed.
func gitRepo(t *testing.T) string {
	t.Helper()
	root, _ := copyTree(t)
	git(t, root, "init", "-q")
	git(t, root, "add", "-A")
	git(t, root, "-c", "user.name=fork test", "-c", "user.email=fork@test.invalid", "commit", "-q", "-m", "the tree")
	return root
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// snapshot is the state of a work tree: HEAD, the index and every change.
func snapshot(t *testing.T, dir string) string {
	return git(t, dir, "rev-parse", "HEAD") + git(t, dir, "status", "--porcelain") + git(t, dir, "diff", "HEAD")
}

// forkArgs forks dir to widget; extra flags override.
func forkArgs(dir string, extra ...string) []string {
	return append([]string{"-C", dir, "-codegen=false",
		"-module", widget.Module, "-group", widget.Group, "-version", widget.Version, "-kind", widget.Kind, "-name", widget.Name}, extra...)
}

// commitForeignGo returns a preparation that commits foreign.go, holding
// decl at line 3.
func commitForeignGo(decl string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		src := "package main\n\n" + decl + "\n"
		if err := os.WriteFile(filepath.Join(dir, "foreign.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		git(t, dir, "add", "foreign.go")
		git(t, dir, "-c", "user.name=fork test", "-c", "user.email=fork@test.invalid", "commit", "-q", "-m", "foreign")
	}
}

// TestRefusalsChangeNothing: bad input, a dirty tree, a name the code
// already uses for something else: exit status 2, a message that says what
// is wrong, and the tree as it was.
func TestRefusalsChangeNothing(t *testing.T) {
	repo := gitRepo(t)
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		args    []string
		wantErr string
	}{
		{name: "a group without a dot", args: forkArgs(repo, "-group", "example"), wantErr: `-group "example" must be a DNS subdomain with at least one dot`},
		{name: "a kind in lower case", args: forkArgs(repo, "-kind", "subnet"), wantErr: `-kind "subnet" must be CamelCase`},
		{name: "a version that is none", args: forkArgs(repo, "-version", "v1.0"), wantErr: `-version "v1.0" must be a Kubernetes API version`},
		{name: "a module without a domain", args: forkArgs(repo, "-module", "subnet-controller"), wantErr: `-module "subnet-controller" must start with a lower-case domain name`},
		{name: "flags missing", args: []string{"-C", repo, "-group", "example.com"}, wantErr: "missing -module, -version, -kind"},
		{name: "a positional argument", args: forkArgs(repo, "Widget"), wantErr: `unexpected arguments ["Widget"]`},
		{name: "an uncommitted change", prepare: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("edited\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, args: forkArgs(repo), wantErr: `the work tree has 1 uncommitted change(s), e.g. "M README.md"`},
		{name: "an untracked file", prepare: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, args: forkArgs(repo), wantErr: `uncommitted change(s), e.g. "?? notes.txt"`},
		{name: "a group the code uses as another group", prepare: commitForeignGo(`const foreignOwner = "widgets.example.org/v1"`),
			args: forkArgs(repo), wantErr: `foreign.go:3: const foreignOwner = "widgets.example.org/v1"`},
		{name: "a domain under the new group the code uses for something else", prepare: commitForeignGo(`const foreignLabel = "bench.widgets.example.org/run"`),
			args: forkArgs(repo), wantErr: `foreign.go:3: const foreignLabel = "bench.widgets.example.org/run"`},
		{name: "not a git work tree", args: forkArgs(t.TempDir()), wantErr: "is not in a git work tree"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := gitRepo(t)
			args := tc.args
			for i := range args {
				if args[i] == repo {
					args[i] = dir
				}
			}
			if tc.prepare != nil {
				tc.prepare(t, dir)
			}
			before := snapshot(t, dir)
			var stdout, stderr strings.Builder
			code := run(args, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit status %d, want 2; stderr:\n%s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantErr) || !strings.Contains(stderr.String(), "Nothing was changed.") {
				t.Errorf("stderr %q, want it to contain %q and say nothing was changed", stderr.String(), tc.wantErr)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("the tree changed:\n%s", after)
			}
		})
	}
}

// TestForkStagesTheWholeChange: a fork that succeeds leaves one staged
// change, with the moves git can show as moves, and nothing unstaged.
func TestForkStagesTheWholeChange(t *testing.T) {
	dir := gitRepo(t)
	from, err := detect(dir)
	if err != nil {
		t.Fatal(err)
	}
	to := mustComplete(t, widget)
	var stdout, stderr strings.Builder
	if code := run(forkArgs(dir), &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	if unstaged := git(t, dir, "diff", "--stat"); unstaged != "" {
		t.Errorf("unstaged changes:\n%s", unstaged)
	}
	// types.go keeps most of its lines, so git sees the move; the example
	// object is too small for that, so only the index tells.
	moves := git(t, dir, "diff", "--cached", "-M", "--name-status")
	if want := from.apiDir() + "/types.go\t" + to.apiDir() + "/types.go"; !strings.Contains(moves, want) {
		t.Errorf("the staged change does not move %s:\n%s", want, moves)
	}
	index := "\n" + git(t, dir, "ls-files")
	if !strings.Contains(index, "\nartifacts/examples/"+to.example()+".yaml\n") || strings.Contains(index, "\nartifacts/examples/"+from.example()+".yaml\n") {
		t.Errorf("the index does not have %s instead of %s", to.example(), from.example())
	}
	if !strings.Contains(stdout.String(), "to   widgets.example.org/v2beta1 Widget (widgets, short name wid) in module example.org/widget-operator/v3, named widget-ctl") {
		t.Errorf("stdout does not say what the fork is:\n%s", stdout.String())
	}
}
