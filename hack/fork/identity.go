package main

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// identity is everything that names the project and its API. Every other
// spelling the fork rewrites is derived from these fields.
type identity struct {
	Module    string // Go module path: github.com/samplecrd/network-controller
	Name      string // the binary, its Namespace and Deployment, the Event component: network-controller
	Group     string // API group: samplecrd.k8s.io
	Version   string // API version: v1
	Kind      string // API kind: Network
	Plural    string // resource name: networks
	ShortName string // kubectl short name: net
}

// groupPkg is the Go package directory of the group, pkg/apis/<groupPkg>:
// its first DNS label, as code-generator names its packages.
func (id identity) groupPkg() string { return strings.SplitN(id.Group, ".", 2)[0] }

// groupGo is the group's Go name in generated clients: SamplecrdV1(),
// Samplecrd().V1(). client-gen capitalises the first label.
func (id identity) groupGo() string { return capitalize(id.groupPkg()) }

// versionGo is the version's Go name in generated clients: V1, V1alpha1.
func (id identity) versionGo() string { return capitalize(id.Version) }

// apiDir is the directory of the API types, relative to the repository.
func (id identity) apiDir() string { return "pkg/apis/" + id.groupPkg() + "/" + id.Version }

// alias is the conventional import alias of the API package: samplecrdv1.
func (id identity) alias() string { return id.groupPkg() + id.Version }

// singular is the resource's singular name, as controller-gen writes it.
func (id identity) singular() string { return strings.ToLower(id.Kind) }

// kindPlural is the Go plural of the kind in generated code: the
// Networks(namespace) of clientsets, listers and informers.
func (id identity) kindPlural() string { return goPlural(id.Kind) }

// metrics is the Prometheus subsystem of the controller's own metrics.
func (id identity) metrics() string { return strings.ReplaceAll(id.Name, "-", "_") }

// env is the prefix of the project's environment variables, e.g.
// NETWORK_CONTROLLER_CACHE.
func (id identity) env() string { return strings.ToUpper(id.metrics()) }

// example is the name of the example object, artifacts/examples/<example>.yaml.
func (id identity) example() string { return "example-" + id.singular() }

// protectedGroup reports whether the API server requires the
// api-approved.kubernetes.io annotation on CRDs of the group: those under
// k8s.io and kubernetes.io.
func (id identity) protectedGroup() bool {
	for _, d := range []string{"k8s.io", "kubernetes.io"} {
		if id.Group == d || strings.HasSuffix(id.Group, "."+d) {
			return true
		}
	}
	return false
}

