package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// A plan is the whole fork, computed before anything is written, so that
// any error leaves the tree untouched.
type plan struct {
	root    string
	old     identity
	new     identity
	writes  map[string][]byte // path: new content
	modes   map[string]os.FileMode
	removes []string // paths that go away (moved, or generated)
	moved   map[string]string
	// regenerate: hack/update-codegen.sh runs next and removes the stale
	// clients itself (they carry code-generator's header), so pkg/generated
	// stays until then.
	regenerate bool
}

// skipped are files the fork never rewrites: itself (it names no identity
// and its tests keep theirs), and module checksums.
func skipped(f string) bool {
	return strings.HasPrefix(f, "hack/fork/") || path.Base(f) == "go.sum"
}

// generated reports whether a file is code generator output that the
// fork removes and hack/update-codegen.sh writes again under the new names.
func generated(f string, o identity) bool {
	return strings.HasPrefix(f, "pkg/generated/") ||
		path.Dir(f) == o.apiDir() && strings.HasPrefix(path.Base(f), "zz_generated")
}

func isBinary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0
}

// movedPath is where a file goes: the API package moves to
// pkg/apis/<group>/<version>, and the example object is named after the kind.
func movedPath(f string, o, n identity) string {
	if rest, ok := strings.CutPrefix(f, o.apiDir()+"/"); ok {
		f = n.apiDir() + "/" + rest
	}
	dir, base := path.Split(f)
	if rest, ok := strings.CutPrefix(base, o.example()+"."); ok {
		base = n.example() + "." + rest
	}
	return dir + base
}

