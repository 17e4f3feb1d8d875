package podrefs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// NetworksAnnotation is where a pod asks Multus for secondary networks.
const NetworksAnnotation = "k8s.v1.cni.cncf.io/networks"

// maxIfName is the longest interface name Linux accepts (IFNAMSIZ less the
// terminating NUL), which Multus checks in the comma form.
const maxIfName = 15

// commaName is the shape Multus requires of a namespace and a name in the
// comma form: lower-case DNS-1123 label characters, alphanumeric at both
// ends, any length. (Go's $ matches only at the end of the text.)
var commaName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ParseNetworks returns the Networks the networks annotation of a pod in
// podNamespace refers to, as "namespace/name" keys in the order they first
// appear, each once. An empty annotation refers to nothing.
//
// The form is chosen as Multus chooses it: JSON when the text holds any of
// '[', '{' or '"', else the comma form. An error says what is wrong with
// the annotation; Multus gives such a pod no sandbox, so the caller counts
// nothing from it (see the package documentation).
func ParseNetworks(annotation, podNamespace string) ([]string, error) {
	if annotation == "" {
		return nil, nil
	}
	var keys []string
	var err error
	if strings.ContainsAny(annotation, `[{"`) {
		keys, err = parseJSONNetworks(annotation, podNamespace)
	} else {
		keys, err = parseCommaNetworks(annotation, podNamespace)
	}
	if err != nil {
		return nil, err
	}
	return dedup(keys), nil
}

// parseCommaNetworks reads "[namespace/]name[@ifname]" items separated by
// commas, with white space around each part ignored, as Multus does.
func parseCommaNetworks(annotation, podNamespace string) ([]string, error) {
	var keys []string
	for i, item := range strings.Split(annotation, ",") {
		item = strings.TrimSpace(item)
		namespace, rest := "", item
		switch parts := strings.Split(item, "/"); len(parts) {
		case 1:
		case 2:
			namespace, rest = strings.TrimSpace(parts[0]), parts[1]
		default:
			return nil, fmt.Errorf("item %d %q has more than one '/'", i+1, item)
		}
		name, ifname := rest, ""
		switch parts := strings.Split(rest, "@"); len(parts) {
		case 1:
		case 2:
			name, ifname = parts[0], strings.TrimSpace(parts[1])
		default:
			return nil, fmt.Errorf("item %d %q has more than one '@'", i+1, item)
		}
		name = strings.TrimSpace(name)
		for _, part := range []string{namespace, name} {
			if part != "" && !commaName.MatchString(part) {
				return nil, fmt.Errorf("item %d %q: %q is not lower-case letters, digits and '-', alphanumeric at both ends", i+1, item, part)
			}
		}
		if len(ifname) > maxIfName || strings.ContainsAny(ifname, " \t\n\v\f\r/") {
			return nil, fmt.Errorf("item %d %q: interface name %q is longer than %d bytes or holds white space or '/'", i+1, item, ifname, maxIfName)
		}
		key, err := networkKey(namespace, name, podNamespace)
		if err != nil {
			return nil, fmt.Errorf("item %d %q: %w", i+1, item, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// selectionElement is what this package reads of one network selection
// element of the JSON form. The field names match case-insensitively, as
// they do for Multus, which decodes with encoding/json too. Fields that do
// not name the Network (ips, mac, cni-args...) are not decoded, so a bad
// one does not stop Parse: such a pod is counted as referring, which can
// only hold a Network longer, never release one under a running pod.
type selectionElement struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Interface string `json:"interface"`
	// InterfaceRequest is the name of interface before Multus 3.2; Multus
	// still reads it, so a wrong type of it fails the pod too.
	InterfaceRequest string `json:"interfaceRequest"`
}

// parseJSONNetworks reads a JSON list of network selection elements.
func parseJSONNetworks(annotation, podNamespace string) ([]string, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(annotation), &raw); err != nil {
		return nil, fmt.Errorf("not a JSON list of network selection elements: %w", err)
	}
	var keys []string
	for i, r := range raw {
		if bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
			return nil, fmt.Errorf("element %d is null, not a network selection element", i+1)
		}
		var e selectionElement
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("element %d is not a network selection element: %w", i+1, err)
		}
		key, err := networkKey(e.Namespace, e.Name, podNamespace)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i+1, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// networkKey returns "namespace/name", with the pod's namespace for an
// empty one. Multus' parser lets through names that no object can have
// (empty, upper case and dots in JSON, too long) and fails the pod when it
// looks the attachment up; refusing them here has the same outcome.
func networkKey(namespace, name, podNamespace string) (string, error) {
	if namespace == "" {
		namespace = podNamespace
	}
	if name == "" {
		return "", fmt.Errorf("no network name")
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", fmt.Errorf("network name %q: %s", name, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return "", fmt.Errorf("namespace %q: %s", namespace, strings.Join(errs, "; "))
	}
	return namespace + "/" + name, nil
}

// dedup returns keys without repeats, first occurrence kept, reusing keys'
// array. A pod names a handful of Networks; a map is used only for the
// long lists anyone may write, so that they cost linear time.
func dedup(keys []string) []string {
	out := keys[:0]
	if len(keys) > 16 {
		seen := make(map[string]bool, len(keys))
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
		return out
	}
	for _, k := range keys {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
