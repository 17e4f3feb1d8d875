package main

import (
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"sort"
	"strconv"
	"strings"
)

// goRewriter rewrites Go source with the syntax tree at hand, so that each
// rule applies only where it means the project's API:
//
//   - import paths of the module, and the API and generated packages
//     (pkg/apis/<group>/<version>, pkg/generated/.../<group>/<version>);
//   - import aliases named after the API package (samplecrdv1...);
//   - names selected from the API and generated packages: samplecrdv1.Network,
//     listers.NetworkLister, NetworkSpecApplyConfiguration;
//   - the methods generated clients, listers and informers have:
//     .Networks(ns), .SamplecrdV1(), .Samplecrd().V1();
//   - every name declared in the API package itself, and its package clause;
//   - string literals and comments, with the text rules, plus arguments to
//     kubectl, where network and network/NAME are the resource.
//
// Everything else is left as it is: the controller's own identifiers
// (syncNetwork, networksLister), names from other packages
// (nadv1.NetworkAttachmentDefinition, libcni's AddNetworkList), struct tags.
type goRewriter struct {
	old, new identity
	text     *replacer
	apiDoc   *replacer
}

// newGoRewriter rewrites from o to n; apiNames are the names the API
// package declares, which comments and strings may mention too.
func newGoRewriter(o, n identity, apiNames []string) *goRewriter {
	return &goRewriter{old: o, new: n, text: textRules(o, n, apiNames), apiDoc: apiDocRules(o, n, apiNames)}
}

type edit struct {
	start, end int
	text       string
}

// ours reports whether an import path is one of the module's API or
// generated packages, whose exported names follow the kind.
func (g *goRewriter) ours(path string) bool {
	return strings.HasPrefix(path, g.old.Module+"/pkg/apis/") || strings.HasPrefix(path, g.old.Module+"/pkg/generated/")
}

// importPath maps an import path of the old module to the new one, moving
// the group and version elements of the API and generated packages.
func (g *goRewriter) importPath(path string) string {
	rest, ok := strings.CutPrefix(path, g.old.Module)
	if !ok || rest != "" && rest[0] != '/' {
		return path
	}
	if g.ours(path) {
		elems := strings.Split(rest, "/")
		for i, e := range elems {
			if e == g.old.groupPkg() && (i+1 == len(elems) || elems[i+1] == g.old.Version) {
				elems[i] = g.new.groupPkg()
				if i+1 < len(elems) {
					elems[i+1] = g.new.Version
				}
			}
		}
		rest = strings.Join(elems, "/")
	}
	return g.new.Module + rest
}

// apiName renames an exported name of the API or generated packages: the
// kind where it stands as a word of the name (Network, NetworkSpec,
// NewFilteredNetworkInformer, NetworksGetter) and the group-version
// (FakeSamplecrdV1).
func apiName(o, n identity, name string) string {
	type word struct{ old, new string }
	ws := []word{
		{o.groupGo() + o.versionGo(), n.groupGo() + n.versionGo()},
		{o.kindPlural(), n.kindPlural()},
		{o.Kind, n.Kind},
	}
	var b strings.Builder
	for i := 0; i < len(name); {
		done := false
		for _, w := range ws {
			if strings.HasPrefix(name[i:], w.old) && wordEnds(name, i+len(w.old)) {
				b.WriteString(w.new)
				i += len(w.old)
				done = true
				break
			}
		}
		if !done {
			b.WriteByte(name[i])
			i++
		}
	}
	return b.String()
}

