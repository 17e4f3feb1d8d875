// Package netspec validates the spec of a Network resource.
//
// The rules and messages mirror the CEL validation rules in the Network CRD,
// which use the Kubernetes CEL IP/CIDR library (isCIDR, isIP, cidr(), ip()).
// The API server therefore normally refuses invalid objects before the
// controller sees them; the controller validates again because objects may
// have been stored before the rules existed, or by a server that does not
// enforce them, and because it must never render a CNI configuration from a
// bad spec. Keeping the same text on both sides means users see one message
// for one mistake, whichever side caught it.
//
// One rule has no CEL twin: that spec.excludeRanges and spec.gateway leave
// at least one address for pods (MsgExcludeLeavesNoAddress). Counting what
// a set of ranges leaves of another is beyond a CEL rule of sensible cost;
// the controller reports it as InvalidSpec instead of rendering an
// attachment on which every pod would fail to start.
package netspec

import (
	"errors"
	"net/netip"
	"strings"
)

// Field paths reported in violations. They are the JSON paths of the fields
// in the Network object so that messages read like API server field errors.
const (
	// FieldCIDR is the path of the subnet field of a Network.
	FieldCIDR = "spec.cidr"
	// FieldGateway is the path of the gateway field of a Network.
	FieldGateway = "spec.gateway"
	// FieldMode is the path of the mode field of a Network.
	FieldMode = "spec.mode"
	// FieldUplink is the path of the uplink field of a Network.
	FieldUplink = "spec.uplink"
	// FieldMTU is the path of the MTU field of a Network.
	FieldMTU = "spec.mtu"
	// FieldExcludeRanges is the path of the excluded ranges of a Network;
	// one entry's is FieldExcludeRanges + "[i]".
	FieldExcludeRanges = "spec.excludeRanges"
)

// MaxExcludeRanges is the most excluded ranges a Network may have: enough
// for the routers and static hosts of a subnet, and a bound on the cost of
// the CEL rules that look at each of them.
const MaxExcludeRanges = 16

