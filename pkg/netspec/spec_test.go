package netspec

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/cni"
)

// mtu returns a pointer to an MTU, for test tables.
func mtu(v int32) *int32 { return &v }

// bridgeSpec and macvlanSpec are valid specs that the cases change.
func bridgeSpec() samplecrdv1.NetworkSpec {
	return samplecrdv1.NetworkSpec{CIDR: "198.18.0.0/24", Gateway: "198.18.0.1", Mode: samplecrdv1.NetworkModeBridge}
}

func macvlanSpec() samplecrdv1.NetworkSpec {
	return samplecrdv1.NetworkSpec{CIDR: "198.18.0.0/24", Gateway: "198.18.0.1", Mode: samplecrdv1.NetworkModeMacvlan, Uplink: "eth1"}
}

// with returns spec changed by f.
func with(spec samplecrdv1.NetworkSpec, f func(*samplecrdv1.NetworkSpec)) samplecrdv1.NetworkSpec {
	f(&spec)
	return spec
}

func TestValidateSpec(t *testing.T) {
	v := func(field, msg string) Violation { return Violation{field, msg} }
	tests := []struct {
		name string
		spec samplecrdv1.NetworkSpec
		want []Violation
	}{
		// Valid.
		{"a Bridge Network is valid", bridgeSpec(), nil},
		{"a Network without a mode is a Bridge Network, as the API server defaults it", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) { s.Mode = "" }), nil},
		{"a Macvlan Network on an uplink is valid", macvlanSpec(), nil},
		{"an uplink of 15 bytes with dots and dashes is valid", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = "bond0.100-abcde" }), nil},
		{"an uplink with non-ASCII letters is valid, as Linux allows", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = "ñet" }), nil},
		{"an MTU of 68 is valid for IPv4", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) { s.MTU = mtu(68) }), nil},
		{"an MTU of 65535 is valid", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.MTU = mtu(65535) }), nil},
		{"an MTU of 1280 is valid for IPv6", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.MTU = "fd00::/64", "fd00::1", mtu(1280)
		}), nil},
		{"excluded ranges inside spec.cidr are valid in both modes", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"198.18.0.0/28", "198.18.0.128/25", "198.18.0.5/32"}
		}), nil},
		{"overlapping and repeated excluded ranges are valid", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"198.18.0.0/28", "198.18.0.0/29", "198.18.0.0/28"}
		}), nil},
		{"an excluded range holding the gateway is valid: the gateway is excluded anyway", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"198.18.0.0/30"}
		}), nil},
		{"16 excluded ranges are valid", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = slices.Repeat([]string{"198.18.0.64/26"}, 16)
		}), nil},
		{"excluded ranges that leave one address are valid", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.ExcludeRanges = "198.18.0.0/29", "198.18.0.1", []string{"198.18.0.0/30", "198.18.0.4/31"}
		}), nil},

		// Mode.
		{"an unknown mode is refused with the API server's enum text", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) { s.Mode = "IPVLAN" }),
			[]Violation{v(FieldMode, MsgModeUnsupported)}},
		{"the mode is case-sensitive", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Mode = "macvlan" }),
			[]Violation{v(FieldMode, MsgModeUnsupported)}},

		// Uplink.
		{"a Macvlan Network without an uplink is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = "" }),
			[]Violation{v(FieldUplink, MsgUplinkRequired)}},
		{"a Bridge Network with an uplink is refused", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = "eth1" }),
			[]Violation{v(FieldUplink, MsgUplinkForbidden)}},
		{"an uplink of 16 bytes is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = strings.Repeat("e", 16) }),
			[]Violation{v(FieldUplink, MsgUplinkInvalid)}},
		{"an uplink of 8 letters but 16 bytes is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = strings.Repeat("ñ", 8) }),
			[]Violation{v(FieldUplink, MsgUplinkInvalid)}},
		{"an uplink with a slash is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = "eth/1" }),
			[]Violation{v(FieldUplink, MsgUplinkInvalid)}},
		{"an uplink with a colon (an old-style alias) is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = "eth1:0" }),
			[]Violation{v(FieldUplink, MsgUplinkInvalid)}},
		{"an uplink with a tab is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = "eth\t1" }),
			[]Violation{v(FieldUplink, MsgUplinkInvalid)}},
		{"an uplink with a vertical tab is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = "eth\v1" }),
			[]Violation{v(FieldUplink, MsgUplinkInvalid)}},
		{"an uplink of . is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = "." }),
			[]Violation{v(FieldUplink, MsgUplinkInvalid)}},
		{"an uplink of .. is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = ".." }),
			[]Violation{v(FieldUplink, MsgUplinkInvalid)}},
		{"a bad uplink on a Bridge Network is refused twice", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = "a b" }),
			[]Violation{v(FieldUplink, MsgUplinkInvalid), v(FieldUplink, MsgUplinkForbidden)}},

		// MTU.
		{"an MTU of 67 is refused", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) { s.MTU = mtu(67) }),
			[]Violation{v(FieldMTU, MsgMTURange)}},
		{"an MTU of 0 is refused: unset is how to leave it to the plugin", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) { s.MTU = mtu(0) }),
			[]Violation{v(FieldMTU, MsgMTURange)}},
		{"an MTU of 65536 is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.MTU = mtu(65536) }),
			[]Violation{v(FieldMTU, MsgMTURange)}},
		{"an IPv6 MTU of 1279 is refused", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.MTU = "fd00::/64", "fd00::1", mtu(1279)
		}), []Violation{v(FieldMTU, MsgMTUIPv6)}},
		{"an IPv6 MTU of 60 breaks both rules", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.MTU = "fd00::/64", "fd00::1", mtu(60)
		}), []Violation{v(FieldMTU, MsgMTURange), v(FieldMTU, MsgMTUIPv6)}},
		{"the IPv6 rule needs a CIDR to tell the family", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.MTU = "fd00::/x", "fd00::1", mtu(1279)
		}), []Violation{v(FieldCIDR, MsgCIDRInvalid)}},

		// Excluded ranges, one by one.
		{"a garbage excluded range is refused at its index", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"198.18.0.0/28", "banana"}
		}), []Violation{v(FieldExcludeRanges+"[1]", MsgExcludeInvalid)}},
		{"an address without a length is not a CIDR", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"198.18.0.5"}
		}), []Violation{v(FieldExcludeRanges+"[0]", MsgExcludeInvalid)}},
		{"an excluded range with host bits set is refused", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"198.18.0.129/25"}
		}), []Violation{v(FieldExcludeRanges+"[0]", MsgExcludeNotCanonical)}},
		{"an IPv6 excluded range in upper case is refused", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.ExcludeRanges = "fd00::/64", "fd00::1", []string{"FD00::/120"}
		}), []Violation{v(FieldExcludeRanges+"[0]", MsgExcludeNotCanonical)}},
		{"17 excluded ranges are too many", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = slices.Repeat([]string{"198.18.0.64/26"}, 17)
		}), []Violation{v(FieldExcludeRanges, MsgTooManyExcludeRanges)}},

		// Excluded ranges against spec.cidr: one violation per rule.
		{"excluded ranges of the other family are refused once", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"fd00::/120", "198.18.0.0/28", "fd00::/121"}
		}), []Violation{v(FieldExcludeRanges, MsgExcludeFamily)}},
		{"an excluded range outside spec.cidr is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"198.18.1.0/28"}
		}), []Violation{v(FieldExcludeRanges, MsgExcludeOutside)}},
		{"an excluded range wider than spec.cidr is outside it", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"198.18.0.0/16"}
		}), []Violation{v(FieldExcludeRanges, MsgExcludeOutside)}},
		{"excluding spec.cidr itself is refused", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"198.18.0.0/24"}
		}), []Violation{v(FieldExcludeRanges, MsgExcludeWhole)}},
		{"each cross rule is reported once, in order", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"198.18.0.0/24", "10.0.0.0/8", "fd00::/64"}
		}), []Violation{v(FieldExcludeRanges, MsgExcludeFamily), v(FieldExcludeRanges, MsgExcludeOutside), v(FieldExcludeRanges, MsgExcludeWhole)}},
		{"cross rules compare with the masked spec.cidr, as CEL does", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.ExcludeRanges = "198.18.0.7/24", []string{"198.18.0.128/25", "198.18.1.0/25"}
		}), []Violation{v(FieldCIDR, MsgCIDRNotCanonical), v(FieldExcludeRanges, MsgExcludeOutside)}},
		{"cross rules need spec.cidr to parse", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.ExcludeRanges = "nope", []string{"10.0.0.0/8"}
		}), []Violation{v(FieldCIDR, MsgCIDRInvalid)}},

		// The Go-only rule.
		{"excluded ranges that cover spec.cidr in pieces leave no address", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.ExcludeRanges = []string{"198.18.0.0/25", "198.18.0.128/25"}
		}), []Violation{v(FieldExcludeRanges, MsgExcludeLeavesNoAddress)}},
		{"excluded ranges that leave only the gateway leave no address", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.ExcludeRanges = "198.18.0.0/29", "198.18.0.1", []string{"198.18.0.2/31", "198.18.0.4/30"}
		}), []Violation{v(FieldExcludeRanges, MsgExcludeLeavesNoAddress)}},
		{"the IPv6 all-ones address counts for host-local", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.ExcludeRanges = "fd00::/126", "fd00::1", []string{"fd00::2/128"}
		}), nil},
		{"the IPv6 all-ones address does not count for whereabouts", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.ExcludeRanges = "fd00::/126", "fd00::1", []string{"fd00::2/128"}
		}), []Violation{v(FieldExcludeRanges, MsgExcludeLeavesNoAddress)}},

		// Several fields at once keep the documented order.
		{"violations come field by field", samplecrdv1.NetworkSpec{CIDR: "x", Gateway: "y", Mode: "Foo", Uplink: "a/b", MTU: mtu(1), ExcludeRanges: []string{"z"}},
			[]Violation{v(FieldCIDR, MsgCIDRInvalid), v(FieldGateway, MsgGatewayInvalid), v(FieldMode, MsgModeUnsupported), v(FieldUplink, MsgUplinkInvalid),
				v(FieldMTU, MsgMTURange), v(FieldExcludeRanges+"[0]", MsgExcludeInvalid)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateSpec(tt.spec)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ValidateSpec(%+v) =\n%v\nwant\n%v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestParseSpec(t *testing.T) {
	spec := with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) {
		s.MTU, s.ExcludeRanges = mtu(9000), []string{"198.18.0.128/25", "198.18.0.16/28"}
	})
	got, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := cni.Network{
		Mode: samplecrdv1.NetworkModeMacvlan, Subnet: netip.MustParsePrefix("198.18.0.0/24"), Gateway: netip.MustParseAddr("198.18.0.1"),
		Uplink: "eth1", MTU: 9000, Exclude: []netip.Prefix{netip.MustParsePrefix("198.18.0.128/25"), netip.MustParsePrefix("198.18.0.16/28")},
	}
	if got.Mode != want.Mode || got.Subnet != want.Subnet || got.Gateway != want.Gateway || got.Uplink != want.Uplink || got.MTU != want.MTU || !slices.Equal(got.Exclude, want.Exclude) {
		t.Fatalf("ParseSpec = %+v, want %+v", got, want)
	}
	if got, err := ParseSpec(samplecrdv1.NetworkSpec{CIDR: "198.18.0.0/24", Gateway: "198.18.0.1"}); err != nil || got.Mode != samplecrdv1.NetworkModeBridge || got.MTU != 0 || got.Exclude != nil {
		t.Fatalf("a spec without the new fields parses as %+v, %v; want a plain Bridge Network", got, err)
	}
	_, err = ParseSpec(with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) { s.Gateway, s.Uplink = "198.18.0.0", "eth1" }))
	if want := "spec.gateway: " + MsgGatewayNetwork + "; spec.uplink: " + MsgUplinkForbidden; err == nil || err.Error() != want {
		t.Fatalf("ParseSpec error %v, want %q", err, want)
	}
}

