package podrefs

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	nadutils "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/utils"
)

func TestParseNetworks(t *testing.T) {
	tests := []struct {
		name       string
		annotation string
		want       []string
		wantErr    string // a part of the error; "" for none
	}{
		// What refers to nothing.
		{"no annotation refers to nothing", "", nil, ""},
		{"null without brackets is a Network named null, as Multus reads it", "null", []string{"pods/null"}, ""},
		{"an empty JSON list refers to nothing", "[]", nil, ""},

		// The comma form.
		{"a bare name is in the pod's namespace", "blue", []string{"pods/blue"}, ""},
		{"namespace/name names another namespace", "net/blue", []string{"net/blue"}, ""},
		{"name@ifname refers to the name", "blue@net7", []string{"pods/blue"}, ""},
		{"namespace/name@ifname refers to namespace/name", "net/blue@net7", []string{"net/blue"}, ""},
		{"an empty namespace before '/' is the pod's", "/blue", []string{"pods/blue"}, ""},
		{"an empty interface after '@' is none", "blue@", []string{"pods/blue"}, ""},
		{"a list keeps its order", "red, net/blue,green", []string{"pods/red", "net/blue", "pods/green"}, ""},
		{"white space around every part is ignored as Multus ignores it", " net / blue @ net1 ,\tred\n", []string{"net/blue", "pods/red"}, ""},
		{"Unicode white space is white space too", "\u00a0blue\u2003", []string{"pods/blue"}, ""},
		{"a Network named twice is one reference", "blue,blue@net2,pods/blue", []string{"pods/blue"}, ""},
		{"a 63-byte name is a name", strings.Repeat("a", 63), []string{"pods/" + strings.Repeat("a", 63)}, ""},
		{"a 15-byte interface name is an interface name", "blue@" + strings.Repeat("i", 15), []string{"pods/blue"}, ""},
		{"an interface name may hold what Multus allows in it", "blue@net.1_x", []string{"pods/blue"}, ""},

		// What Multus refuses in the comma form.
		{"two '/' are refused", "a/b/c", nil, "more than one '/'"},
		{"two '@' are refused", "blue@a@b", nil, "more than one '@'"},
		{"upper case is refused", "Blue", nil, `"Blue" is not lower-case`},
		{"a dot is refused in the comma form", "blue.net", nil, "is not lower-case"},
		{"a name ending in '-' is refused", "blue-", nil, "alphanumeric at both ends"},
		{"a bad namespace is refused", "Net/blue", nil, `"Net"`},
		{"white space inside a name is refused", "bl ue", nil, "is not lower-case"},
		{"a 16-byte interface name is refused", "blue@" + strings.Repeat("i", 16), nil, "longer than 15 bytes"},
		{"white space inside an interface name is refused", "blue@ne t1", nil, "holds white space"},
		{"one bad item refuses the whole list, as Multus refuses the pod", "red,Blue", nil, "item 2"},

		// What Multus' parser lets through but no object can be named.
		{"an empty item (a trailing comma) names nothing", "blue,", nil, "item 2"},
		{"an empty list item names nothing", "blue,,red", nil, "no network name"},
		{"a namespace and no name names nothing", "net/", nil, "no network name"},
		{"a 64-byte namespace is no namespace", strings.Repeat("n", 64) + "/blue", nil, "namespace"},
		{"a 254-byte name is no name", strings.Repeat("a", 254), nil, "network name"},

		// The JSON form.
		{"a JSON element names a Network in the pod's namespace", `[{"name":"blue"}]`, []string{"pods/blue"}, ""},
		{"a JSON element may name a namespace", `[{"name":"blue","namespace":"net","interface":"net1"}]`, []string{"net/blue"}, ""},
		{"JSON keeps the order, once per Network", `[{"name":"b"},{"name":"a"},{"name":"b","interface":"x"}]`, []string{"pods/b", "pods/a"}, ""},
		{"JSON field names match in any case, as encoding/json matches them for Multus", `[{"NAME":"blue","Namespace":"net"}]`, []string{"net/blue"}, ""},
		{"JSON allows dots in names, which the comma form does not", `[{"name":"blue.v2"}]`, []string{"pods/blue.v2"}, ""},
		{"JSON fields that name no Network are ignored, bad or not", `[{"name":"blue","ips":["nonsense"],"mac":"x","cni-args":{"a":1},"future":true}]`, []string{"pods/blue"}, ""},
		{"JSON with white space around it is JSON", " [ {\"name\" : \"blue\"} ] ", []string{"pods/blue"}, ""},
		{"a quote makes it JSON, as in Multus", `"blue"`, nil, "not a JSON list"},

		// What refuses the JSON form.
		{"JSON that does not parse is refused", `[{"name":"blue"`, nil, "not a JSON list"},
		{"a JSON object is not a list", `{"name":"blue"}`, nil, "not a JSON list"},
		{"a JSON string element is refused", `["blue"]`, nil, "element 1 is not a network selection element"},
		{"a null element is refused (it crashes Multus' parser)", `[{"name":"a"},null]`, nil, "element 2 is null"},
		{"a name that is not a string is refused", `[{"name":5}]`, nil, "element 1 is not"},
		{"an interface that is not a string is refused", `[{"name":"blue","interface":["net1"]}]`, nil, "element 1 is not"},
		{"an element without a name is refused", `[{"namespace":"net"}]`, nil, "element 1: no network name"},
		{"an upper-case JSON name names nothing", `[{"name":"Blue"}]`, nil, "network name"},
		{"a JSON namespace with a dot names no namespace", `[{"name":"blue","namespace":"a.b"}]`, nil, "namespace"},
		{"a JSON name with '/' is no name", `[{"name":"net/blue"}]`, nil, "network name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNetworks(tt.annotation, "pods")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseNetworks(%q) = %q, %v; want an error saying %q", tt.annotation, got, err, tt.wantErr)
				}
				if got != nil {
					t.Fatalf("ParseNetworks(%q) returned %q with its error; a refused annotation refers to nothing", tt.annotation, got)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ParseNetworks(%q) = %q, %v; want %q", tt.annotation, got, err, tt.want)
			}
		})
	}
}