// Violation messages. They are exported because the CRD's CEL rules carry the
// same text and a test elsewhere compares the two; change both together.
const (
	// MsgCIDRRequired is reported when spec.cidr is empty, because a Network
	// without a subnet cannot be rendered into a CNI configuration.
	MsgCIDRRequired = "is required"
	// MsgCIDRInvalid is reported when spec.cidr is not a CIDR that the CEL
	// isCIDR function accepts (unparseable, IPv4-mapped IPv6, or zoned).
	MsgCIDRInvalid = "must be an IPv4 or IPv6 CIDR such as 192.168.0.0/16 or fd00:10::/64"
	// MsgCIDRNotCanonical is reported when spec.cidr has host bits set or is
	// not written in canonical text, because the stored value is used as an
	// identity for overlap detection and must have exactly one spelling.
	MsgCIDRNotCanonical = "must be in canonical form with all host bits zero, e.g. 192.168.0.0/16 rather than 192.168.0.1/16"
	// MsgCIDRTooSmall is reported when spec.cidr is longer than a /30 (IPv4)
	// or a /126 (IPv6): the address manager on the nodes keeps the network
	// address, the broadcast address and the gateway back, and refuses such
	// a subnet outright, so no pod could ever attach.
	MsgCIDRTooSmall = "must leave room for pod addresses: at most a /30 for IPv4 or a /126 for IPv6"
	// MsgGatewayRequired is reported when spec.gateway is empty, because the
	// bridge plugin needs an address to assign to the bridge.
	MsgGatewayRequired = "is required"
	// MsgGatewayInvalid is reported when spec.gateway is not an address that
	// the CEL isIP function accepts (unparseable, IPv4-mapped IPv6, or zoned).
	MsgGatewayInvalid = "must be an IPv4 or IPv6 address such as 192.168.0.1"
	// MsgGatewayFamily is reported when the gateway and the subnet are of
	// different IP families, because such a gateway can never be reached.
	MsgGatewayFamily = "must be of the same IP family as spec.cidr"
	// MsgGatewayOutside is reported when the gateway is not inside the
	// subnet, because pods could not reach it on the bridge.
	MsgGatewayOutside = "must be an address inside spec.cidr"
	// MsgGatewayNetwork is reported when the gateway is the network address
	// (all host bits zero), which is not a usable host address.
	MsgGatewayNetwork = "must not be the network address of spec.cidr"
	// MsgGatewayBroadcast is reported when an IPv4 gateway is the broadcast
	// address (all host bits one) of a subnet that has one (prefix < /31).
	MsgGatewayBroadcast = "must not be the broadcast address of spec.cidr"

	// MsgModeUnsupported is reported when spec.mode is not one of the
	// modes the controller renders. The API server's enum check says
	// `Unsupported value: "X": supported values: ...`, which contains it.
	MsgModeUnsupported = `supported values: "Bridge", "Macvlan"`
	// MsgUplinkRequired is reported when a Macvlan Network names no
	// uplink: macvlan interfaces need a node interface to ride on.
	MsgUplinkRequired = "is required when spec.mode is Macvlan: it names the node interface the Network rides on, such as eth1"
	// MsgUplinkForbidden is reported when a Bridge Network names an
	// uplink, which it would ignore.
	MsgUplinkForbidden = "must not be set when spec.mode is Bridge: a Bridge Network makes its own bridge on each node"
	// MsgUplinkInvalid is reported when spec.uplink is not a name Linux
	// accepts for an interface, so no node can have it.
	MsgUplinkInvalid = "must be a Linux interface name: 1 to 15 bytes, no '/', ':' or whitespace, and not '.' or '..'"
	// MsgMTURange is reported when spec.mtu is outside what Linux accepts.
	MsgMTURange = "must be between 68 and 65535, the MTUs Linux accepts"
	// MsgMTUIPv6 is reported when an IPv6 Network's MTU is below IPv6's
	// minimum link MTU, on which the kernel turns IPv6 off.
	MsgMTUIPv6 = "must be at least 1280 in an IPv6 Network, the smallest MTU IPv6 allows"
	// MsgTooManyExcludeRanges is reported when spec.excludeRanges has more
	// than MaxExcludeRanges entries. The API server's maxItems check says
	// "Too many: N: must have at most 16 items", which contains it.
	MsgTooManyExcludeRanges = "must have at most 16 items"
	// MsgExcludeInvalid is reported for an entry of spec.excludeRanges that
	// is not a CIDR.
	MsgExcludeInvalid = "must be an IPv4 or IPv6 CIDR such as 198.18.0.128/25 or fd00:10::/120"
	// MsgExcludeNotCanonical is reported for an entry with host bits set
	// or in a non-canonical spelling, which would hide what it excludes.
	MsgExcludeNotCanonical = "must be in canonical form with all host bits zero, e.g. 198.18.0.128/25 rather than 198.18.0.129/25"
	// MsgExcludeFamily is reported when an entry is of the other IP family.
	MsgExcludeFamily = "must all be of the same IP family as spec.cidr"
	// MsgExcludeOutside is reported when an entry is not inside spec.cidr,
	// where it could exclude nothing.
	MsgExcludeOutside = "must all be inside spec.cidr"
	// MsgExcludeWhole is reported when an entry is spec.cidr itself.
	MsgExcludeWhole = "must each be smaller than spec.cidr: excluding all of it leaves no address for pods"
	// MsgExcludeLeavesNoAddress is reported when the entries together,
	// with the gateway and the addresses the IPAM keeps back, cover every
	// address of spec.cidr. The one rule without a CEL twin (see the
	// package comment).
	MsgExcludeLeavesNoAddress = "leave no address for pods: with spec.gateway and the subnet's first and last addresses they cover all of spec.cidr"

	// MsgImmutable is reported when spec.mode or spec.uplink changes:
	// pods are attached to interfaces that the old values made.
	MsgImmutable = "is immutable: create a new Network to change it"
	// MsgMacvlanCIDRImmutable is reported when a Macvlan Network's CIDR
	// changes: whereabouts' allocations are cluster-wide and outlive the
	// change, so pods on every node would keep addresses of the old range.
	MsgMacvlanCIDRImmutable = "is immutable in a Macvlan Network: pods on every node may hold addresses from it; create a new Network instead"
	// MsgMacvlanGatewayImmutable is reported when a Macvlan Network's
	// gateway changes: a pod may already hold the new gateway address.
	MsgMacvlanGatewayImmutable = "is immutable in a Macvlan Network: a pod may already hold the new address; create a new Network instead"
	// MsgMacvlanExcludeImmutable is reported when a Macvlan Network's
	// excluded ranges change: pods may hold addresses in a newly excluded
	// range, which whereabouts would not take back.
	MsgMacvlanExcludeImmutable = "is immutable in a Macvlan Network: pods may already hold addresses in a new range; create a new Network instead"
)

// Violation is one failed rule on one field. It is a value rather than an
// error so that callers can report every problem at once (for example in a
// status condition) instead of only the first.
type Violation struct {
	// Field is the path of the offending field, one of the Field
	// constants or, for one excluded range, FieldExcludeRanges + "[i]".
	Field string
	// Message is one of the Msg constants.
	Message string
}

// String renders the violation as "field: message", the shape the API server
// uses for field errors, so users recognise it.
func (v Violation) String() string {
	return v.Field + ": " + v.Message
}

// Error makes a Violation usable where an error is expected; the text is the
// same as String.
func (v Violation) Error() string {
	return v.String()
}