func TestValidateUpdate(t *testing.T) {
	v := func(field, msg string) Violation { return Violation{field, msg} }
	tests := []struct {
		name     string
		old, new samplecrdv1.NetworkSpec
		want     []Violation
	}{
		{"an unchanged Macvlan Network may be written", macvlanSpec(), macvlanSpec(), nil},
		{"the mode cannot change", bridgeSpec(), with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) { s.Mode, s.Uplink = samplecrdv1.NetworkModeMacvlan, "eth1" }),
			[]Violation{v(FieldMode, MsgImmutable)}},
		{"writing the default mode out is no change", with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) { s.Mode = "" }), bridgeSpec(), nil},
		{"the uplink cannot change", macvlanSpec(), with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Uplink = "eth2" }),
			[]Violation{v(FieldUplink, MsgImmutable)}},
		{"a Macvlan Network's CIDR cannot change", macvlanSpec(), with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.CIDR, s.Gateway = "198.18.1.0/24", "198.18.1.1" }),
			[]Violation{v(FieldCIDR, MsgMacvlanCIDRImmutable), v(FieldGateway, MsgMacvlanGatewayImmutable)}},
		{"a Macvlan Network's gateway cannot change", macvlanSpec(), with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.Gateway = "198.18.0.254" }),
			[]Violation{v(FieldGateway, MsgMacvlanGatewayImmutable)}},
		{"a Macvlan Network's excluded ranges cannot be added", macvlanSpec(), with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.ExcludeRanges = []string{"198.18.0.128/25"} }),
			[]Violation{v(FieldExcludeRanges, MsgMacvlanExcludeImmutable)}},
		{"a Macvlan Network's excluded ranges cannot be removed", with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.ExcludeRanges = []string{"198.18.0.128/25"} }), macvlanSpec(),
			[]Violation{v(FieldExcludeRanges, MsgMacvlanExcludeImmutable)}},
		{"an empty list of excluded ranges is no list", macvlanSpec(), with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.ExcludeRanges = []string{} }), nil},
		{"a Macvlan Network's MTU may change", macvlanSpec(), with(macvlanSpec(), func(s *samplecrdv1.NetworkSpec) { s.MTU = mtu(1400) }), nil},
		{"a Bridge Network's CIDR, gateway, excluded ranges and MTU may change", bridgeSpec(), with(bridgeSpec(), func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.ExcludeRanges, s.MTU = "198.18.1.0/24", "198.18.1.1", []string{"198.18.1.128/25"}, mtu(9000)
		}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidateUpdate(tt.old, tt.new); !slices.Equal(got, tt.want) {
				t.Fatalf("ValidateUpdate() =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

// FuzzValidateSpec: whatever ValidateSpec accepts, pkg/cni renders, with an
// IPAM that has addresses to give; whatever it refuses, ParseSpec refuses
// with the same violations.
func FuzzValidateSpec(f *testing.F) {
	seeds := []struct {
		cidr, gateway, mode, uplink string
		mtu                         int32
		exclude                     string
	}{
		{"198.18.0.0/24", "198.18.0.1", "", "", 0, ""},
		{"198.18.0.0/24", "198.18.0.1", "Bridge", "", 1500, "198.18.0.128/25"},
		{"198.18.0.0/24", "198.18.0.1", "Macvlan", "eth1", 9000, "198.18.0.0/28,198.18.0.64/26"},
		{"fd00::/64", "fd00::1", "Macvlan", "eth1", 1280, "fd00::/120"},
		{"fd00::/126", "fd00::1", "Macvlan", "eth1", 0, "fd00::2/128"},
		{"198.18.0.0/29", "198.18.0.1", "Bridge", "", 0, "198.18.0.2/31,198.18.0.4/30"},
		{"198.18.0.0/24", "198.18.0.1", "Macvlan", "", 67, "198.18.0.0/24"},
		{"198.18.0.0/24", "198.18.0.1", "IPVLAN", "a:b", 70000, "x"},
		{"0.0.0.0/0", "10.0.0.1", "Macvlan", "..", 68, "0.0.0.0/1"},
	}
	for _, s := range seeds {
		f.Add(s.cidr, s.gateway, s.mode, s.uplink, s.mtu, s.exclude)
	}
	f.Fuzz(func(t *testing.T, cidr, gateway, mode, uplink string, mtuValue int32, exclude string) {
		spec := samplecrdv1.NetworkSpec{CIDR: cidr, Gateway: gateway, Mode: samplecrdv1.NetworkMode(mode), Uplink: uplink}
		if mtuValue != 0 {
			spec.MTU = &mtuValue
		}
		if exclude != "" {
			spec.ExcludeRanges = strings.Split(exclude, ",")
		}
		vs := ValidateSpec(spec)
		if again := ValidateSpec(spec); !slices.Equal(vs, again) {
			t.Fatalf("ValidateSpec(%+v) not deterministic: %v then %v", spec, vs, again)
		}
		parsed, err := ParseSpec(spec)
		if len(vs) > 0 {
			if err == nil || err.Error() != joined(vs).Error() {
				t.Fatalf("ParseSpec(%+v) error = %v, want the joined violations %v", spec, err, vs)
			}
			return
		}
		if err != nil {
			t.Fatalf("ValidateSpec(%+v) accepted but ParseSpec failed: %v", spec, err)
		}
		n := parsed.Named("ns", "net")
		out, err := cni.RenderNetwork(n)
		if err != nil {
			t.Fatalf("pkg/cni refuses %+v, which netspec accepts: %v", spec, err)
		}
		if len(cni.Pool(n)) == 0 {
			t.Fatalf("netspec accepts %+v, whose IPAM has no address for pods", spec)
		}
		if again, err := cni.RenderNetwork(n); err != nil || !bytes.Equal(out, again) {
			t.Fatalf("RenderNetwork(%+v) not deterministic", n)
		}
	})
}