// planFork computes the fork of the files (paths relative to root, slash
// separated) from identity o to n.
func planFork(root string, files []string, o, n identity, regenerate bool) (*plan, error) {
	p := &plan{root: root, old: o, new: n, writes: map[string][]byte{}, modes: map[string]os.FileMode{}, moved: map[string]string{}, regenerate: regenerate}
	if o.apiDir() != n.apiDir() {
		if _, err := os.Stat(filepath.Join(root, n.apiDir())); err == nil {
			return nil, fmt.Errorf("%s exists already; the fork moves %s there", n.apiDir(), o.apiDir())
		}
	}
	tracked := map[string]bool{}
	for _, f := range files {
		tracked[f] = true
	}
	apiNames, err := apiDecls(root, o)
	if err != nil {
		return nil, err
	}
	rw := rewriters{text: textRules(o, n, apiNames), goFiles: newGoRewriter(o, n, apiNames)}
	for _, f := range files {
		if err := p.planFile(f, tracked, rw); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// rewriters are the rules a fork applies: to Go files, and to the text of
// every other file.
type rewriters struct {
	text    *replacer
	goFiles *goRewriter
}

// planFile adds to p what the fork does to the tracked file f: nothing for
// skipped and non-regular files; a removal for generated code (unless it is
// regenerated in place); else its rewritten contents at its new path, if
// either differs.
func (p *plan) planFile(f string, tracked map[string]bool, rw rewriters) error {
	o, n := p.old, p.new
	if skipped(f) {
		return nil
	}
	if generated(f, o) {
		if !p.regenerate || !strings.HasPrefix(f, "pkg/generated/") {
			p.removes = append(p.removes, f)
		}
		return nil
	}
	full := filepath.Join(p.root, filepath.FromSlash(f))
	info, err := os.Lstat(full)
	if err != nil || !info.Mode().IsRegular() {
		return err
	}
	data, err := os.ReadFile(full)
	if err != nil {
		return err
	}
	to := movedPath(f, o, n)
	if to != f {
		if tracked[to] || fileExists(filepath.Join(p.root, filepath.FromSlash(to))) {
			return fmt.Errorf("cannot move %s to %s: it exists already", f, to)
		}
		p.moved[f] = to
		p.removes = append(p.removes, f)
	}
	out := data
	switch {
	case isBinary(data):
	case strings.HasSuffix(f, ".go"):
		if out, err = rw.goFiles.rewrite(f, data, path.Dir(f) == o.apiDir()); err != nil {
			return err
		}
	default:
		out = []byte(rw.text.replace(string(data), nil))
	}
	if to != f || !bytes.Equal(out, data) {
		p.writes[to] = out
		p.modes[to] = info.Mode().Perm()
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// apply writes the plan: new and changed files first, then removals, then
// the directories left empty.
func (p *plan) apply() error {
	paths := make([]string, 0, len(p.writes))
	for f := range p.writes {
		paths = append(paths, f)
	}
	sort.Strings(paths)
	for _, f := range paths {
		full := filepath.Join(p.root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, p.writes[f], p.modes[f]); err != nil {
			return err
		}
	}
	for _, f := range p.removes {
		if _, rewritten := p.writes[f]; rewritten {
			continue
		}
		if err := os.Remove(filepath.Join(p.root, filepath.FromSlash(f))); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return p.prune()
}

// prune removes the directories the fork emptied: the old API package and
// what code-generator left of the old generated packages.
func (p *plan) prune() error {
	for _, dir := range []string{"pkg/generated", path.Dir(p.old.apiDir())} {
		if err := pruneEmpty(filepath.Join(p.root, filepath.FromSlash(dir))); err != nil {
			return err
		}
	}
	return nil
}

// pruneEmpty removes the empty directories under dir, and dir if that
// leaves it empty.
func pruneEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	left := len(entries)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if err := pruneEmpty(sub); err != nil {
			return err
		}
		if !fileExists(sub) {
			left--
		}
	}
	if left == 0 {
		return os.Remove(dir)
	}
	return nil
}

// A finding is a line that still names the old identity after the fork.
type finding struct {
	file string
	line int
	text string
}

func (f finding) String() string { return fmt.Sprintf("%s:%d: %s", f.file, f.line, f.text) }

// residue finds what a fork from o to n left behind: the old module, group
// (or a domain under it),
// API package path, name, metric and environment prefixes, and the kind as a
// word, in any text outside Go identifiers (Go identifiers of the
// controller's own are the user's to rename). A spelling that the new
// identity keeps is not looked for.
func residue(root string, files []string, o, n identity) ([]finding, error) {
	r := &replacer{}
	look := func(old, new string, left, right func(string, int) bool) {
		if old != new && !strings.Contains(new, old) {
			r.add(old, "", left, right)
		}
	}
	look(o.Module, n.Module, anything, moduleRight)
	look(o.Group, n.Group, groupLeft, domainRight)
	look(o.groupPkg()+"/"+o.Version, n.groupPkg()+"/"+n.Version, pathLeft, notAlnumRight)
	look(o.Name, n.Name, notNameLeft, notWordRight)
	look(o.metrics(), n.metrics(), notWordLeft, notAlnumRight)
	look(o.env(), n.env(), notWordLeft, notAlnumRight)
	look(o.kindPlural(), n.kindPlural(), notWordLeft, notWordRight)
	look(o.Kind, n.Kind, notWordLeft, notWordRight)
	return scan(root, files, r, o, true)
}

// collisions finds the new group (or a domain under it) and module where
// the code already uses them for something else, e.g. a test's "another
// group": after the fork the two would be one, and nothing could tell them
// apart. Only Go string literals count; prose may mention any name.
func collisions(root string, files []string, o, n identity) ([]finding, error) {
	r := &replacer{}
	if n.Group != o.Group {
		r.add(n.Group, "", groupLeft, domainRight)
	}
	if n.Module != o.Module {
		r.add(n.Module, "", anything, moduleRight)
	}
	return scan(root, files, r, o, false)
}

// scan finds where the rules of r match: in Go files in string literals
// (and comments, with comments set), elsewhere in the whole text.
func scan(root string, files []string, r *replacer, o identity, comments bool) ([]finding, error) {
	var found []finding
	if len(r.rules) == 0 {
		return nil, nil
	}
	for _, f := range files {
		if skipped(f) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		if isBinary(data) {
			continue
		}
		var at []int
		switch {
		case strings.HasSuffix(f, ".go"):
			if at, err = goMatches(f, data, r, o, comments); err != nil {
				return nil, err
			}
		case comments:
			at = r.find(string(data), nil)
		}
		for _, offset := range at {
			line, text := lineAt(data, offset)
			found = append(found, finding{f, line, text})
		}
	}
	return found, nil
}

// goMatches returns the offsets in the Go file f where the rules of r match
// inside string literals, and inside comments too when comments is set.
func goMatches(f string, data []byte, r *replacer, o identity, comments bool) ([]int, error) {
	keep, err := docWordExceptions(f, data, o)
	if err != nil {
		return nil, err
	}
	var found []int
	fset := token.NewFileSet()
	tf := fset.AddFile(f, -1, len(data))
	var s scanner.Scanner
	s.Init(tf, data, nil, scanner.ScanComments)
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return found, nil
		}
		if tok != token.STRING && (tok != token.COMMENT || !comments) {
			continue
		}
		base := tf.Offset(pos)
		var skip map[int]bool
		if keep[base] {
			skip = map[int]bool{3: true}
		}
		for _, at := range r.find(lit, skip) {
			found = append(found, base+at)
		}
	}
}

// lineAt returns the number and the trimmed text of the line of data that
// holds offset.
func lineAt(data []byte, offset int) (int, string) {
	line := bytes.Count(data[:offset], []byte("\n")) + 1
	start := bytes.LastIndexByte(data[:offset], '\n') + 1
	end := bytes.IndexByte(data[offset:], '\n')
	if end < 0 {
		end = len(data) - offset
	}
	return line, strings.TrimSpace(string(data[start : offset+end]))
}

// docWordExceptions are the offsets of doc comments that begin with the
// name of what they document, when that name is spelled like the kind but
// is not the API's: "// Network is the configuration list's name." above a
// field Network of a CNI helper. The fork keeps such a first word; residue
// does not count it.
func docWordExceptions(filename string, src []byte, o identity) (map[int]bool, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, filename, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	tf := fset.File(file.Pos())
	out := map[int]bool{}
	note := func(doc *ast.CommentGroup, names ...*ast.Ident) {
		if doc == nil {
			return
		}
		for _, n := range names {
			if (n.Name == o.Kind || n.Name == o.kindPlural()) && strings.HasPrefix(doc.List[0].Text, "// "+n.Name+" ") {
				out[tf.Offset(doc.List[0].Slash)] = true
			}
		}
	}
	ast.Inspect(file, func(node ast.Node) bool {
		switch x := node.(type) {
		case *ast.Field:
			note(x.Doc, x.Names...)
		case *ast.FuncDecl:
			note(x.Doc, x.Name)
		case *ast.GenDecl:
			for _, spec := range x.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					note(x.Doc, s.Name)
					note(s.Doc, s.Name)
				case *ast.ValueSpec:
					note(x.Doc, s.Names...)
					note(s.Doc, s.Names...)
				}
			}
		}
		return true
	})
	return out, nil
}
