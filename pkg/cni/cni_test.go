package cni

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/samplecrd/network-controller/pkg/netspec"
)

const goldenIPv4 = `{
  "cniVersion": "1.0.0",
  "name": "default_blue",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni562ef55a60e4",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [
          [
            {
              "subnet": "192.168.0.0/16",
              "gateway": "192.168.0.1"
            }
          ]
        ]
      }
    }
  ]
}
`

const goldenIPv6 = `{
  "cniVersion": "1.0.0",
  "name": "tenant-a_v6net",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni47bf6fa16b1b",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [
          [
            {
              "subnet": "fd00:10::/64",
              "gateway": "fd00:10::1"
            }
          ]
        ]
      }
    }
  ]
}
`

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name      string
		namespace string
		network   string
		subnet    string
		gateway   string
		want      string
	}{
		{"IPv4 network renders the bridge config with an IPv4 default route", "default", "blue", "192.168.0.0/16", "192.168.0.1", goldenIPv4},
		{"IPv6 network renders the bridge config with an IPv6 default route", "tenant-a", "v6net", "fd00:10::/64", "fd00:10::1", goldenIPv6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.namespace, tt.network, netip.MustParsePrefix(tt.subnet), netip.MustParseAddr(tt.gateway))
			if err != nil {
				t.Fatalf("Render() error: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("Render() mismatch\n got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	tests := []struct {
		name    string
		subnet  string
		gateway string
	}{
		{"IPv4 output is identical on every call", "10.0.0.0/24", "10.0.0.1"},
		{"IPv6 output is identical on every call", "fd00::/64", "fd00::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, a := netip.MustParsePrefix(tt.subnet), netip.MustParseAddr(tt.gateway)
			first, err := Render("ns", "net", p, a)
			if err != nil {
				t.Fatalf("Render() error: %v", err)
			}
			for range 20 {
				again, err := Render("ns", "net", p, a)
				if err != nil || !bytes.Equal(first, again) {
					t.Fatalf("Render() changed between calls: err=%v\n%s\nvs\n%s", err, first, again)
				}
			}
		})
	}
}

func TestBridgeName(t *testing.T) {
	tests := []struct {
		name              string
		namespaceA, nameA string
		namespaceB, nameB string
		wantSame          bool
		wantA             string
	}{
		{
			name:       "same name in different namespaces gets different bridges",
			namespaceA: "default", nameA: "blue", namespaceB: "kube-system", nameB: "blue",
			wantA: "cni562ef55a60e4",
		},
		{
			name:       "same namespace with different names gets different bridges",
			namespaceA: "default", nameA: "blue", namespaceB: "default", nameB: "green",
			wantA: "cni562ef55a60e4",
		},
		{
			name:       "moving the boundary between namespace and name gets different bridges",
			namespaceA: "ab", nameA: "c", namespaceB: "a", nameB: "bc",
		},
		{
			name:       "the same network always gets the same bridge",
			namespaceA: "default", nameA: "blue", namespaceB: "default", nameB: "blue",
			wantSame: true, wantA: "cni562ef55a60e4",
		},
		{
			name:       "maximum-length Kubernetes names still fit an interface name",
			namespaceA: strings.Repeat("n", 63), nameA: strings.Repeat("x", 253),
			namespaceB: strings.Repeat("n", 63), nameB: strings.Repeat("y", 253),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := BridgeName(tt.namespaceA, tt.nameA), BridgeName(tt.namespaceB, tt.nameB)
			for _, n := range []string{a, b} {
				if len(n) > 15 || !strings.HasPrefix(n, "cni") {
					t.Fatalf("bridge name %q must start with cni and be at most 15 bytes", n)
				}
			}
			if (a == b) != tt.wantSame {
				t.Fatalf("BridgeName %q vs %q: same = %v, want %v", a, b, a == b, tt.wantSame)
			}
			if tt.wantA != "" && a != tt.wantA {
				t.Fatalf("BridgeName(%q, %q) = %q, want %q", tt.namespaceA, tt.nameA, a, tt.wantA)
			}
		})
	}
}

