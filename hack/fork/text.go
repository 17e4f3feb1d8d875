package main

import (
	"strings"
)

// A rule replaces one spelling of the old identity by the same spelling of
// the new one, where the characters around it allow.
type rule struct {
	old, new string
	// left and right say which characters may stand just before and just
	// after a match (0 is the start or end of the text).
	left, right func(text string, at int) bool
}

// replacer applies rules in one pass: at each position the first rule that
// matches wins and the text it produced is never looked at again, so a new
// name can never be rewritten by a later rule.
type replacer struct {
	rules []rule
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isWordByte(c byte) bool { return isAlnum(c) || c == '_' }

// before and after return the byte next to a match, 0 at the edges.
func before(s string, at int) byte {
	if at == 0 {
		return 0
	}
	return s[at-1]
}

func after(s string, at int) byte {
	if at >= len(s) {
		return 0
	}
	return s[at]
}

// Boundaries. Each takes the text and the index just outside the match.
var (
	anything = func(string, int) bool { return true }
	// notWord: not a letter, digit or underscore: whole words.
	notWordLeft  = func(s string, at int) bool { return !isWordByte(before(s, at)) }
	notWordRight = func(s string, at int) bool { return !isWordByte(after(s, at)) }
	// notNameLeft: not part of a longer name such as foo-network-controller.
	notNameLeft = func(s string, at int) bool { c := before(s, at); return !isWordByte(c) && c != '-' }
	// notNameRight: not followed by a letter or digit: network-controller-metrics
	// is the name plus a suffix, network-controller2 another name.
	notAlnumRight = func(s string, at int) bool { return !isAlnum(after(s, at)) }
	// notDomainLeft: not a longer domain such as x.samplecrd.k8s.io.
	notDomainLeft = func(s string, at int) bool { c := before(s, at); return !isAlnum(c) && c != '.' && c != '-' }
	// groupLeft: the group, or a domain under it (bench.samplecrd.k8s.io):
	// whoever owns a domain owns its subdomains, so they name the project
	// too (labels, annotations, finalizers). Not a longer label, as in
	// mysamplecrd.k8s.io.
	groupLeft = func(s string, at int) bool { c := before(s, at); return !isAlnum(c) && c != '-' }
	// domainRight: the domain ends here; a dot may follow only as
	// punctuation (end of a sentence), not as another label.
	domainRight = func(s string, at int) bool {
		c := after(s, at)
		if c == '.' {
			return !isAlnum(after(s, at+1))
		}
		return !isAlnum(c)
	}
	// pathLeft: a path element starts here.
	pathLeft = func(s string, at int) bool { c := before(s, at); return !isWordByte(c) && c != '-' && c != '.' }
	// moduleRight: the module path ends here or a package path goes on.
	moduleRight = func(s string, at int) bool {
		c := after(s, at)
		return !isAlnum(c) && c != '-' && c != '_' && c != '.' || c == '.' && !isAlnum(after(s, at+1))
	}
	// kubectlRight: a resource argument ends here (network, network/name).
	kubectlRight = func(s string, at int) bool {
		c := after(s, at)
		return !isWordByte(c) && c != '-' && c != '.'
	}
)

func (r *replacer) add(old, new string, left, right func(string, int) bool) {
	if old == "" {
		return
	}
	r.rules = append(r.rules, rule{old, new, left, right})
}

// replace rewrites s. skip holds offsets in s where no rule may match.
func (r *replacer) replace(s string, skip map[int]bool) string {
	var b strings.Builder
	changed := false
	last := 0
	for i := 0; i < len(s); {
		matched := false
		if !skip[i] {
			for _, ru := range r.rules {
				if strings.HasPrefix(s[i:], ru.old) && ru.left(s, i) && ru.right(s, i+len(ru.old)) {
					if !changed {
						b.Grow(len(s))
						changed = true
					}
					b.WriteString(s[last:i])
					b.WriteString(ru.new)
					i += len(ru.old)
					last = i
					matched = true
					break
				}
			}
		}
		if !matched {
			i++
		}
	}
	if !changed {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// find returns the offsets where a rule matches, in the same single pass.
func (r *replacer) find(s string, skip map[int]bool) []int {
	var at []int
	for i := 0; i < len(s); {
		matched := false
		if !skip[i] {
			for _, ru := range r.rules {
				if strings.HasPrefix(s[i:], ru.old) && ru.left(s, i) && ru.right(s, i+len(ru.old)) {
					at = append(at, i)
					i += len(ru.old)
					matched = true
					break
				}
			}
		}
		if !matched {
			i++
		}
	}
	return at
}

// kubectlVerbs take a resource as their first argument.
var kubectlVerbs = []string{"get", "describe", "delete", "edit", "explain", "patch", "label", "annotate", "wait", "create", "apply"}

// textRules is how the old identity is spelled in prose, manifests, shell
// and Makefiles, Go comments and Go string contents, most specific first.
// The lower-case words network and networks are left alone except where
// they are the resource (kubectl arguments, RBAC rules, the queue name):
// elsewhere they are CNI's networks.
//
// apiNames are the names the API package declares (NetworkSpec,
// NetworkList): where prose or a message names one, it is renamed as in
// the code.
func textRules(o, n identity, apiNames []string) *replacer {
	r := &replacer{}
	r.add(o.Module, n.Module, anything, moduleRight)
	r.add(o.Plural+"."+o.Group, n.Plural+"."+n.Group, notDomainLeft, domainRight)
	r.add(o.Group+"_"+o.Plural, n.Group+"_"+n.Plural, notDomainLeft, notAlnumRight)
	r.add(o.Group+"/"+o.Version, n.Group+"/"+n.Version, notDomainLeft, notAlnumRight)
	r.add(o.Group, n.Group, groupLeft, domainRight)
	r.add(o.groupPkg()+"/"+o.Version, n.groupPkg()+"/"+n.Version, pathLeft, notAlnumRight)
	r.add(o.alias(), n.alias(), notWordLeft, func(s string, at int) bool { c := after(s, at); return c < '0' || c > '9' })
	r.add(o.groupGo()+"()."+o.versionGo()+"()", n.groupGo()+"()."+n.versionGo()+"()", notWordLeft, anything)
	r.add(o.groupGo()+o.versionGo(), n.groupGo()+n.versionGo(), notWordLeft, func(s string, at int) bool {
		c := after(s, at)
		return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
	})
	r.add(o.example(), n.example(), notNameLeft, notWordRight)
	r.add(o.metrics()+"_"+o.Plural, n.metrics()+"_"+n.Plural, notWordLeft, notAlnumRight)
	r.add(o.metrics(), n.metrics(), notWordLeft, notAlnumRight)
	r.add(o.env(), n.env(), notWordLeft, notAlnumRight)
	r.add(o.Name, n.Name, notNameLeft, notWordRight)
	for _, v := range kubectlVerbs {
		for _, res := range []struct{ o, n string }{{o.Plural, n.Plural}, {o.singular(), n.singular()}, {o.ShortName, n.ShortName}} {
			if res.o != "" {
				r.add("kubectl "+v+" "+res.o, "kubectl "+v+" "+res.n, notWordLeft, kubectlRight)
			}
		}
	}
	r.add(`name="`+o.Plural+`"`, `name="`+n.Plural+`"`, notWordLeft, anything)
	r.add(`"`+o.Plural+`"`, `"`+n.Plural+`"`, anything, anything)
	r.add(`"`+o.Plural+`/`, `"`+n.Plural+`/`, anything, anything)
	for _, sub := range []string{"/status", "/finalizers", "/scale"} {
		r.add(o.Plural+sub, n.Plural+sub, notNameLeft, notWordRight)
	}
	r.add("`"+o.Plural+"`", "`"+n.Plural+"`", anything, anything)
	r.add("`"+o.singular()+"`", "`"+n.singular()+"`", anything, anything)
	if o.ShortName != "" {
		r.add("`"+o.ShortName+"`", "`"+n.ShortName+"`", anything, anything)
	}
	// Names the generators derive from the kind, where prose mentions them.
	for _, suffix := range []string{"NamespaceLister", "Lister", "Informer", "ApplyConfiguration", "SpecApplyConfiguration", "StatusApplyConfiguration", "Expansion", "Interface"} {
		r.add(o.Kind+suffix, n.Kind+suffix, notWordLeft, notWordRight)
	}
	r.add(o.kindPlural()+"Getter", n.kindPlural()+"Getter", notWordLeft, notWordRight)
	for _, name := range apiNames {
		if to := apiName(o, n, name); to != name && name != o.Kind && name != o.kindPlural() {
			r.add(name, to, notWordLeft, notWordRight)
		}
	}
	r.add(o.kindPlural(), n.kindPlural(), notWordLeft, notWordRight)
	r.add(o.Kind, n.Kind, notWordLeft, notWordRight)
	return r
}

// apiDocRules are extra rules for the comments of the API package itself,
// whose package comment names its version.
func apiDocRules(o, n identity, apiNames []string) *replacer {
	r := textRules(o, n, apiNames)
	extra := &replacer{}
	extra.add("Package "+o.Version+" ", "Package "+n.Version+" ", notWordLeft, anything)
	extra.add("version "+o.Version+" of", "version "+n.Version+" of", notWordLeft, anything)
	r.rules = append(extra.rules, r.rules...)
	return r
}