// wordEnds reports whether a CamelCase word of name ends at i.
func wordEnds(name string, i int) bool {
	if i == len(name) {
		return true
	}
	c := name[i]
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// rewrite returns the Go file src renamed from g.old to g.new, as text
// edits on the original bytes (so comments and layout survive), then
// gofmt'ed. A file of the API package (inAPI) has every identifier of the
// old kind renamed; any other file only the names it takes from the API and
// generated packages, the strings that name the API, and its comments.
func (g *goRewriter) rewrite(filename string, src []byte, inAPI bool) ([]byte, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, filename, src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	r := &fileRewrite{g: g, src: src, file: file, tf: fset.File(file.Pos()), inAPI: inAPI,
		pkgRename: map[string]string{}, ourPkg: map[string]bool{}, external: map[string]bool{},
		skipIdent: map[*ast.Ident]bool{file.Name: true}, skipLit: map[*ast.BasicLit]bool{}, kubectlLit: map[*ast.BasicLit]bool{}}
	r.imports()
	if inAPI {
		r.rename(file.Name, g.new.Version)
	}
	ast.Inspect(file, r.visit)
	if err := r.comments(filename); err != nil {
		return nil, err
	}

	out, err := applyEdits(src, r.edits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	formatted, err := format.Source(out)
	if err != nil {
		return nil, fmt.Errorf("%s: the rewritten file does not parse (a bug in the fork): %w", filename, err)
	}
	return formatted, nil
}

// fileRewrite collects the edits of one Go file.
type fileRewrite struct {
	g     *goRewriter
	src   []byte
	file  *ast.File
	tf    *token.File
	inAPI bool
	edits []edit

	pkgRename map[string]string // package name in this file: its new name
	ourPkg    map[string]bool   // package names of the API and generated packages
	external  map[string]bool   // every other imported package name

	skipIdent  map[*ast.Ident]bool    // identifiers already decided
	skipLit    map[*ast.BasicLit]bool // strings never rewritten: import paths, struct tags
	kubectlLit map[*ast.BasicLit]bool // strings passed to kubectl, whose words follow kubectl's rules
}

func (r *fileRewrite) off(p token.Pos) int { return r.tf.Offset(p) }

// rename replaces id with to, when they differ.
func (r *fileRewrite) rename(id *ast.Ident, to string) {
	if to != id.Name {
		r.edits = append(r.edits, edit{r.off(id.Pos()), r.off(id.End()), to})
	}
}

// imports rewrites the import paths and records the names they bring into
// the file: the project's own packages, renamed with their paths, and the
// others, whose selectors are left alone.
func (r *fileRewrite) imports() {
	g := r.g
	for _, spec := range r.file.Imports {
		r.skipLit[spec.Path] = true
		if spec.Name != nil {
			r.skipIdent[spec.Name] = true
		}
		path, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			continue
		}
		newPath := g.importPath(path)
		if newPath != path {
			r.edits = append(r.edits, edit{r.off(spec.Path.Pos()), r.off(spec.Path.End()), strconv.Quote(newPath)})
		}
		var name, newName string
		switch {
		case spec.Name != nil && (spec.Name.Name == "_" || spec.Name.Name == "."):
			continue
		case spec.Name != nil:
			name, newName = spec.Name.Name, spec.Name.Name
			if strings.HasPrefix(name, g.old.alias()) && g.ours(path) {
				newName = g.new.alias() + name[len(g.old.alias()):]
				r.rename(spec.Name, newName)
			}
		default:
			name, newName = lastElem(path), lastElem(newPath)
		}
		if g.ours(path) {
			r.ourPkg[name] = true
			r.pkgRename[name] = newName
		} else {
			r.external[name] = true
		}
	}
}

// visit decides the edits of one syntax node; ast.Inspect calls it.
func (r *fileRewrite) visit(node ast.Node) bool {
	g := r.g
	switch x := node.(type) {
	case *ast.Field:
		if x.Tag != nil {
			r.skipLit[x.Tag] = true
		}
		// A field named as the generated methods are (Informers.Networks):
		// its selectors are renamed with theirs, so it must be too.
		for _, name := range x.Names {
			r.renamePlural(name)
		}
	case *ast.KeyValueExpr:
		// That field's key in a composite literal.
		if key, ok := x.Key.(*ast.Ident); ok {
			r.renamePlural(key)
		}
	case *ast.FuncDecl:
		if !r.inAPI && x.Recv != nil && x.Name.Name == g.old.kindPlural() {
			// A method implementing a generated interface (a fake lister).
			r.rename(x.Name, g.new.kindPlural())
			r.skipIdent[x.Name] = true
		}
	case *ast.SelectorExpr:
		return r.selector(x)
	case *ast.CallExpr:
		if g.isKubectl(r.src, r.off, x) {
			for _, arg := range x.Args {
				if lit := leftmostString(arg); lit != nil {
					r.kubectlLit[lit] = true
				}
			}
		}
	case *ast.Ident:
		if r.inAPI && !r.skipIdent[x] {
			r.rename(x, apiName(g.old, g.new, x.Name))
		}
	case *ast.BasicLit:
		if x.Kind == token.STRING && !r.skipLit[x] {
			if v, ok := g.stringLit(x.Value, r.kubectlLit[x]); ok {
				r.edits = append(r.edits, edit{r.off(x.Pos()), r.off(x.End()), v})
			}
		}
	}
	return true
}

// renamePlural renames id, outside the API package, when it is the kind's
// plural (Networks), as selector renames a selector of that name.
func (r *fileRewrite) renamePlural(id *ast.Ident) {
	if r.inAPI || r.skipIdent[id] || id.Name != r.g.old.kindPlural() {
		return
	}
	r.rename(id, r.g.new.kindPlural())
	r.skipIdent[id] = true
}

// selector renames pkg.Name when pkg is one of the project's packages (and
// leaves other packages' selectors alone), and the methods generated code
// names after the group, version and kind: f.Samplecrd().V1().Networks().
// It reports whether to look inside x.
func (r *fileRewrite) selector(x *ast.SelectorExpr) bool {
	g := r.g
	if pkg, ok := x.X.(*ast.Ident); ok && pkg.Obj == nil && (r.ourPkg[pkg.Name] || r.external[pkg.Name]) {
		r.skipIdent[pkg] = true
		r.skipIdent[x.Sel] = true
		if r.ourPkg[pkg.Name] {
			r.rename(pkg, r.pkgRename[pkg.Name])
			r.rename(x.Sel, apiName(g.old, g.new, x.Sel.Name))
		}
		return false
	}
	// The group and version methods of informer factories, matched as a
	// pair first: a group's Go name can be the kind's plural too
	// (widgets.example.org, Widget).
	if x.Sel.Name == g.old.versionGo() {
		if call, ok := x.X.(*ast.CallExpr); ok {
			if fun, ok := call.Fun.(*ast.SelectorExpr); ok && fun.Sel.Name == g.old.groupGo() && !r.skipIdent[fun.Sel] {
				r.rename(x.Sel, g.new.versionGo())
				r.rename(fun.Sel, g.new.groupGo())
				r.skipIdent[fun.Sel] = true
			}
		}
	}
	if !r.skipIdent[x.Sel] {
		switch x.Sel.Name {
		case g.old.kindPlural():
			r.rename(x.Sel, g.new.kindPlural())
		case g.old.groupGo() + g.old.versionGo():
			r.rename(x.Sel, g.new.groupGo()+g.new.versionGo())
		case g.old.groupGo():
			r.rename(x.Sel, g.new.groupGo())
		}
	}
	r.skipIdent[x.Sel] = true
	return true
}

// comments rewrites the comments: the kind's own doc comment in full, the
// others by the text rules (the API package's own in the API package),
// keeping the words docWordExceptions finds must stay.
func (r *fileRewrite) comments(filename string) error {
	g := r.g
	var keepDocWord map[int]bool
	if !r.inAPI {
		var err error
		if keepDocWord, err = docWordExceptions(filename, r.src, g.old); err != nil {
			return err
		}
	}
	kindDoc := g.kindDoc(r.file, r.inAPI)
	rules := g.text
	if r.inAPI {
		rules = g.apiDoc
	}
	for _, cg := range r.file.Comments {
		if cg == kindDoc {
			r.edits = append(r.edits, edit{r.off(cg.Pos()), r.off(cg.End()), g.rewriteKindDoc(cg)})
			continue
		}
		for _, c := range cg.List {
			var skip map[int]bool
			if keepDocWord[r.off(c.Slash)] {
				skip = map[int]bool{3: true}
			}
			if t := rules.replace(c.Text, skip); t != c.Text {
				r.edits = append(r.edits, edit{r.off(c.Pos()), r.off(c.End()), t})
			}
		}
	}
	return nil
}

func lastElem(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }

// isKubectl reports whether a call runs kubectl: its function or its first
// argument says so (c.kubectl(...), exec.Command(kubectlPath, ...)).
func (g *goRewriter) isKubectl(src []byte, off func(token.Pos) int, call *ast.CallExpr) bool {
	says := func(e ast.Expr) bool {
		return strings.Contains(strings.ToLower(string(src[off(e.Pos()):off(e.End())])), "kubectl")
	}
	return says(call.Fun) || len(call.Args) > 0 && says(call.Args[0])
}

// leftmostString is the string literal an argument starts with:
// "network/"+name starts with "network/".
func leftmostString(e ast.Expr) *ast.BasicLit {
	for {
		switch x := e.(type) {
		case *ast.BasicLit:
			if x.Kind == token.STRING {
				return x
			}
			return nil
		case *ast.BinaryExpr:
			if x.Op != token.ADD {
				return nil
			}
			e = x.X
		default:
			return nil
		}
	}
}

// stringLit rewrites a string literal. A literal that is exactly the kind,
// the plural or "_"+plural (a metric name suffix) names the resource; in a
// kubectl argument so does the singular, the short name and NAME/....
func (g *goRewriter) stringLit(lit string, kubectl bool) (string, bool) {
	s, err := strconv.Unquote(lit)
	if err != nil {
		return "", false
	}
	o, n := g.old, g.new
	var t string
	switch {
	case s == o.Kind:
		t = n.Kind
	case s == o.Plural:
		t = n.Plural
	case s == "_"+o.Plural:
		t = "_" + n.Plural
	case kubectl && s == o.singular():
		t = n.singular()
	case kubectl && o.ShortName != "" && s == o.ShortName:
		t = n.ShortName
	case kubectl && strings.HasPrefix(s, o.singular()+"/"):
		t = n.singular() + "/" + g.text.replace(s[len(o.singular())+1:], nil)
	case kubectl && strings.HasPrefix(s, o.Plural+"/"):
		t = n.Plural + "/" + g.text.replace(s[len(o.Plural)+1:], nil)
	default:
		t = g.text.replace(s, nil)
	}
	if t == s {
		return "", false
	}
	switch {
	case lit[0] == '`' && !strings.Contains(t, "`"):
		return "`" + t + "`", true
	case lit[0] == '"' && !strings.ContainsAny(lit, `\`) && !strings.ContainsAny(t, "\"\\\n"):
		return `"` + t + `"`, true
	}
	return strconv.Quote(t), true
}

// kindDoc is the doc comment of the kind's type in the API package: the
// markers controller-gen and client-gen read.
func (g *goRewriter) kindDoc(file *ast.File, inAPI bool) *ast.CommentGroup {
	if !inAPI {
		return nil
	}
	for _, decl := range file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			if doc := typeDoc(gd, ts); ts.Name.Name == g.old.Kind && doc != nil {
				return doc
			}
		}
	}
	return nil
}

const (
	resourceMarker = "+kubebuilder:resource:"
	approvedMarker = `+kubebuilder:metadata:annotations="api-approved.kubernetes.io=`
	resourceName   = "+resourceName="
)

// rewriteKindDoc rewrites the kind's doc comment: its prose with the text
// rules, and its markers for the new names:
//
//   - +kubebuilder:resource gets the short name and an explicit path (the
//     plural), so that controller-gen's English plural cannot differ from
//     the one chosen here;
//   - +resourceName, for client-gen, when the plural is not the one it
//     would derive from the kind;
//   - the api-approved.kubernetes.io annotation exactly when the group is
//     under k8s.io or kubernetes.io, where the API server requires it.
func (g *goRewriter) rewriteKindDoc(cg *ast.CommentGroup) string {
	n := g.new
	var lines []string
	hasApproved := false
	for _, c := range cg.List {
		line := g.apiDoc.replace(c.Text, nil)
		marker := strings.TrimSpace(strings.TrimPrefix(line, "//"))
		switch {
		case strings.HasPrefix(marker, resourceName):
			continue
		case strings.HasPrefix(marker, approvedMarker):
			if !n.protectedGroup() {
				continue
			}
			hasApproved = true
		case strings.HasPrefix(marker, resourceMarker):
			line = "// " + resourceMarker + g.resourceArgs(strings.TrimPrefix(marker, resourceMarker))
		}
		lines = append(lines, line)
	}
	// The annotation goes after the resource and subresource markers.
	approvedAfter := -1
	for i, line := range lines {
		marker := strings.TrimSpace(strings.TrimPrefix(line, "//"))
		if strings.HasPrefix(marker, resourceMarker) || strings.HasPrefix(marker, "+kubebuilder:subresource:") {
			approvedAfter = i
		}
	}
	var out []string
	for i, line := range lines {
		out = append(out, line)
		marker := strings.TrimSpace(strings.TrimPrefix(line, "//"))
		if marker == "+genclient" && n.Plural != strings.ToLower(n.kindPlural()) {
			out = append(out, "// "+resourceName+n.Plural)
		}
		if i == approvedAfter && n.protectedGroup() && !hasApproved {
			out = append(out, "// "+approvedMarker+"unapproved, example API for the "+n.Name+` project, not part of Kubernetes"`)
		}
	}
	return strings.Join(out, "\n")
}

// resourceArgs sets shortName and path in the arguments of a
// +kubebuilder:resource marker, keeping the others in their order.
func (g *goRewriter) resourceArgs(args string) string {
	var out []string
	sawShort, sawPath := false, false
	for _, kv := range strings.Split(args, ",") {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.TrimSpace(k) {
		case "shortName":
			sawShort = true
			if g.new.ShortName == "" {
				continue
			}
			kv = "shortName=" + g.new.ShortName
		case "path":
			sawPath = true
			kv = "path=" + g.new.Plural
		}
		out = append(out, kv)
	}
	if !sawShort && g.new.ShortName != "" {
		out = append(out, "shortName="+g.new.ShortName)
	}
	if !sawPath {
		out = append(out, "path="+g.new.Plural)
	}
	return strings.Join(out, ",")
}

func applyEdits(src []byte, edits []edit) ([]byte, error) {
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var b strings.Builder
	last := 0
	for _, e := range edits {
		if e.start < last {
			return nil, fmt.Errorf("overlapping edits at offset %d (a bug in the fork)", e.start)
		}
		b.Write(src[last:e.start])
		b.WriteString(e.text)
		last = e.end
	}
	b.Write(src[last:])
	return []byte(b.String()), nil
}