func (id identity) String() string {
	return fmt.Sprintf("%s/%s %s (%s, short name %s) in module %s, named %s",
		id.Group, id.Version, id.Kind, id.Plural, id.ShortName, id.Module, id.Name)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// goPlural is the plural code-generator (gengo's plural namer) gives a type
// name; the generated clients, listers and informers use it, so the fork
// must predict it exactly. Endpoints is client-gen's one default exception.
func goPlural(kind string) string {
	if kind == "Endpoints" || len(kind) < 2 {
		return kind
	}
	last, before := kind[len(kind)-1], kind[len(kind)-2]
	isConsonant := strings.IndexByte("bcdfghjklmnpqrstvwxyz", before) >= 0
	switch {
	case last == 's' || last == 'x' || last == 'z':
		return kind + "es"
	case last == 'y' && isConsonant:
		return kind[:len(kind)-1] + "ies"
	case last == 'h' && (before == 'c' || before == 's'):
		return kind + "es"
	case last == 'e' && before == 'f':
		return kind[:len(kind)-2] + "ves"
	case last == 'f':
		return kind[:len(kind)-1] + "ves"
	}
	return kind + "s"
}

// words splits a CamelCase name into its words; a run of capitals is one
// word (CSIDriver: CSI, Driver).
func words(kind string) []string {
	var out []string
	start := 0
	r := []rune(kind)
	for i := 1; i < len(r); i++ {
		upper, prevUpper := unicode.IsUpper(r[i]), unicode.IsUpper(r[i-1])
		nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
		if upper && (!prevUpper || nextLower) {
			out = append(out, string(r[start:i]))
			start = i
		}
	}
	return append(out, string(r[start:]))
}

// deriveShortName proposes a kubectl short name: the initials of a
// multi-word kind (NetworkPolicy: np), else its first three letters
// (Network: net).
func deriveShortName(kind string) string {
	w := words(kind)
	if len(w) > 1 {
		var b strings.Builder
		for _, x := range w {
			b.WriteByte(x[0])
		}
		return strings.ToLower(b.String())
	}
	if len(kind) > 3 {
		return strings.ToLower(kind[:3])
	}
	return strings.ToLower(kind)
}

// deriveName proposes the project's name from its module path: the last
// element, skipping a major version suffix (example.com/foo-operator/v2:
// foo-operator).
func deriveName(module string) string {
	elems := strings.Split(module, "/")
	last := elems[len(elems)-1]
	if majorSuffix.MatchString(last) && len(elems) > 1 {
		last = elems[len(elems)-2]
	}
	return last
}

var (
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1035Label = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	goPkgName    = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	kubeVersion  = regexp.MustCompile(`^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$`)
	camelKind    = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	majorSuffix  = regexp.MustCompile(`^v[0-9]+$`)
	modulePathEl = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)
	domainEl     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
)

// kubectlShortNames are short names the built-in resources already use;
// a custom resource with one of them makes kubectl ambiguous.
var kubectlShortNames = map[string]bool{
	"cm": true, "crd": true, "crds": true, "cs": true, "csr": true, "deploy": true, "ds": true,
	"ep": true, "ev": true, "hpa": true, "ing": true, "limits": true, "netpol": true, "no": true,
	"ns": true, "pc": true, "pdb": true, "po": true, "pv": true, "pvc": true, "quota": true,
	"rc": true, "rs": true, "sa": true, "sc": true, "sts": true, "svc": true,
}

func validateModule(m string) error {
	if m == "" {
		return fmt.Errorf("is empty")
	}
	if strings.HasPrefix(m, "/") || strings.HasSuffix(m, "/") || strings.Contains(m, "//") {
		return fmt.Errorf("has an empty path element")
	}
	elems := strings.Split(m, "/")
	if !strings.Contains(elems[0], ".") || !domainEl.MatchString(elems[0]) {
		return fmt.Errorf("must start with a lower-case domain name such as github.com or example.com, not %q", elems[0])
	}
	for _, e := range elems {
		if !modulePathEl.MatchString(e) {
			return fmt.Errorf("element %q may only hold letters, digits and . _ ~ -", e)
		}
		if strings.HasPrefix(e, ".") || strings.HasSuffix(e, ".") || strings.HasPrefix(e, "-") {
			return fmt.Errorf("element %q may not start with . or - or end with .", e)
		}
	}
	if last := elems[len(elems)-1]; len(elems) > 1 && majorSuffix.MatchString(last) {
		if last == "v0" || last == "v1" || strings.HasPrefix(last, "v0") {
			return fmt.Errorf("ends in %s, which is not a major version suffix (those start at /v2)", last)
		}
		if len(elems) < 3 {
			return fmt.Errorf("has a major version suffix but no name before it")
		}
	}
	return nil
}

// validateName checks the project name: it names a Namespace, a Service
// (<name>-metrics, a DNS-1035 label of at most 63 characters) and the
// Prometheus subsystem.
func validateName(n string) error {
	const suffix = "-leader-election"
	if !dns1035Label.MatchString(n) {
		return fmt.Errorf("must be lower-case letters, digits and '-', starting with a letter and ending with a letter or digit (it names the Namespace, the Deployment and the metrics)")
	}
	if len(n)+len(suffix) > 63 {
		return fmt.Errorf("is %d characters; at most %d fit into %s%s", len(n), 63-len(suffix), n, suffix)
	}
	return nil
}

