package netspec

import (
	"fmt"
	"net/netip"
	"slices"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/cni"
)

// modeOf is spec.mode with the API's default applied: the API server
// stores the default, but objects from elsewhere (older servers, fake
// clients in tests) may lack it.
func modeOf(spec samplecrdv1.NetworkSpec) samplecrdv1.NetworkMode {
	if spec.Mode == "" {
		return samplecrdv1.NetworkModeBridge
	}
	return spec.Mode
}

// ValidateSpec checks a whole Network spec and returns every violation, nil
// when it is valid: first those of Validate (spec.cidr, spec.gateway), then
// spec.mode, spec.uplink, spec.mtu and spec.excludeRanges, in that order.
//
// An explicitly empty spec.uplink is the same as none here: the Go type
// cannot tell them apart (the API server refuses "" as not an interface
// name, so stored objects never have it).
func ValidateSpec(spec samplecrdv1.NetworkSpec) []Violation {
	out := Validate(spec.CIDR, spec.Gateway)
	prefix, cidrOK := parseCELCIDR(spec.CIDR)

	mode := modeOf(spec)
	switch mode {
	case samplecrdv1.NetworkModeBridge, samplecrdv1.NetworkModeMacvlan:
	default:
		out = append(out, Violation{FieldMode, MsgModeUnsupported})
	}

	if spec.Uplink != "" && !cni.ValidIfName(spec.Uplink) {
		out = append(out, Violation{FieldUplink, MsgUplinkInvalid})
	}
	switch {
	case mode == samplecrdv1.NetworkModeMacvlan && spec.Uplink == "":
		out = append(out, Violation{FieldUplink, MsgUplinkRequired})
	case mode == samplecrdv1.NetworkModeBridge && spec.Uplink != "":
		out = append(out, Violation{FieldUplink, MsgUplinkForbidden})
	}

	if spec.MTU != nil {
		mtu := int(*spec.MTU)
		if mtu < cni.MinMTU || mtu > cni.MaxMTU {
			out = append(out, Violation{FieldMTU, MsgMTURange})
		}
		if cidrOK && prefix.Addr().Is6() && mtu < cni.MinMTUIPv6 {
			out = append(out, Violation{FieldMTU, MsgMTUIPv6})
		}
	}

	out = validateExcludeRanges(spec.ExcludeRanges, prefix, cidrOK, out)
	if len(out) == 0 {
		// Everything else holds, so the question is well posed.
		if len(cni.Pool(mustParse(spec))) == 0 {
			out = append(out, Violation{FieldExcludeRanges, MsgExcludeLeavesNoAddress})
		}
	}
	return out
}

// validateExcludeRanges appends the violations of spec.excludeRanges to
// out: each entry's own (isCIDR, canonical), then one per cross-field rule
// however many entries break it, as the API server reports a failed
// all(...) rule once. The cross-field rules need spec.cidr to parse.
func validateExcludeRanges(ranges []string, network netip.Prefix, cidrOK bool, out []Violation) []Violation {
	if len(ranges) > MaxExcludeRanges {
		out = append(out, Violation{FieldExcludeRanges, MsgTooManyExcludeRanges})
	}
	var parsed []netip.Prefix
	for i, r := range ranges {
		field := fmt.Sprintf("%s[%d]", FieldExcludeRanges, i)
		p, ok := parseCELCIDR(r)
		if !ok {
			out = append(out, Violation{field, MsgExcludeInvalid})
			continue
		}
		if p.Masked().String() != r {
			out = append(out, Violation{field, MsgExcludeNotCanonical})
		}
		parsed = append(parsed, p.Masked())
	}
	if !cidrOK {
		return out
	}
	network = network.Masked()
	family, inside, smaller := true, true, true
	for _, p := range parsed {
		switch {
		case p.Addr().Is4() != network.Addr().Is4():
			family = false
		case !(network.Overlaps(p) && network.Bits() <= p.Bits()):
			inside = false
		case p.Bits() <= network.Bits():
			smaller = false
		}
	}
	if !family {
		out = append(out, Violation{FieldExcludeRanges, MsgExcludeFamily})
	}
	if !inside {
		out = append(out, Violation{FieldExcludeRanges, MsgExcludeOutside})
	}
	if !smaller {
		out = append(out, Violation{FieldExcludeRanges, MsgExcludeWhole})
	}
	return out
}

// parseCELCIDR parses s as the CEL isCIDR function accepts it: canonical
// or not, but neither IPv4-mapped nor zoned.
func parseCELCIDR(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return netip.Prefix{}, false
	}
	return p, true
}

// ParseSpec validates a whole Network spec and returns it parsed. When the
// spec is invalid the error lists every violation joined with "; ".
func ParseSpec(spec samplecrdv1.NetworkSpec) (cni.Network, error) {
	if vs := ValidateSpec(spec); len(vs) > 0 {
		return cni.Network{}, joined(vs)
	}
	return mustParse(spec), nil
}

// mustParse parses a spec whose every field has been validated, into what
// pkg/cni renders, without the Network's identity.
func mustParse(spec samplecrdv1.NetworkSpec) cni.Network {
	s := cni.Network{
		Mode:    modeOf(spec),
		Subnet:  netip.MustParsePrefix(spec.CIDR),
		Gateway: netip.MustParseAddr(spec.Gateway),
		Uplink:  spec.Uplink,
	}
	if spec.MTU != nil {
		s.MTU = int(*spec.MTU)
	}
	for _, r := range spec.ExcludeRanges {
		s.Exclude = append(s.Exclude, netip.MustParsePrefix(r))
	}
	return s
}

// ValidateUpdate checks the change of a Network's spec from old to new
// against the CRD's transition rules and returns every violation, nil when
// the change is allowed. It says nothing about new itself: ValidateSpec
// does. The controller never sees an old spec; this is the Go twin of the
// API server's rules, for the tests that compare the two.
func ValidateUpdate(old, new samplecrdv1.NetworkSpec) []Violation {
	var out []Violation
	if modeOf(old) != modeOf(new) {
		out = append(out, Violation{FieldMode, MsgImmutable})
	}
	// A rule on an optional field runs only when both sides have it;
	// setting or clearing spec.uplink is what the mode rules refuse.
	if old.Uplink != "" && new.Uplink != "" && old.Uplink != new.Uplink {
		out = append(out, Violation{FieldUplink, MsgImmutable})
	}
	if modeOf(old) == samplecrdv1.NetworkModeMacvlan {
		if old.CIDR != new.CIDR {
			out = append(out, Violation{FieldCIDR, MsgMacvlanCIDRImmutable})
		}
		if old.Gateway != new.Gateway {
			out = append(out, Violation{FieldGateway, MsgMacvlanGatewayImmutable})
		}
		if !slices.Equal(old.ExcludeRanges, new.ExcludeRanges) {
			out = append(out, Violation{FieldExcludeRanges, MsgMacvlanExcludeImmutable})
		}
	}
	return out
}