// Validate checks spec.cidr and spec.gateway alone (ValidateSpec checks a
// whole spec) and returns every violation, nil when they are valid. Violations come in a fixed order: those of spec.cidr, then
// those of spec.gateway, then the cross-field ones, so that the output is
// deterministic and stable for status updates.
//
// Cross-field rules run whenever both fields parse, even if the CIDR is not
// canonical; they compare against the masked network. This mirrors the CEL
// rules, which are guarded only by isCIDR/isIP and compare with cidr(), whose
// containment is based on the masked network.
func Validate(cidr, gateway string) []Violation {
	var out []Violation

	prefix, cidrParsed := validateCIDR(cidr, &out)
	addr, gwParsed := validateGateway(gateway, &out)

	if cidrParsed && gwParsed {
		validateCross(prefix.Masked(), addr, &out)
	}
	return out
}

// Parse validates spec.cidr and spec.gateway alone (ParseSpec parses a
// whole spec) and returns the subnet (canonical, host bits zero) and
// gateway. When the spec is invalid the error lists every violation
// joined with "; ", so a single error string still tells the whole story.
func Parse(cidr, gateway string) (netip.Prefix, netip.Addr, error) {
	if vs := Validate(cidr, gateway); len(vs) > 0 {
		return netip.Prefix{}, netip.Addr{}, joined(vs)
	}
	// Validate succeeded, so both parse and the prefix is canonical.
	return netip.MustParsePrefix(cidr), netip.MustParseAddr(gateway), nil
}

// joined is the error that lists vs, in order, joined with "; ".
func joined(vs []Violation) error {
	msgs := make([]string, len(vs))
	for i, v := range vs {
		msgs[i] = v.String()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// ParseCIDR returns the subnet when spec.cidr alone is valid and canonical.
// The overlap index uses it so that a Network with a bad gateway still claims
// its subnet: otherwise fixing a typo in one Network's gateway could suddenly
// make another, younger Network lose its subnet.
func ParseCIDR(cidr string) (netip.Prefix, bool) {
	var vs []Violation
	p, _ := validateCIDR(cidr, &vs)
	if len(vs) > 0 {
		return netip.Prefix{}, false
	}
	return p, true
}

// validateCIDR appends the violations of spec.cidr to out. It returns the
// parsed prefix and true when the text parses as a CEL CIDR, canonical or
// not, which is the condition for running the cross-field rules.
func validateCIDR(cidr string, out *[]Violation) (netip.Prefix, bool) {
	if cidr == "" {
		*out = append(*out, Violation{FieldCIDR, MsgCIDRRequired})
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(cidr)
	// ParsePrefix already refuses zones; the explicit check keeps the rule
	// visible and independent of that detail.
	if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		*out = append(*out, Violation{FieldCIDR, MsgCIDRInvalid})
		return netip.Prefix{}, false
	}
	if p.Masked().String() != cidr {
		*out = append(*out, Violation{FieldCIDR, MsgCIDRNotCanonical})
	}
	if p.Bits() > p.Addr().BitLen()-2 {
		*out = append(*out, Violation{FieldCIDR, MsgCIDRTooSmall})
	}
	return p, true
}

// validateGateway appends the violations of spec.gateway to out and returns
// the parsed address and whether it is usable for cross-field rules.
func validateGateway(gateway string, out *[]Violation) (netip.Addr, bool) {
	if gateway == "" {
		*out = append(*out, Violation{FieldGateway, MsgGatewayRequired})
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(gateway)
	if err != nil || a.Is4In6() || a.Zone() != "" {
		*out = append(*out, Violation{FieldGateway, MsgGatewayInvalid})
		return netip.Addr{}, false
	}
	return a, true
}

// validateCross appends the violations that relate the gateway to the masked
// subnet. A family mismatch or an outside gateway makes the later rules
// meaningless, so each stops the checks.
func validateCross(network netip.Prefix, gw netip.Addr, out *[]Violation) {
	if network.Addr().Is4() != gw.Is4() {
		*out = append(*out, Violation{FieldGateway, MsgGatewayFamily})
		return
	}
	if !network.Contains(gw) {
		*out = append(*out, Violation{FieldGateway, MsgGatewayOutside})
		return
	}
	if gw == network.Addr() {
		*out = append(*out, Violation{FieldGateway, MsgGatewayNetwork})
	}
	if network.Addr().Is4() && network.Bits() < 31 && gw == broadcast4(network) {
		*out = append(*out, Violation{FieldGateway, MsgGatewayBroadcast})
	}
}

// broadcast4 returns the address with every host bit of the IPv4 prefix set.
// RFC 3021 /31 and /32 prefixes have no broadcast address; callers exclude
// them.
func broadcast4(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= ^uint32(0) >> p.Bits()
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