func validateGroup(g string) error {
	if !strings.Contains(g, ".") {
		return fmt.Errorf("must be a DNS subdomain with at least one dot, such as example.com (custom resources may not use a single-label group)")
	}
	if len(g) > 253 {
		return fmt.Errorf("is longer than 253 characters")
	}
	for _, l := range strings.Split(g, ".") {
		if len(l) > 63 || !dns1123Label.MatchString(l) {
			return fmt.Errorf("label %q must be 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit", l)
		}
	}
	if first := strings.SplitN(g, ".", 2)[0]; !goPkgName.MatchString(first) {
		return fmt.Errorf("first label %q names Go packages (pkg/apis/%s, the generated clients), so it must be lower-case letters and digits, starting with a letter", first, first)
	}
	return nil
}

func validateVersion(v string) error {
	if !kubeVersion.MatchString(v) {
		return fmt.Errorf("must be a Kubernetes API version: v1, v2, v1alpha1, v2beta3 (no v0, no leading zeros)")
	}
	return nil
}

func validateKind(k string) error {
	if !camelKind.MatchString(k) || strings.ToUpper(k) == k {
		return fmt.Errorf("must be CamelCase: an upper-case letter, then letters and digits, not all capitals (e.g. Subnet, NetworkPolicy)")
	}
	if len(k) > 63 {
		return fmt.Errorf("is longer than 63 characters")
	}
	return nil
}

func validatePlural(p string) error {
	if len(p) > 63 || !dns1035Label.MatchString(p) {
		return fmt.Errorf("must be a DNS-1035 label: lower-case letters, digits and '-', starting with a letter, at most 63 characters")
	}
	return nil
}

func validateShortName(s string) error {
	if len(s) > 63 || !dns1035Label.MatchString(s) {
		return fmt.Errorf("must be a DNS-1035 label: lower-case letters, digits and '-', starting with a letter")
	}
	if kubectlShortNames[s] {
		return fmt.Errorf("is the short name of a built-in resource; kubectl would be ambiguous")
	}
	return nil
}

// complete fills in what was not given (plural, short name, name) and
// checks every field, naming the flag that holds a bad value.
func complete(id identity) (identity, error) {
	checks := []struct {
		flag  string
		value *string
		check func(string) error
	}{
		{"-module", &id.Module, validateModule},
		{"-group", &id.Group, validateGroup},
		{"-version", &id.Version, validateVersion},
		{"-kind", &id.Kind, validateKind},
	}
	for _, c := range checks {
		if err := c.check(*c.value); err != nil {
			return id, fmt.Errorf("%s %q %w", c.flag, *c.value, err)
		}
	}
	derived := []struct {
		flag  string
		value *string
		make  func() string
		check func(string) error
	}{
		{"-plural", &id.Plural, func() string { return strings.ToLower(id.kindPlural()) }, validatePlural},
		{"-short-name", &id.ShortName, func() string { return deriveShortName(id.Kind) }, validateShortName},
		{"-name", &id.Name, func() string { return deriveName(id.Module) }, validateName},
	}
	for _, d := range derived {
		given := *d.value != ""
		if !given {
			*d.value = d.make()
		}
		if err := d.check(*d.value); err != nil {
			if given {
				return id, fmt.Errorf("%s %q %w", d.flag, *d.value, err)
			}
			return id, fmt.Errorf("%s: the derived value %q %w; pass %s", d.flag, *d.value, err, d.flag)
		}
	}
	if id.ShortName == id.Plural || id.ShortName == id.singular() {
		return id, fmt.Errorf("-short-name %q equals the plural or the singular; pass another -short-name", id.ShortName)
	}
	return id, nil
}