// Long lists (anyone may write 256 KiB of annotation) are deduplicated
// with a map rather than by comparing every pair; the result is the same.
func TestParseNetworksLongList(t *testing.T) {
	var items, want []string
	for i := range 40 {
		k := "n" + strconv.Itoa(i%25)
		items = append(items, k)
		if i < 25 {
			want = append(want, "pods/"+k)
		}
	}
	got, err := ParseNetworks(strings.Join(items, ","), "pods")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("ParseNetworks of 40 items naming 25 Networks = %q, %v; want %q", got, err, want)
	}
}

// FuzzParseNetworks holds ParseNetworks to its contract on any text and
// compares it with the network-attachment-definition client's parser, a
// stricter sibling of Multus' (it also refuses interface names that are
// not DNS labels): whatever that parser accepts and names objects that can
// exist, ParseNetworks accepts with the same keys. Refusing what Multus
// accepts would let a Network go under a pod that uses it.
func FuzzParseNetworks(f *testing.F) {
	for _, s := range []string{
		"", "blue", "net/blue@net1", " a , b/c@d ", "a,,b", "a/b/c", "a@b@c", "Blue",
		`[{"name":"blue","namespace":"net","interface":"net1"}]`, `[{"NAME":"x"}]`, `[null]`, "null",
		`[{"name":"a","ips":["198.18.0.5/24"]}]`, "\u00a0a", "a@" + strings.Repeat("i", 16),
	} {
		f.Add(s, "pods")
	}
	f.Fuzz(func(t *testing.T, annotation, podNamespace string) {
		got, err := ParseNetworks(annotation, podNamespace)
		if err != nil {
			if got != nil {
				t.Fatalf("ParseNetworks(%q) returned keys %q with error %v", annotation, got, err)
			}
		}
		for i, k := range got {
			ns, name, ok := strings.Cut(k, "/")
			if !ok || networkKeyErr(ns, name) != nil {
				t.Fatalf("ParseNetworks(%q) key %q is not namespace/name", annotation, k)
			}
			if slices.Contains(got[:i], k) {
				t.Fatalf("ParseNetworks(%q) repeats %q", annotation, k)
			}
		}
		if err == nil && len(got) > 0 && !strings.Contains(strings.Join(got, ""), ".") {
			// The keys read back in the comma form.
			again, err := ParseNetworks(strings.Join(got, ","), "elsewhere")
			if err != nil || !slices.Equal(again, got) {
				t.Fatalf("keys %q of %q read back as %q, %v", got, annotation, again, err)
			}
		}
		theirs, theirErr := parseTheirs(annotation, podNamespace)
		if theirErr != nil || annotation == "" {
			return
		}
		want, valid := theirKeys(theirs)
		if !valid {
			return
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("ParseNetworks(%q, %q) = %q, %v; the client's parser reads %q", annotation, podNamespace, got, err, want)
		}
	})
}

// theirKeys returns the keys of what the client's parser read, each once,
// and whether all of them can name objects and interfaces (Multus, and
// Linux, refuse interface names longer than 15 bytes; the client's parser
// does not).
func theirKeys(elems []*nadv1.NetworkSelectionElement) ([]string, bool) {
	var keys []string
	for _, e := range elems {
		if e == nil || networkKeyErr(e.Namespace, e.Name) != nil || len(e.InterfaceRequest) > maxIfName {
			return nil, false
		}
		if k := e.Namespace + "/" + e.Name; !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys, true
}

// networkKeyErr checks a namespace and name as networkKey does, without
// defaulting the namespace.
func networkKeyErr(namespace, name string) error {
	if namespace == "" {
		return errEmptyNamespace
	}
	_, err := networkKey(namespace, name, "")
	return err
}

var errEmptyNamespace = errors.New("empty namespace")

// parseTheirs runs the client's parser, which panics on a null element.
func parseTheirs(annotation, podNamespace string) (elems []*nadv1.NetworkSelectionElement, err error) {
	defer func() {
		if recover() != nil {
			elems, err = nil, errors.New("panicked")
		}
	}()
	return nadutils.ParseNetworkAnnotation(annotation, podNamespace)
}
