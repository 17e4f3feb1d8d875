package main

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// detect reads the project's current identity from the tree at root, so
// that the fork names nothing itself and a fork can be forked again:
//
//   - the module from go.mod;
//   - group and version from the one API package pkg/apis/<group>/<version>
//     (its +groupName marker and its directory);
//   - the kind from the type marked +genclient there, the plural and short
//     name from its +kubebuilder:resource marker (else the CRD);
//   - the name from package main's controllerAgentName (else the module).
func detect(root string) (identity, error) {
	var id identity
	var err error
	if id.Module, err = moduleOf(root); err != nil {
		return id, err
	}
	apiDir, err := apiPackage(root)
	if err != nil {
		return id, err
	}
	id.Version = filepath.Base(apiDir)
	api, err := readAPIPackage(apiDir)
	if err != nil {
		return id, err
	}
	if api.group == "" {
		return id, fmt.Errorf("%s has no +groupName marker in its package comment", rel(root, apiDir))
	}
	if first := strings.SplitN(api.group, ".", 2)[0]; first != filepath.Base(filepath.Dir(apiDir)) {
		return id, fmt.Errorf("%s is not named after the first label of its group %s", rel(root, apiDir), api.group)
	}
	if len(api.kinds) != 1 {
		return id, fmt.Errorf("want exactly one type marked +genclient in %s, found %v", rel(root, apiDir), api.kinds)
	}
	id.Group, id.Kind, id.Plural, id.ShortName = api.group, api.kinds[0], api.plural, api.shortName
	if id.Plural == "" {
		id.Plural = crdPlural(filepath.Join(root, "artifacts", "examples", "crd.yaml"))
	}
	if id.Plural == "" {
		id.Plural = strings.ToLower(goPlural(id.Kind))
	}
	id.Name = agentName(root)
	if id.Name == "" {
		id.Name = deriveName(id.Module)
	}
	return id, nil
}

// moduleOf returns the module path go.mod at root declares.
func moduleOf(root string) (string, error) {
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`), nil
		}
	}
	return "", fmt.Errorf("go.mod has no module line")
}

// apiPackage returns the directory of the one API package,
// pkg/apis/<group>/<version>: the fork renames one group, version and kind.
func apiPackage(root string) (string, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "pkg", "apis", "*", "*", "doc.go"))
	if err != nil {
		return "", err
	}
	if len(dirs) != 1 {
		return "", fmt.Errorf("want exactly one API package pkg/apis/<group>/<version> with a doc.go, found %d: the fork renames one group, version and kind", len(dirs))
	}
	return filepath.Dir(dirs[0]), nil
}

// apiMarkers is what the markers of an API package say: its +groupName,
// the types marked +genclient, and the plural and short name of their
// +kubebuilder:resource markers (of the last such type).
type apiMarkers struct {
	group, plural, shortName string
	kinds                    []string
}

// readAPIPackage reads the markers of the API package in apiDir, leaving
// out tests and generated files.
func readAPIPackage(apiDir string) (apiMarkers, error) {
	var m apiMarkers
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, apiDir, func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go") && !strings.HasPrefix(fi.Name(), "zz_generated")
	}, parser.ParseComments)
	if err != nil {
		return m, err
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			if f.Doc != nil {
				if g := markerValue(f.Doc.Text(), "+groupName="); g != "" {
					m.group = g
				}
			}
			m.readTypes(f)
		}
	}
	return m, nil
}

// readTypes adds the types of f marked +genclient, with their resource
// markers, to m.
func (m *apiMarkers) readTypes(f *ast.File) {
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			doc := typeDoc(gd, ts)
			if doc == nil || !hasMarkerLine(doc, "+genclient") {
				continue
			}
			m.kinds = append(m.kinds, ts.Name.Name)
			res := markerArgs(doc, "+kubebuilder:resource:")
			if p := res["path"]; p != "" {
				m.plural = p
			}
			if s := res["shortName"]; s != "" {
				m.shortName = strings.Split(s, ";")[0]
			}
		}
	}
}

func rel(root, path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(r)
}

// typeDoc is the doc comment of a type: on the spec inside parentheses,
// else on the declaration.
func typeDoc(gd *ast.GenDecl, ts *ast.TypeSpec) *ast.CommentGroup {
	if ts.Doc != nil {
		return ts.Doc
	}
	return gd.Doc
}

func hasMarkerLine(doc *ast.CommentGroup, marker string) bool {
	for _, line := range strings.Split(doc.Text(), "\n") {
		if strings.TrimSpace(line) == marker {
			return true
		}
	}
	return false
}

// markerValue returns the value of a "+name=value" marker line.
func markerValue(text, prefix string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// markerArgs parses "+kubebuilder:resource:scope=Namespaced,shortName=net"
// into its arguments.
func markerArgs(doc *ast.CommentGroup, prefix string) map[string]string {
	args := map[string]string{}
	v := markerValue(doc.Text(), prefix)
	if v == "" {
		return args
	}
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(kv, "=")
		args[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return args
}

var crdPluralLine = regexp.MustCompile(`^\s+plural:\s*(\S+)\s*$`)

// crdPlural reads spec.names.plural from a CRD controller-gen wrote.
func crdPlural(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		if m := crdPluralLine.FindStringSubmatch(s.Text()); m != nil {
			return m[1]
		}
	}
	return ""
}

// agentName reads the string constant controllerAgentName from package
// main at the repository root: the Event component and field manager.
func agentName(root string) string {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, root, func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.SkipObjectResolution)
	if err != nil {
		return ""
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if n.Name != "controllerAgentName" || i >= len(vs.Values) {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if v, err := strconv.Unquote(lit.Value); err == nil {
								return v
							}
						}
					}
				}
			}
		}
	}
	return ""
}

// apiDecls lists the names the API package declares at its top level, the
// generated code's included.
func apiDecls(root string, o identity) ([]string, error) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, filepath.Join(root, filepath.FromSlash(o.apiDir())), nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, decl := range f.Decls {
				switch d := decl.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil {
						names = append(names, d.Name.Name)
					}
				case *ast.GenDecl:
					for _, spec := range d.Specs {
						switch s := spec.(type) {
						case *ast.TypeSpec:
							names = append(names, s.Name.Name)
						case *ast.ValueSpec:
							for _, n := range s.Names {
								names = append(names, n.Name)
							}
						}
					}
				}
			}
		}
	}
	return names, nil
}