// parsedConf is the subset of the output that tests read back.
type parsedConf struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []struct {
		Type   string `json:"type"`
		Bridge string `json:"bridge"`
		IPMasq bool   `json:"ipMasq"`
		IPAM   struct {
			Ranges [][]struct {
				Subnet  string `json:"subnet"`
				Gateway string `json:"gateway"`
			} `json:"ranges"`
			Routes []struct {
				Dst string `json:"dst"`
			} `json:"routes"`
		} `json:"ipam"`
	} `json:"plugins"`
}

// checkRoundTrip fails the test unless out is a single-bridge configuration
// list carrying exactly subnet and gateway.
func checkRoundTrip(t *testing.T, out []byte, subnet netip.Prefix, gateway netip.Addr) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("output is not valid JSON:\n%s", out)
	}
	var c parsedConf
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if c.CNIVersion != CNIVersion || len(c.Plugins) != 1 || c.Plugins[0].Type != "bridge" {
		t.Fatalf("unexpected shape: %+v", c)
	}
	pl := c.Plugins[0]
	if len(pl.Bridge) > 15 || pl.Bridge == "" {
		t.Fatalf("bridge name %q is not a valid interface name length", pl.Bridge)
	}
	if len(pl.IPAM.Ranges) != 1 || len(pl.IPAM.Ranges[0]) != 1 {
		t.Fatalf("want exactly one range, got %+v", pl.IPAM.Ranges)
	}
	gotSubnet, err := netip.ParsePrefix(pl.IPAM.Ranges[0][0].Subnet)
	if err != nil || gotSubnet != subnet {
		t.Fatalf("subnet round trip: got %q (%v), want %v", pl.IPAM.Ranges[0][0].Subnet, err, subnet)
	}
	gotGateway, err := netip.ParseAddr(pl.IPAM.Ranges[0][0].Gateway)
	if err != nil || gotGateway != gateway {
		t.Fatalf("gateway round trip: got %q (%v), want %v", pl.IPAM.Ranges[0][0].Gateway, err, gateway)
	}
	if len(pl.IPAM.Routes) != 0 {
		t.Fatalf("a secondary network must install no routes (the default route is the cluster network's), got %+v", pl.IPAM.Routes)
	}
	if pl.IPMasq {
		t.Fatalf("ipMasq is on; the attachment must not masquerade")
	}
	checkLoadsWithLibcni(t, out, subnet, gateway)
}

func TestRenderRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		subnet  string
		gateway string
	}{
		{"IPv4 /16 subnet and gateway parse back unchanged", "192.168.0.0/16", "192.168.0.1"},
		{"IPv4 /30 subnet and gateway parse back unchanged", "10.0.0.0/30", "10.0.0.1"},
		{"IPv6 /64 subnet and gateway parse back unchanged", "fd00:10::/64", "fd00:10::1"},
		{"IPv6 /126 subnet and gateway parse back unchanged", "fd00::/126", "fd00::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, a := netip.MustParsePrefix(tt.subnet), netip.MustParseAddr(tt.gateway)
			out, err := Render("ns", "net", p, a)
			if err != nil {
				t.Fatalf("Render() error: %v", err)
			}
			checkRoundTrip(t, out, p, a)
			var c parsedConf
			_ = json.Unmarshal(out, &c)
			if c.Name != "ns_net" {
				t.Fatalf("network name = %q, want ns_net", c.Name)
			}
		})
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	v4 := netip.MustParsePrefix("10.0.0.0/24")
	gw4 := netip.MustParseAddr("10.0.0.1")
	tests := []struct {
		name      string
		namespace string
		network   string
		subnet    netip.Prefix
		gateway   netip.Addr
	}{
		{"zero prefix is refused", "ns", "net", netip.Prefix{}, gw4},
		{"zero gateway is refused", "ns", "net", v4, netip.Addr{}},
		{"IPv6 gateway for an IPv4 subnet is refused", "ns", "net", v4, netip.MustParseAddr("fd00::1")},
		{"IPv4 gateway for an IPv6 subnet is refused", "ns", "net", netip.MustParsePrefix("fd00::/64"), gw4},
		{"subnet with host bits set is refused", "ns", "net", netip.MustParsePrefix("10.0.0.1/24"), netip.MustParseAddr("10.0.0.2")},
		{"gateway outside the subnet is refused", "ns", "net", v4, netip.MustParseAddr("10.0.1.1")},
		{"IPv4-mapped IPv6 subnet is refused", "ns", "net", netip.MustParsePrefix("::ffff:10.0.0.0/120"), netip.MustParseAddr("::ffff:10.0.0.1")},
		{"IPv4 /31 is refused: host-local has no address to hand out", "ns", "net", netip.MustParsePrefix("10.0.0.0/31"), netip.MustParseAddr("10.0.0.1")},
		{"IPv6 /127 is refused: host-local has no address to hand out", "ns", "net", netip.MustParsePrefix("fd00::/127"), netip.MustParseAddr("fd00::1")},
		{"zoned gateway is refused", "ns", "net", netip.MustParsePrefix("fe80::/64"), netip.MustParseAddr("fe80::1%eth0")},
		{"empty namespace is refused", "", "net", v4, gw4},
		{"empty name is refused", "ns", "", v4, gw4},
		{"underscore in a name is refused because it is the separator", "ns", "a_b", v4, gw4},
		{"name starting with a dot is refused", "ns", ".net", v4, gw4},
		{"slash in a namespace is refused", "a/b", "net", v4, gw4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := Render(tt.namespace, tt.network, tt.subnet, tt.gateway); err == nil {
				t.Fatalf("Render() succeeded, want error; output:\n%s", out)
			}
		})
	}
}

