package tenancy_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/samplecrd/network-controller/pkg/tenancy"
	"github.com/samplecrd/network-controller/pkg/tenancy/tenancytest"
)

func TestCheckAgreesWithTheSharedTable(t *testing.T) {
	for _, tc := range tenancytest.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			annotations := map[string]string{"unrelated": "x"}
			if tc.Annotated {
				annotations[tenancy.AllowedCIDRsAnnotation] = tc.Allowance
			}
			v := tenancy.Check("team-a", annotations, netip.MustParsePrefix(tc.CIDR), false)
			if v.Permitted != tc.Permitted {
				t.Fatalf("Check(%q, %s) = %+v, want permitted=%v", tc.Allowance, tc.CIDR, v, tc.Permitted)
			}
			if !v.Permitted && (!strings.Contains(v.Message, "team-a") || !strings.Contains(v.Message, "administrator")) {
				t.Errorf("message %q does not name the namespace and who can change it", v.Message)
			}
		})
	}
}

func TestMessagesSayWhatToDo(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		cidr        string
		reason      string
		want        []string
	}{
		{"no annotation names it and shows the command", nil, "10.0.0.0/8", tenancy.NoAllowance,
			[]string{"has no annotation " + tenancy.AllowedCIDRsAnnotation, "kubectl annotate namespace team-a"}},
		{"a bad entry is quoted", map[string]string{tenancy.AllowedCIDRsAnnotation: "10.0.0.0/8, banana"}, "10.0.0.0/8", tenancy.BadAllowance,
			[]string{`"banana" is not a CIDR`}},
		{"outside names the allowance", map[string]string{tenancy.AllowedCIDRsAnnotation: " 10.20.0.0/16 "}, "0.0.0.0/0", tenancy.OutsideAllowance,
			[]string{"spec.cidr 0.0.0.0/0 is not inside", tenancy.AllowedCIDRsAnnotation + ": 10.20.0.0/16)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tenancy.Check("team-a", tc.annotations, netip.MustParsePrefix(tc.cidr), false)
			if v.Permitted || v.Reason != tc.reason {
				t.Fatalf("verdict %+v, want reason %q", v, tc.reason)
			}
			for _, w := range tc.want {
				if !strings.Contains(v.Message, w) {
					t.Errorf("message %q lacks %q", v.Message, w)
				}
			}
		})
	}
}

func TestUnannotatedNamespacesCanBeAllowed(t *testing.T) {
	if v := tenancy.Check("open", nil, netip.MustParsePrefix("0.0.0.0/0"), true); !v.Permitted {
		t.Errorf("with unannotated namespaces allowed, got %+v", v)
	}
	bad := map[string]string{tenancy.AllowedCIDRsAnnotation: "banana"}
	if v := tenancy.Check("open", bad, netip.MustParsePrefix("10.0.0.0/8"), true); v.Permitted {
		t.Error("allowing unannotated namespaces must not make a bad annotation permit anything")
	}
}

func TestReserved(t *testing.T) {
	reserved := []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("fd00:10:96::/112")}
	tests := []struct {
		cidr string
		want string // "" when none
	}{
		{"10.96.0.0/24", "10.96.0.0/12"},
		{"10.0.0.0/8", "10.96.0.0/12"},
		{"10.112.0.0/16", ""},
		{"fd00:10:96::/120", "fd00:10:96::/112"},
		{"fd00::/8", "fd00:10:96::/112"},
		{"fd01::/64", ""},
	}
	for _, tc := range tests {
		got, ok := tenancy.Reserved(reserved, netip.MustParsePrefix(tc.cidr))
		if (tc.want == "") == ok || (ok && got.String() != tc.want) {
			t.Errorf("Reserved(%s) = %v, %v; want %q", tc.cidr, got, ok, tc.want)
		}
	}
}

func FuzzParseAllowance(f *testing.F) {
	for _, tc := range tenancytest.Cases {
		f.Add(tc.Allowance, tc.CIDR)
	}
	f.Fuzz(func(t *testing.T, raw, cidr string) {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			t.Skip()
		}
		allowed, err := tenancy.ParseAllowance(raw)
		v := tenancy.Check("ns", map[string]string{tenancy.AllowedCIDRsAnnotation: raw}, p.Masked(), false)
		if err != nil && v.Permitted {
			t.Fatalf("a bad allowance %q permitted %s", raw, p)
		}
		if v.Permitted {
			found := false
			for _, a := range allowed {
				found = found || tenancy.Contains(a, p.Masked())
			}
			if !found {
				t.Fatalf("permitted %s outside %q", p, raw)
			}
		}
	})
}
