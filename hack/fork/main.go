// Command fork makes this project your own in one step: it renames the Go
// module, the API group, version and kind, and the project's name
// everywhere they are spelled, then regenerates the clients and the CRD.
//
//	go run ./hack/fork -module github.com/example/subnet-controller \
//	    -group example.com -version v1alpha1 -kind Subnet
//
// The plural (subnets), the short name (sub) and the project's name
// (subnet-controller, the module's last element) are derived; -plural,
// -short-name and -name override them.
//
// It reads the current names from the tree (go.mod, the one package under
// pkg/apis, its +genclient type), so a fork can be forked again. It refuses
// bad names and a work tree with uncommitted changes before it changes
// anything; the result is one change to review with git diff and commit.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is an error in what the fork was asked to do: exit status 2,
// and nothing was changed.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func refuse(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func run(args []string, stdout, stderr io.Writer) int {
	err := fork(args, stdout, stderr)
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "fork: %v\nNothing was changed.\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "fork: %v\n", err)
		return 1
	}
}

// fork renames the project in the work tree: it reads the new identity
// from args, refuses a dirty tree or a name the code already uses for
// something else, plans every edit before writing any, writes them,
// regenerates the generated code, and fails if any line still names the
// old identity. The result is staged for review.
func fork(args []string, stdout, stderr io.Writer) error {
	n, dir, codegen, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	root, files, err := cleanTree(dir)
	if err != nil {
		return err
	}
	o, err := detect(root)
	if err != nil {
		return fmt.Errorf("reading the current names from %s: %w", root, err)
	}
	clash, err := collisions(root, files, o, n)
	if err != nil {
		return err
	}
	if len(clash) > 0 {
		return refuse("the code already uses the new group or module for something else; after the fork nothing could tell the two apart. Choose another, or change these lines first:%s", listFindings(clash))
	}
	p, err := planFork(root, files, o, n, codegen)
	if err != nil {
		return fmt.Errorf("%w\nNothing was changed.", err)
	}
	fmt.Fprintf(stdout, "fork: from %s\nfork: to   %s\n", o, n)
	if err := p.apply(); err != nil {
		return fmt.Errorf("writing the fork (the tree is partly rewritten; git checkout . && git clean -fd undoes it): %w", err)
	}
	fmt.Fprintf(stdout, "fork: rewrote %d files, moved %s to %s\n", len(p.writes), o.apiDir(), n.apiDir())
	if codegen {
		if err := regenerate(root, p, stdout, stderr); err != nil {
			return err
		}
	}
	if err := checkResidue(root, o, n); err != nil {
		return err
	}
	// Staged, git shows the moves as moves, and make verify (which lists
	// files with git ls-files) sees the tree as it now is.
	if _, err := gitOutput(root, "add", "-A"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fork: done and staged. Review with git diff --cached -M --stat, then: make verify test-unit && git commit\n")
	return nil
}

// parseFlags reads the new identity from the command line and completes it
// with its derived names; it returns the repository's directory and whether
// to regenerate code afterwards. Every refusal is a usageError.
func parseFlags(args []string, stderr io.Writer) (n identity, dir string, codegen bool, err error) {
	fs := flag.NewFlagSet("fork", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&dir, "C", ".", "the repository to fork, in place")
	fs.StringVar(&n.Module, "module", "", "new Go module path, e.g. github.com/example/subnet-controller (required)")
	fs.StringVar(&n.Group, "group", "", "new API group, a DNS subdomain with a dot, e.g. example.com (required)")
	fs.StringVar(&n.Version, "version", "", "new API version, e.g. v1, v1alpha1, v2beta3 (required)")
	fs.StringVar(&n.Kind, "kind", "", "new kind, CamelCase, e.g. Subnet (required)")
	fs.StringVar(&n.Plural, "plural", "", "resource name (default: the lower-case plural of the kind, as code-generator forms it)")
	fs.StringVar(&n.ShortName, "short-name", "", "kubectl short name (default: the initials of a multi-word kind, else its first three letters)")
	fs.StringVar(&n.Name, "name", "", "project name: binary, Namespace, Deployment, Event component, metric prefix (default: the module's last element)")
	fs.BoolVar(&codegen, "codegen", true, "run hack/update-codegen.sh afterwards")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./hack/fork -module PATH -group GROUP -version VERSION -kind KIND [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return n, "", false, err
		}
		return n, "", false, refuse("%v", err)
	}
	if fs.NArg() > 0 {
		return n, "", false, refuse("unexpected arguments %q; every value is a flag", fs.Args())
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"-module", n.Module}, {"-group", n.Group}, {"-version", n.Version}, {"-kind", n.Kind}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return n, "", false, refuse("missing %s (run with -h for help)", strings.Join(missing, ", "))
	}
	if n, err = complete(n); err != nil {
		return n, "", false, refuse("%v", err)
	}
	return n, dir, codegen, nil
}

// cleanTree returns the root of the git work tree holding dir and the files
// git tracks there, and refuses a tree with uncommitted changes: the fork
// rewrites it in place, so that git diff shows the fork alone and git
// checkout undoes it.
func cleanTree(dir string) (root string, files []string, err error) {
	root, err = gitOutput(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", nil, refuse("%s is not in a git work tree (%v): the fork rewrites it in place, so that git diff shows the change and git checkout undoes it", dir, err)
	}
	root = strings.TrimSpace(root)
	status, err := gitOutput(root, "status", "--porcelain")
	if err != nil {
		return "", nil, err
	}
	if status != "" {
		lines := strings.Split(strings.TrimRight(status, "\n"), "\n")
		return "", nil, refuse("the work tree has %d uncommitted change(s), e.g. %q: commit or discard them first, so that the fork is one change of its own", len(lines), strings.TrimSpace(lines[0]))
	}
	listed, err := gitOutput(root, "ls-files", "-z")
	if err != nil {
		return "", nil, err
	}
	return root, strings.Split(strings.TrimRight(listed, "\x00"), "\x00"), nil
}

// regenerate runs hack/update-codegen.sh in the forked tree, then removes
// what the plan left for it to replace.
func regenerate(root string, p *plan, stdout, stderr io.Writer) error {
	fmt.Fprintln(stdout, "fork: regenerating clients, listers, informers, apply configurations and the CRD (hack/update-codegen.sh)")
	cmd := exec.Command(filepath.Join(root, "hack", "update-codegen.sh"))
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/update-codegen.sh: %w", err)
	}
	return p.prune()
}

// checkResidue fails, listing them, when lines of the forked tree (tracked
// or new, not ignored) still name the old identity.
func checkResidue(root string, o, n identity) error {
	listed, err := gitOutput(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return err
	}
	left, err := residue(root, strings.Split(strings.TrimRight(listed, "\x00"), "\x00"), o, n)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("the tree is forked, but %d line(s) still name the old identity; rename them by hand:%s", len(left), listFindings(left))
	}
	return nil
}

func listFindings(fs []finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s", f)
	}
	return b.String()
}

func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("git %s: %s", args[0], msg)
		}
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return string(out), nil
}
