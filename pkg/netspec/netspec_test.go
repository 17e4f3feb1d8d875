package netspec

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

var (
	cidrRequired     = Violation{FieldCIDR, MsgCIDRRequired}
	cidrInvalid      = Violation{FieldCIDR, MsgCIDRInvalid}
	cidrNotCanonical = Violation{FieldCIDR, MsgCIDRNotCanonical}
	cidrTooSmall     = Violation{FieldCIDR, MsgCIDRTooSmall}
	gwRequired       = Violation{FieldGateway, MsgGatewayRequired}
	gwInvalid        = Violation{FieldGateway, MsgGatewayInvalid}
	gwFamily         = Violation{FieldGateway, MsgGatewayFamily}
	gwOutside        = Violation{FieldGateway, MsgGatewayOutside}
	gwNetwork        = Violation{FieldGateway, MsgGatewayNetwork}
	gwBroadcast      = Violation{FieldGateway, MsgGatewayBroadcast}
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cidr    string
		gateway string
		want    []Violation
	}{
		// Valid IPv4.
		{"classic IPv4 /16 with its first host as gateway is valid", "192.168.0.0/16", "192.168.0.1", nil},
		{"IPv4 gateway on the last host before broadcast is valid", "10.0.0.0/24", "10.0.0.254", nil},
		{"IPv4 /0 with a host gateway is valid", "0.0.0.0/0", "10.0.0.1", nil},
		{"IPv4 /30 with the second address as gateway is valid", "10.0.0.0/30", "10.0.0.2", nil},
		{"IPv4 /30 upper host address is valid", "10.0.0.0/30", "10.0.0.1", nil},
		{"IPv4 /31 is too small: no address is left for pods", "10.0.0.0/31", "10.0.0.1", []Violation{cidrTooSmall}},

		// Valid IPv6.
		{"IPv6 /64 with ::1 as gateway is valid", "fd00:10::/64", "fd00:10::1", nil},
		{"IPv6 has no broadcast so the all-ones host is a valid gateway", "fd00:10::/64", "fd00:10::ffff:ffff:ffff:ffff", nil},
		{"IPv6 /126 is the smallest valid subnet", "fd00::/126", "fd00::1", nil},
		{"IPv6 /127 is too small: no address is left for pods", "fd00::/127", "fd00::1", []Violation{cidrTooSmall}},
		{"IPv6 gateway in non-canonical text is accepted like CEL isIP does", "fd00:10::/64", "FD00:10:0::1", nil},

		// Required.
		{"both fields empty reports both as required", "", "", []Violation{cidrRequired, gwRequired}},
		{"empty cidr is required", "", "192.168.0.1", []Violation{cidrRequired}},
		{"empty gateway is required", "192.168.0.0/16", "", []Violation{gwRequired}},
		{"empty gateway with IPv6 cidr is required", "fd00::/64", "", []Violation{gwRequired}},

		// Invalid CIDR.
		{"garbage cidr is invalid", "not-a-cidr", "192.168.0.1", []Violation{cidrInvalid}},
		{"cidr without a prefix length is invalid", "192.168.0.0", "192.168.0.1", []Violation{cidrInvalid}},
		{"IPv4 prefix length above 32 is invalid", "192.168.0.0/33", "192.168.0.1", []Violation{cidrInvalid}},
		{"IPv6 prefix length above 128 is invalid", "fd00::/129", "fd00::1", []Violation{cidrInvalid}},
		{"IPv4 octet with a leading zero is invalid", "192.168.010.0/24", "192.168.10.1", []Violation{cidrInvalid}},
		{"IPv4-mapped IPv6 cidr is invalid", "::ffff:192.168.0.0/112", "192.168.0.1", []Violation{cidrInvalid}},
		{"zoned IPv6 cidr is invalid", "fe80::%eth0/64", "fe80::1", []Violation{cidrInvalid}},
		{"garbage cidr and garbage gateway are both reported without cross checks", "x", "y", []Violation{cidrInvalid, gwInvalid}},

		// Non-canonical CIDR: cross checks still run against the masked network.
		{"IPv4 cidr with host bits set is not canonical", "192.168.0.1/16", "192.168.0.2", []Violation{cidrNotCanonical}},
		{"IPv6 cidr with host bits set is not canonical", "fd00:10::1/64", "fd00:10::2", []Violation{cidrNotCanonical}},
		{"IPv6 cidr with leading zeros is not canonical", "2001:0db8::/32", "2001:db8::1", []Violation{cidrNotCanonical}},
		{"IPv6 cidr in upper case is not canonical", "FD00::/64", "fd00::1", []Violation{cidrNotCanonical}},
		{"IPv6 cidr with embedded IPv4 text is not canonical", "::10.0.0.0/120", "::a00:1", []Violation{cidrNotCanonical}},
		{"non-canonical cidr still reports gateway outside the masked network", "192.168.0.1/24", "192.168.1.1", []Violation{cidrNotCanonical, gwOutside}},
		{"non-canonical cidr still reports gateway on the masked network address", "192.168.0.1/24", "192.168.0.0", []Violation{cidrNotCanonical, gwNetwork}},
		{"non-canonical cidr still reports gateway on the broadcast address", "192.168.0.1/24", "192.168.0.255", []Violation{cidrNotCanonical, gwBroadcast}},
		{"non-canonical cidr still reports a family mismatch", "192.168.0.1/24", "fd00::1", []Violation{cidrNotCanonical, gwFamily}},

		// Invalid gateway.
		{"garbage gateway is invalid", "192.168.0.0/16", "gateway", []Violation{gwInvalid}},
		{"gateway written as a cidr is invalid", "192.168.0.0/16", "192.168.0.1/16", []Violation{gwInvalid}},
		{"IPv4-mapped IPv6 gateway is invalid", "192.168.0.0/16", "::ffff:192.168.0.1", []Violation{gwInvalid}},
		{"IPv4-mapped IPv6 gateway in an IPv6 cidr is invalid", "::/0", "::ffff:192.168.0.1", []Violation{gwInvalid}},
		{"zoned IPv6 gateway is invalid", "fe80::/64", "fe80::1%eth0", []Violation{gwInvalid}},
		{"invalid cidr and empty gateway are both reported", "10.0.0.0/99", "", []Violation{cidrInvalid, gwRequired}},

		// Family mismatch.
		{"IPv6 gateway in an IPv4 cidr is a family mismatch", "192.168.0.0/16", "fd00::1", []Violation{gwFamily}},
		{"IPv4 gateway in an IPv6 cidr is a family mismatch", "fd00::/64", "192.168.0.1", []Violation{gwFamily}},
		{"IPv4 gateway in the IPv6 default route is a family mismatch", "::/0", "10.0.0.1", []Violation{gwFamily}},

		// Outside.
		{"IPv4 gateway outside the cidr is refused", "192.168.0.0/16", "192.169.0.1", []Violation{gwOutside}},
		{"IPv4 gateway just past the broadcast address is outside", "10.0.0.0/24", "10.0.1.0", []Violation{gwOutside}},
		{"IPv6 gateway outside the cidr is refused", "fd00:10::/64", "fd00:11::1", []Violation{gwOutside}},
		{"IPv4 /32 is too small and a gateway on another address is outside", "10.0.0.5/32", "10.0.0.6", []Violation{cidrTooSmall, gwOutside}},

		// Network address.
		{"IPv4 gateway equal to the network address is refused", "192.168.0.0/16", "192.168.0.0", []Violation{gwNetwork}},
		{"IPv6 gateway equal to the network address is refused", "fd00:10::/64", "fd00:10::", []Violation{gwNetwork}},
		{"IPv4 /31 lower address is refused as too small and the network address", "10.0.0.0/31", "10.0.0.0", []Violation{cidrTooSmall, gwNetwork}},
		{"IPv4 /32 is too small and has no gateway other than its network address", "10.0.0.5/32", "10.0.0.5", []Violation{cidrTooSmall, gwNetwork}},
		{"IPv6 /127 lower address is refused as too small and the network address", "fd00::/127", "fd00::", []Violation{cidrTooSmall, gwNetwork}},
		{"IPv6 /128 is too small and has no gateway other than its network address", "fd00::1/128", "fd00::1", []Violation{cidrTooSmall, gwNetwork}},
		{"IPv4 /0 network address is refused", "0.0.0.0/0", "0.0.0.0", []Violation{gwNetwork}},

		// Broadcast address.
		{"IPv4 gateway equal to the broadcast address is refused", "192.168.0.0/16", "192.168.255.255", []Violation{gwBroadcast}},
		{"IPv4 /30 gateway equal to the broadcast address is refused", "10.0.0.0/30", "10.0.0.3", []Violation{gwBroadcast}},
		{"IPv4 /0 gateway equal to the broadcast address is refused", "0.0.0.0/0", "255.255.255.255", []Violation{gwBroadcast}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Validate(tt.cidr, tt.gateway)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Validate(%q, %q) = %v, want %v", tt.cidr, tt.gateway, got, tt.want)
			}
			if tt.want == nil && got != nil {
				t.Fatalf("Validate(%q, %q) returned an empty non-nil slice, want nil", tt.cidr, tt.gateway)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		cidr       string
		gateway    string
		wantPrefix netip.Prefix
		wantAddr   netip.Addr
		wantErr    string
	}{
		{
			name: "valid IPv4 spec returns the prefix and gateway", cidr: "192.168.0.0/16", gateway: "192.168.0.1",
			wantPrefix: netip.MustParsePrefix("192.168.0.0/16"), wantAddr: netip.MustParseAddr("192.168.0.1"),
		},
		{
			name: "valid IPv6 spec returns the prefix and gateway", cidr: "fd00:10::/64", gateway: "fd00:10::1",
			wantPrefix: netip.MustParsePrefix("fd00:10::/64"), wantAddr: netip.MustParseAddr("fd00:10::1"),
		},
		{
			name: "single violation is the error text", cidr: "192.168.0.0/16", gateway: "192.168.0.0",
			wantErr: "spec.gateway: must not be the network address of spec.cidr",
		},
		{
			name: "several violations are joined with semicolons in order", cidr: "192.168.0.1/24", gateway: "10.0.0.1",
			wantErr: "spec.cidr: " + MsgCIDRNotCanonical + "; spec.gateway: " + MsgGatewayOutside,
		},
		{
			name: "both fields empty are both in the error", cidr: "", gateway: "",
			wantErr: "spec.cidr: is required; spec.gateway: is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, a, err := Parse(tt.cidr, tt.gateway)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Parse(%q, %q) error = %v, want %q", tt.cidr, tt.gateway, err, tt.wantErr)
				}
				if p.IsValid() || a.IsValid() {
					t.Fatalf("Parse(%q, %q) returned values %v %v alongside an error", tt.cidr, tt.gateway, p, a)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q, %q) unexpected error: %v", tt.cidr, tt.gateway, err)
			}
			if p != tt.wantPrefix || a != tt.wantAddr {
				t.Fatalf("Parse(%q, %q) = %v, %v, want %v, %v", tt.cidr, tt.gateway, p, a, tt.wantPrefix, tt.wantAddr)
			}
		})
	}
}

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		name   string
		cidr   string
		want   netip.Prefix
		wantOK bool
	}{
		{"canonical IPv4 cidr is accepted", "192.168.0.0/16", netip.MustParsePrefix("192.168.0.0/16"), true},
		{"canonical IPv6 cidr is accepted", "fd00:10::/64", netip.MustParsePrefix("fd00:10::/64"), true},
		{"IPv4 /32 is refused: it leaves no address for pods, so it claims nothing", "10.0.0.5/32", netip.Prefix{}, false},
		{"IPv4 /30 is accepted", "10.0.0.4/30", netip.MustParsePrefix("10.0.0.4/30"), true},
		{"empty cidr is refused", "", netip.Prefix{}, false},
		{"garbage cidr is refused", "nope", netip.Prefix{}, false},
		{"non-canonical IPv4 cidr is refused", "192.168.0.1/16", netip.Prefix{}, false},
		{"non-canonical IPv6 text is refused", "2001:0db8::/32", netip.Prefix{}, false},
		{"IPv4-mapped IPv6 cidr is refused", "::ffff:10.0.0.0/104", netip.Prefix{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseCIDR(tt.cidr)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("ParseCIDR(%q) = %v, %v, want %v, %v", tt.cidr, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestViolationText(t *testing.T) {
	tests := []struct {
		name string
		v    Violation
		want string
	}{
		{"cidr violation reads as field colon message", cidrRequired, "spec.cidr: is required"},
		{"gateway violation reads as field colon message", gwBroadcast, "spec.gateway: must not be the broadcast address of spec.cidr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			if got := tt.v.Error(); got != tt.want {
				t.Fatalf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzValidate(f *testing.F) {
	seeds := [][2]string{
		{"192.168.0.0/16", "192.168.0.1"},
		{"192.168.0.0/16", "192.168.255.255"},
		{"192.168.0.0/16", "192.168.0.0"},
		{"192.168.0.1/16", "192.168.0.2"},
		{"10.0.0.0/31", "10.0.0.1"},
		{"10.0.0.5/32", "10.0.0.5"},
		{"0.0.0.0/0", "255.255.255.255"},
		{"fd00:10::/64", "fd00:10::1"},
		{"fd00::/127", "fd00::1"},
		{"fd00::1/128", "fd00::1"},
		{"2001:0db8::/32", "2001:db8::1"},
		{"::ffff:192.168.0.0/112", "::ffff:192.168.0.1"},
		{"fe80::%eth0/64", "fe80::1%eth0"},
		{"192.168.0.0/16", "fd00::1"},
		{"fd00::/64", "192.168.0.1"},
		{"", ""},
		{"garbage", "garbage"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, cidr, gateway string) {
		vs := Validate(cidr, gateway)
		if again := Validate(cidr, gateway); !slices.Equal(vs, again) {
			t.Fatalf("Validate(%q, %q) not deterministic: %v then %v", cidr, gateway, vs, again)
		}

		cidrOK := true
		for _, v := range vs {
			if v.Field == FieldCIDR {
				cidrOK = false
			}
		}
		if p, ok := ParseCIDR(cidr); ok != cidrOK {
			t.Fatalf("ParseCIDR(%q) ok = %v but Validate cidr violations = %v", cidr, ok, vs)
		} else if ok && (p != p.Masked() || p.String() != cidr) {
			t.Fatalf("ParseCIDR(%q) = %v, which is not canonical", cidr, p)
		}

		p, gw, err := Parse(cidr, gateway)
		if len(vs) > 0 {
			msgs := make([]string, len(vs))
			for i, v := range vs {
				msgs[i] = v.String()
			}
			if err == nil || err.Error() != strings.Join(msgs, "; ") {
				t.Fatalf("Parse(%q, %q) error = %v, want the joined violations %v", cidr, gateway, err, vs)
			}
			return
		}
		if err != nil {
			t.Fatalf("Validate(%q, %q) accepted but Parse failed: %v", cidr, gateway, err)
		}
		if p != p.Masked() || p.String() != cidr {
			t.Fatalf("accepted prefix %v is not canonical for %q", p, cidr)
		}
		if p.Addr().Is4() != gw.Is4() {
			t.Fatalf("accepted gateway %v has another family than %v", gw, p)
		}
		if !p.Contains(gw) {
			t.Fatalf("accepted gateway %v is outside %v", gw, p)
		}
		if gw == p.Addr() {
			t.Fatalf("accepted gateway %v is the network address of %v", gw, p)
		}
		if p.Bits() > p.Addr().BitLen()-2 {
			t.Fatalf("accepted %v, which leaves no address for pods", p)
		}
		if gw.Is4In6() || gw.Zone() != "" || p.Addr().Is4In6() {
			t.Fatalf("accepted 4in6 or zoned value: %v %v", p, gw)
		}
		if p.Addr().Is4() && p.Bits() < 31 && (!gw.Next().IsValid() || !p.Contains(gw.Next())) {
			t.Fatalf("accepted gateway %v is the broadcast address of %v", gw, p)
		}
	})
}
