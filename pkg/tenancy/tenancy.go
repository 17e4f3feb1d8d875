// Package tenancy decides which address ranges the Networks of a namespace
// may use, as a cluster administrator set them on the Namespace.
//
// Networks are namespaced but their CIDRs are claimed cluster-wide, so a
// tenant allowed to create Networks could otherwise claim 0.0.0.0/0 and
// deny networks to every other namespace. An administrator lists what a
// namespace may use in the annotation AllowedCIDRsAnnotation on the
// Namespace object, which tenants normally cannot edit.
//
// The same rule is enforced twice: at admission, by the
// ValidatingAdmissionPolicy in artifacts/examples/admission-policy.yaml
// (CEL, so the API server refuses with a readable message), and here, by
// the controller, for Networks that predate the policy or whose namespace's
// allowance changed later. One table in the tests drives both, so they
// accept exactly the same Networks.
package tenancy

import (
	"fmt"
	"net/netip"
	"strings"
)

// AllowedCIDRsAnnotation is the Namespace annotation that lists, comma
// separated, the ranges its Networks may use, e.g.
// "10.20.0.0/16, fd00:20::/48". A Network's spec.cidr must lie inside one.
const AllowedCIDRsAnnotation = "networks.samplecrd.k8s.io/allowed-cidrs"

// MaxAllowanceSize bounds the annotation, in bytes: evaluating a long list
// costs the API server CPU on every Network write, so a longer one is
// refused outright (measured: 0.6 s per write at 6,000 entries). The policy
// counts bytes too (size(bytes(...)): CEL's size() of a string counts
// characters), or a value padded with multi-byte spaces would be admitted
// there and refused here.
const MaxAllowanceSize = 4096

// Reasons a Network is not permitted. They pick the message; the messages
// say what is wrong and who can change it.
const (
	// NoAllowance: the namespace has no annotation and the cluster refuses
	// Networks in such namespaces (the secure default).
	NoAllowance = "no allowance"
	// BadAllowance: the annotation does not parse.
	BadAllowance = "bad allowance"
	// OutsideAllowance: spec.cidr is inside none of the listed ranges.
	OutsideAllowance = "outside allowance"
)

// Verdict is the outcome of Check.
type Verdict struct {
	// Permitted is true when the Network may use its CIDR.
	Permitted bool
	// Reason is one of the reason constants when not permitted.
	Reason string
	// Message tells the user what is wrong and who can change it.
	Message string
}

// Check decides whether a Network with subnet cidr may exist in namespace,
// given the namespace's annotations. allowUnannotated is the cluster's
// choice for namespaces without the annotation.
func Check(namespace string, annotations map[string]string, cidr netip.Prefix, allowUnannotated bool) Verdict {
	raw, ok := annotations[AllowedCIDRsAnnotation]
	if !ok {
		if allowUnannotated {
			return Verdict{Permitted: true}
		}
		return refuse(NoAllowance, fmt.Sprintf("namespace %s has no annotation %s, so its Networks may use no address range; a cluster administrator sets it on the Namespace, e.g. kubectl annotate namespace %s %s=10.20.0.0/16",
			namespace, AllowedCIDRsAnnotation, namespace, AllowedCIDRsAnnotation))
	}
	allowed, err := ParseAllowance(raw)
	if err != nil {
		return refuse(BadAllowance, fmt.Sprintf("the annotation %s of namespace %s is not usable (%v); a cluster administrator must correct it", AllowedCIDRsAnnotation, namespace, err))
	}
	for _, a := range allowed {
		if Contains(a, cidr) {
			return Verdict{Permitted: true}
		}
	}
	return refuse(OutsideAllowance, fmt.Sprintf("spec.cidr %s is not inside the ranges namespace %s may use (%s: %s); choose a CIDR inside them, or ask a cluster administrator to change the annotation",
		cidr, namespace, AllowedCIDRsAnnotation, strings.TrimSpace(raw)))
}

func refuse(reason, msg string) Verdict {
	return Verdict{Reason: reason, Message: msg}
}

// ParseAllowance parses the annotation's value: CIDRs separated by commas,
// with optional whitespace around them, Unicode's (strings.TrimSpace, which
// is also what the policy's CEL trim() runs). Every entry must be a CIDR as the CEL isCIDR
// accepts it (host bits may be set; IPv4-mapped IPv6 and zones are not
// CIDRs there); an empty value, an empty entry or a value longer than
// MaxAllowanceSize is an error.
func ParseAllowance(raw string) ([]netip.Prefix, error) {
	if len(raw) > MaxAllowanceSize {
		return nil, fmt.Errorf("it is longer than %d bytes", MaxAllowanceSize)
	}
	var out []netip.Prefix
	for _, entry := range strings.Split(raw, ",") {
		entry = strings.TrimSpace(entry)
		p, err := netip.ParsePrefix(entry)
		if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return nil, fmt.Errorf("%q is not a CIDR", entry)
		}
		out = append(out, p)
	}
	return out, nil
}

// Contains reports whether allowed contains cidr, as the CEL
// cidr(allowed).containsCIDR(cidr) does: allowed's host bits are ignored,
// and prefixes of different families never contain each other.
func Contains(allowed, cidr netip.Prefix) bool {
	allowed = allowed.Masked()
	return allowed.Addr().Is4() == cidr.Addr().Is4() && allowed.Bits() <= cidr.Bits() && allowed.Contains(cidr.Addr())
}

// Reserved returns the first of reserved that overlaps cidr, and false when
// none does. Reserved ranges (the cluster's service and pod ranges, node
// networks) are set by the administrator with --reserved-cidrs.
func Reserved(reserved []netip.Prefix, cidr netip.Prefix) (netip.Prefix, bool) {
	for _, r := range reserved {
		if r.Overlaps(cidr) {
			return r, true
		}
	}
	return netip.Prefix{}, false
}

// CIDRList is a flag value holding comma-separated CIDRs, such as
// --reserved-cidrs=10.96.0.0/12,10.244.0.0/16,fd00:10:96::/112.
type CIDRList []netip.Prefix

// String prints the list as it is given on the command line.
func (l *CIDRList) String() string {
	out := make([]string, len(*l))
	for i, p := range *l {
		out[i] = p.String()
	}
	return strings.Join(out, ",")
}

// Set parses a comma-separated list; an empty value is an empty list.
func (l *CIDRList) Set(value string) error {
	*l = nil
	if strings.TrimSpace(value) == "" {
		return nil
	}
	prefixes, err := ParseAllowance(value)
	if err != nil {
		return err
	}
	for _, p := range prefixes {
		*l = append(*l, p.Masked())
	}
	return nil
}