func FuzzRender(f *testing.F) {
	seeds := []struct{ namespace, name, cidr, gateway string }{
		{"default", "blue", "192.168.0.0/16", "192.168.0.1"},
		{"tenant-a", "v6net", "fd00:10::/64", "fd00:10::1"},
		{"ns", "edge", "10.0.0.0/31", "10.0.0.1"},
		{"ns", "edge6", "fd00::/127", "fd00::1"},
		{"ns", "wide", "0.0.0.0/0", "10.0.0.1"},
		{"ns", "wide6", "::/0", "fd00::1"},
		{"ns", "bad", "192.168.0.0/16", "192.168.255.255"},
		{"a.b", "c-d", "172.16.0.0/12", "172.31.255.254"},
		{"", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.namespace, s.name, s.cidr, s.gateway)
	}
	f.Fuzz(func(t *testing.T, namespace, name, cidr, gateway string) {
		subnet, gw, err := netspec.Parse(cidr, gateway)
		if err != nil {
			t.Skip()
		}
		if checkNames(namespace, name) != nil {
			if _, err := Render(namespace, name, subnet, gw); err == nil {
				t.Fatalf("Render(%q, %q, ...) accepted names that are not valid in a CNI network name", namespace, name)
			}
			// Keep exercising the address handling with names that are valid.
			namespace, name = "ns", "net"
		}
		out, err := Render(namespace, name, subnet, gw)
		if err != nil {
			t.Fatalf("Render(%q, %q, %v, %v) refused a spec netspec accepts: %v", namespace, name, subnet, gw, err)
		}
		checkRoundTrip(t, out, subnet, gw)
		again, err := Render(namespace, name, subnet, gw)
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("Render(%q, %q, %v, %v) not deterministic", namespace, name, subnet, gw)
		}
	})
}

func TestSubnetReadsBackWhatRenderWrote(t *testing.T) {
	for _, cidr := range []string{"198.18.0.0/24", "fd00:10::/64"} {
		p := netip.MustParsePrefix(cidr)
		out, err := Render("ns", "net", p, p.Addr().Next())
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Subnet(out); err != nil || got != p {
			t.Errorf("Subnet(Render(%s)) = %v, %v", p, got, err)
		}
	}
	for _, bad := range []string{``, `{}`, `{"plugins":[{"ipam":{"ranges":[[{"subnet":"x"}]]}}]}`, `{"plugins":[{},{}]}`} {
		if got, err := Subnet([]byte(bad)); err == nil {
			t.Errorf("Subnet(%q) = %v, want an error", bad, got)
		}
	}
}
