package cni

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cniutils "github.com/containernetworking/cni/pkg/utils"
	"k8s.io/apimachinery/pkg/util/validation"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
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

// goldenBridgeExcluded: host-local has no exclude list, so the excluded
// ranges become holes between ranges of one subnet.
const goldenBridgeExcluded = `{
  "cniVersion": "1.0.0",
  "name": "default_blue",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni562ef55a60e4",
      "isGateway": true,
      "ipMasq": false,
      "mtu": 1400,
      "ipam": {
        "type": "host-local",
        "ranges": [
          [
            {
              "subnet": "198.18.0.0/24",
              "rangeStart": "198.18.0.1",
              "rangeEnd": "198.18.0.15",
              "gateway": "198.18.0.1"
            },
            {
              "subnet": "198.18.0.0/24",
              "rangeStart": "198.18.0.32",
              "rangeEnd": "198.18.0.127",
              "gateway": "198.18.0.1"
            }
          ]
        ]
      }
    }
  ]
}
`

// goldenMacvlanIPv4: the gateway is whereabouts' first exclude entry,
// because it does not leave the gateway out by itself; no kubeconfig or
// datastore: those are the node's.
const goldenMacvlanIPv4 = `{
  "cniVersion": "1.0.0",
  "name": "default_blue",
  "disableCheck": true,
  "plugins": [
    {
      "type": "macvlan",
      "master": "eth1",
      "mode": "bridge",
      "mtu": 1400,
      "ipam": {
        "type": "whereabouts",
        "network_name": "cni562ef55a60e4",
        "range": "198.18.0.0/24",
        "gateway": "198.18.0.1",
        "exclude": [
          "198.18.0.1/32",
          "198.18.0.16/28",
          "198.18.0.128/25"
        ]
      }
    }
  ]
}
`

const goldenMacvlanIPv6 = `{
  "cniVersion": "1.0.0",
  "name": "tenant-a_v6net",
  "disableCheck": true,
  "plugins": [
    {
      "type": "macvlan",
      "master": "bond0.100",
      "mode": "bridge",
      "ipam": {
        "type": "whereabouts",
        "network_name": "cni47bf6fa16b1b",
        "range": "fd00:10::/64",
        "gateway": "fd00:10::1",
        "exclude": [
          "fd00:10::1/128"
        ]
      }
    }
  ]
}
`

// pfx parses prefixes for test tables.
func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// network is a Network for test tables.
func network(namespace, name string, mode samplecrdv1.NetworkMode, cidr, gateway, uplink string, mtu int, exclude ...string) Network {
	return Network{Namespace: namespace, Name: name, Mode: mode, Subnet: netip.MustParsePrefix(cidr), Gateway: netip.MustParseAddr(gateway), Uplink: uplink, MTU: mtu, Exclude: pfx(exclude...)}
}

const (
	bridge  = samplecrdv1.NetworkModeBridge
	macvlan = samplecrdv1.NetworkModeMacvlan
)

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		n    Network
		want string
	}{
		{"IPv4 Bridge Network renders bridge and host-local with no routes", network("default", "blue", "", "192.168.0.0/16", "192.168.0.1", "", 0), goldenIPv4},
		{"IPv6 Bridge Network renders bridge and host-local with no routes", network("tenant-a", "v6net", bridge, "fd00:10::/64", "fd00:10::1", "", 0), goldenIPv6},
		{"Bridge Network with an MTU and excluded ranges leaves holes between host-local ranges", network("default", "blue", bridge, "198.18.0.0/24", "198.18.0.1", "", 1400, "198.18.0.16/28", "198.18.0.128/25"), goldenBridgeExcluded},
		{"IPv4 Macvlan Network renders macvlan on the uplink with whereabouts", network("default", "blue", macvlan, "198.18.0.0/24", "198.18.0.1", "eth1", 1400, "198.18.0.16/28", "198.18.0.128/25"), goldenMacvlanIPv4},
		{"IPv6 Macvlan Network without an MTU leaves it to the uplink", network("tenant-a", "v6net", macvlan, "fd00:10::/64", "fd00:10::1", "bond0.100", 0), goldenMacvlanIPv6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RenderNetwork(tt.n)
			if err != nil {
				t.Fatalf("RenderNetwork() error: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("RenderNetwork() mismatch\n got:\n%s\nwant:\n%s", got, tt.want)
			}
			checkRoundTrip(t, got, tt.n)
		})
	}
}

// Render is the shorthand for a plain Bridge Network; what it writes is
// what every earlier version wrote, so upgrading rewrites no attachment.
func TestRenderIsThePlainBridgeNetwork(t *testing.T) {
	got, err := Render("default", "blue", netip.MustParsePrefix("192.168.0.0/16"), netip.MustParseAddr("192.168.0.1"))
	if err != nil || string(got) != goldenIPv4 {
		t.Fatalf("Render() = %v\n%s\nwant\n%s", err, got, goldenIPv4)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	for _, n := range []Network{
		network("ns", "net", bridge, "10.0.0.0/24", "10.0.0.1", "", 0),
		network("ns", "net", bridge, "fd00::/64", "fd00::1", "", 9000, "fd00::/120", "fd00::1:0/112"),
		network("ns", "net", macvlan, "198.18.0.0/16", "198.18.0.1", "eth1", 1500, "198.18.255.0/24", "198.18.0.0/28"),
		network("ns", "net", macvlan, "fd00::/64", "fd00::1", "eth1", 0, "fd00::/120"),
	} {
		t.Run(string(n.Mode)+" "+n.Subnet.String(), func(t *testing.T) {
			first, err := RenderNetwork(n)
			if err != nil {
				t.Fatalf("RenderNetwork() error: %v", err)
			}
			for range 20 {
				again, err := RenderNetwork(n)
				if err != nil || !bytes.Equal(first, again) {
					t.Fatalf("RenderNetwork() changed between calls: err=%v\n%s\nvs\n%s", err, first, again)
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

// ConfListName is namespace_name whenever that fits the files the plugins
// and libcni name after it, so every Network that rendered before keeps
// its name; a longer one is cut and marked with the Network's hash,
// keeping the longest Kubernetes names distinct, valid and short enough.
func TestConfListName(t *testing.T) {
	ns63 := strings.Repeat("n", 63)
	tests := []struct {
		name            string
		namespace, net  string
		want            string // "" for a cut name, checked by its shape
		wantLen         int
		sameAsNamespace string // another Network's namespace/name that must render differently
		sameAsName      string
	}{
		{name: "a short name is namespace_name", namespace: "default", net: "blue", want: "default_blue", wantLen: 12},
		{name: "one byte below the limit is kept", namespace: ns63, net: strings.Repeat("x", MaxConfListName-65), want: ns63 + "_" + strings.Repeat("x", MaxConfListName-65), wantLen: MaxConfListName - 1},
		{name: "exactly at the limit is kept", namespace: ns63, net: strings.Repeat("x", MaxConfListName-64), want: ns63 + "_" + strings.Repeat("x", MaxConfListName-64), wantLen: MaxConfListName},
		{name: "one byte over the limit is cut", namespace: ns63, net: strings.Repeat("x", MaxConfListName-63), wantLen: MaxConfListName,
			sameAsNamespace: ns63, sameAsName: strings.Repeat("x", MaxConfListName-64)},
		{name: "the longest namespace and name are cut", namespace: ns63, net: strings.Repeat("x", 253), wantLen: MaxConfListName},
		{name: "two longest names that differ only in their last byte stay distinct", namespace: ns63, net: strings.Repeat("x", 252) + "a", wantLen: MaxConfListName,
			sameAsNamespace: ns63, sameAsName: strings.Repeat("x", 252) + "b"},
		{name: "moving the boundary between namespace and name of long names keeps them distinct", namespace: "ab", net: strings.Repeat("c", 253), wantLen: MaxConfListName,
			sameAsNamespace: "a", sameAsName: "b" + strings.Repeat("c", 253)[:252]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ConfListName(tt.namespace, tt.net)
			if got != ConfListName(tt.namespace, tt.net) {
				t.Fatal("not deterministic")
			}
			if len(got) != tt.wantLen {
				t.Errorf("ConfListName is %d bytes, want %d: %s", len(got), tt.wantLen, got)
			}
			if err := cniutils.ValidateNetworkName(got); err != nil {
				t.Errorf("CNI refuses the network name %q: %v", got, err)
			}
			full := tt.namespace + "_" + tt.net
			if tt.want != "" {
				if got != tt.want {
					t.Errorf("ConfListName = %q, want %q", got, tt.want)
				}
			} else {
				// Recognisable: the start of namespace_name, then the
				// Network's bridge hash after a second underscore, which
				// no uncut name has.
				suffix := "_" + strings.TrimPrefix(BridgeName(tt.namespace, tt.net), bridgePrefix)
				if !strings.HasSuffix(got, suffix) || !strings.HasPrefix(full, strings.TrimSuffix(got, suffix)) {
					t.Errorf("cut name %q is not a prefix of %q followed by %q", got, full, suffix)
				}
				if strings.Count(got, "_") != 2 {
					t.Errorf("cut name %q has %d underscores, want 2 so that no uncut name can equal it", got, strings.Count(got, "_"))
				}
			}
			if tt.sameAsName != "" {
				if other := ConfListName(tt.sameAsNamespace, tt.sameAsName); other == got {
					t.Errorf("%s/%s and %s/%s both render %q", tt.namespace, tt.net, tt.sameAsNamespace, tt.sameAsName, got)
				}
			}
			checkFilesFit(t, got)
		})
	}
}

// checkFilesFit makes, in a temporary directory, the longest files named
// after network: host-local's directory and libcni's cached result for a
// 64-digit container ID on a 15-byte interface.
func checkFilesFit(t *testing.T, network string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, network), 0o700); err != nil {
		t.Errorf("host-local's directory: %v", err)
	}
	cached := network + "-" + strings.Repeat("f", 64) + "-" + strings.Repeat("i", 15)
	if err := os.WriteFile(filepath.Join(dir, cached), nil, 0o600); err != nil {
		t.Errorf("libcni's cached result: %v", err)
	}
}

// whereabouts makes object names of network_name: an IPPool is named
// network_name-range (':' and '/' turned into '-'), a reservation
// network_name-address. Both must be valid Kubernetes names, for the
// longest ranges and addresses too, and distinct Networks must not share
// a network_name.
func TestNetworkNameMakesValidObjectNames(t *testing.T) {
	seen := map[string]string{}
	for _, id := range [][2]string{
		{"default", "blue"}, {"kube-system", "blue"}, {"default", "green"}, {"ab", "c"}, {"a", "bc"},
		{strings.Repeat("n", 63), strings.Repeat("x", 253)},
	} {
		name := NetworkName(id[0], id[1])
		if other, ok := seen[name]; ok {
			t.Errorf("%s/%s and %s share network_name %s", id[0], id[1], other, name)
		}
		seen[name] = id[0] + "/" + id[1]
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Errorf("network_name %q of %s/%s: %v", name, id[0], id[1], errs)
		}
		for _, suffix := range []string{"198.18.0.0-24", "ffff-ffff-ffff-ffff-ffff-ffff-ffff-ffff", "ffff-ffff-ffff-ffff-ffff-ffff-ffff-ff00-120", "fd00-10--64"} {
			if errs := validation.IsDNS1123Subdomain(name + "-" + suffix); len(errs) > 0 {
				t.Errorf("whereabouts object %s-%s: %v", name, suffix, errs)
			}
		}
	}
	if NetworkName("default", "blue") != BridgeName("default", "blue") {
		t.Errorf("network_name %s and bridge %s differ; one identifier should name a Network everywhere", NetworkName("default", "blue"), BridgeName("default", "blue"))
	}
}

// parsedConf is the subset of the output that tests read back, for both
// modes.
type parsedConf struct {
	CNIVersion   string `json:"cniVersion"`
	Name         string `json:"name"`
	DisableCheck bool   `json:"disableCheck"`
	Plugins      []struct {
		Type   string `json:"type"`
		Bridge string `json:"bridge"`
		Master string `json:"master"`
		Mode   string `json:"mode"`
		MTU    int    `json:"mtu"`
		IPMasq bool   `json:"ipMasq"`
		IPAM   struct {
			Type   string `json:"type"`
			Ranges [][]struct {
				Subnet  string `json:"subnet"`
				Gateway string `json:"gateway"`
			} `json:"ranges"`
			Range       string   `json:"range"`
			Gateway     string   `json:"gateway"`
			Exclude     []string `json:"exclude"`
			NetworkName string   `json:"network_name"`
			Routes      []struct {
				Dst string `json:"dst"`
			} `json:"routes"`
			Kubeconfig        any `json:"kubernetes"`
			ConfigurationPath any `json:"configuration_path"`
			Datastore         any `json:"datastore"`
		} `json:"ipam"`
	} `json:"plugins"`
}

// checkRoundTrip fails the test unless out is a one-plugin configuration
// list of n's mode carrying exactly n's subnet, gateway, uplink and MTU,
// with no routes and nothing node-specific, that the plugins' own
// configuration loaders accept and whose IPAM hands out exactly Pool(n).
func checkRoundTrip(t *testing.T, out []byte, n Network) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("output is not valid JSON:\n%s", out)
	}
	var c parsedConf
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if c.CNIVersion != CNIVersion || len(c.Plugins) != 1 || c.Name != ConfListName(n.Namespace, n.Name) {
		t.Fatalf("unexpected shape: %+v", c)
	}
	pl := c.Plugins[0]
	if len(pl.IPAM.Routes) != 0 {
		t.Fatalf("a secondary network must install no routes (the default route is the cluster network's), got %+v", pl.IPAM.Routes)
	}
	if pl.MTU != n.MTU {
		t.Fatalf("mtu = %d, want %d", pl.MTU, n.MTU)
	}
	if got, err := Subnet(out); err != nil || got != n.Subnet {
		t.Fatalf("Subnet() = %v, %v; want %v", got, err, n.Subnet)
	}
	switch n.mode() {
	case bridge:
		if pl.Type != "bridge" || pl.IPAM.Type != "host-local" || c.DisableCheck {
			t.Fatalf("a Bridge Network renders bridge with host-local and CHECK on, got %+v", c)
		}
		if pl.Bridge != BridgeName(n.Namespace, n.Name) {
			t.Fatalf("bridge %q, want %q", pl.Bridge, BridgeName(n.Namespace, n.Name))
		}
		if pl.IPMasq {
			t.Fatalf("ipMasq is on; the attachment must not masquerade")
		}
		if len(pl.IPAM.Ranges) != 1 || len(pl.IPAM.Ranges[0]) == 0 {
			t.Fatalf("want one range set, got %+v", pl.IPAM.Ranges)
		}
		for _, r := range pl.IPAM.Ranges[0] {
			if r.Subnet != n.Subnet.String() || r.Gateway != n.Gateway.String() {
				t.Fatalf("range %+v, want subnet %s and gateway %s", r, n.Subnet, n.Gateway)
			}
		}
		checkBridgeLoads(t, out, n)
	case macvlan:
		if pl.Type != "macvlan" || pl.Mode != "bridge" || pl.Master != n.Uplink || pl.IPAM.Type != "whereabouts" {
			t.Fatalf("a Macvlan Network renders macvlan (bridge mode) on the uplink with whereabouts, got %+v", pl)
		}
		if !c.DisableCheck {
			t.Fatalf("whereabouts fails CHECK; the list must disable CHECK")
		}
		if pl.IPAM.Range != n.Subnet.String() || pl.IPAM.Gateway != n.Gateway.String() || pl.IPAM.NetworkName != NetworkName(n.Namespace, n.Name) {
			t.Fatalf("ipam %+v, want range %s, gateway %s, network_name %s", pl.IPAM, n.Subnet, n.Gateway, NetworkName(n.Namespace, n.Name))
		}
		if pl.IPAM.Kubeconfig != nil || pl.IPAM.ConfigurationPath != nil || pl.IPAM.Datastore != nil {
			t.Fatalf("node-side whereabouts settings in the attachment: %+v", pl.IPAM)
		}
		checkMacvlanLoads(t, out, n)
	default:
		t.Fatalf("no check for mode %q", n.Mode)
	}
}

func TestRenderRoundTrip(t *testing.T) {
	for _, n := range []Network{
		network("ns", "net", bridge, "192.168.0.0/16", "192.168.0.1", "", 0),
		network("ns", "net", bridge, "10.0.0.0/30", "10.0.0.1", "", 0),
		network("ns", "net", bridge, "fd00:10::/64", "fd00:10::1", "", 0),
		network("ns", "net", bridge, "fd00::/126", "fd00::1", "", 1280),
		network("ns", "net", bridge, "198.18.0.0/28", "198.18.0.14", "", 0, "198.18.0.0/30", "198.18.0.8/31"),
		network("ns", "net", bridge, "fd00::/120", "fd00::1", "", 0, "fd00::80/121"),
		network("ns", "net", macvlan, "198.18.0.0/24", "198.18.0.1", "eth1", 0),
		network("ns", "net", macvlan, "198.18.0.0/30", "198.18.0.1", "eth1", 68),
		network("ns", "net", macvlan, "198.18.0.0/28", "198.18.0.14", "uplink.42", 9000, "198.18.0.0/30", "198.18.0.8/31"),
		network("ns", "net", macvlan, "fd00::/120", "fd00::1", "eth1", 1500, "fd00::80/121"),
		network("ns", "net", macvlan, "fd00::/126", "fd00::2", "eth1", 65535),
		network(strings.Repeat("n", 63), strings.Repeat("x", 253), bridge, "198.18.0.0/24", "198.18.0.1", "", 0),
		network(strings.Repeat("n", 63), strings.Repeat("x", 253), macvlan, "198.18.0.0/24", "198.18.0.1", "eth1", 0),
	} {
		t.Run(string(n.mode())+" "+n.Subnet.String(), func(t *testing.T) {
			out, err := RenderNetwork(n)
			if err != nil {
				t.Fatalf("RenderNetwork() error: %v", err)
			}
			checkRoundTrip(t, out, n)
		})
	}
}

func TestPool(t *testing.T) {
	r := func(first, last string) AddrRange {
		return AddrRange{netip.MustParseAddr(first), netip.MustParseAddr(last)}
	}
	tests := []struct {
		name string
		n    Network
		want []AddrRange
	}{
		{"IPv4 keeps back the network, broadcast and gateway addresses",
			network("ns", "n", bridge, "198.18.0.0/24", "198.18.0.1", "", 0), []AddrRange{r("198.18.0.2", "198.18.0.254")}},
		{"a gateway in the middle splits the pool",
			network("ns", "n", macvlan, "198.18.0.0/24", "198.18.0.100", "eth1", 0), []AddrRange{r("198.18.0.1", "198.18.0.99"), r("198.18.0.101", "198.18.0.254")}},
		{"excluded ranges, overlapping or not, leave holes",
			network("ns", "n", bridge, "198.18.0.0/24", "198.18.0.1", "", 0, "198.18.0.16/28", "198.18.0.16/29", "198.18.0.128/25"), []AddrRange{r("198.18.0.2", "198.18.0.15"), r("198.18.0.32", "198.18.0.127")}},
		{"host-local hands out an IPv6 subnet's last address",
			network("ns", "n", bridge, "fd00::/120", "fd00::1", "", 0), []AddrRange{r("fd00::2", "fd00::ff")}},
		{"whereabouts does not hand out an IPv6 subnet's last address",
			network("ns", "n", macvlan, "fd00::/120", "fd00::1", "eth1", 0), []AddrRange{r("fd00::2", "fd00::fe")}},
		{"an IPv4 /30 has one address for pods",
			network("ns", "n", macvlan, "198.18.0.0/30", "198.18.0.2", "eth1", 0), []AddrRange{r("198.18.0.1", "198.18.0.1")}},
		{"excluded ranges and the gateway can leave nothing",
			network("ns", "n", macvlan, "198.18.0.0/29", "198.18.0.1", "eth1", 0, "198.18.0.0/30", "198.18.0.4/30"), nil},
		{"whereabouts' IPv6 /126 minus the gateway leaves one address",
			network("ns", "n", macvlan, "fd00::/126", "fd00::1", "eth1", 0), []AddrRange{r("fd00::2", "fd00::2")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Pool(tt.n); !slices.Equal(got, tt.want) {
				t.Fatalf("Pool() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	v4 := netip.MustParsePrefix("10.0.0.0/24")
	gw4 := netip.MustParseAddr("10.0.0.1")
	ok := Network{Namespace: "ns", Name: "net", Subnet: v4, Gateway: gw4}
	with := func(f func(n *Network)) Network {
		n := ok
		f(&n)
		return n
	}
	if _, err := RenderNetwork(ok); err != nil {
		t.Fatalf("the base case must render: %v", err)
	}
	tests := []struct {
		name string
		n    Network
	}{
		{"zero prefix is refused", with(func(n *Network) { n.Subnet = netip.Prefix{} })},
		{"zero gateway is refused", with(func(n *Network) { n.Gateway = netip.Addr{} })},
		{"IPv6 gateway for an IPv4 subnet is refused", with(func(n *Network) { n.Gateway = netip.MustParseAddr("fd00::1") })},
		{"IPv4 gateway for an IPv6 subnet is refused", with(func(n *Network) { n.Subnet = netip.MustParsePrefix("fd00::/64") })},
		{"subnet with host bits set is refused", with(func(n *Network) { n.Subnet = netip.MustParsePrefix("10.0.0.1/24") })},
		{"gateway outside the subnet is refused", with(func(n *Network) { n.Gateway = netip.MustParseAddr("10.0.1.1") })},
		{"IPv4-mapped IPv6 subnet is refused", with(func(n *Network) {
			n.Subnet, n.Gateway = netip.MustParsePrefix("::ffff:10.0.0.0/120"), netip.MustParseAddr("::ffff:10.0.0.1")
		})},
		{"IPv4 /31 is refused: host-local has no address to hand out", with(func(n *Network) { n.Subnet = netip.MustParsePrefix("10.0.0.0/31") })},
		{"IPv6 /127 is refused: host-local has no address to hand out", with(func(n *Network) {
			n.Subnet, n.Gateway = netip.MustParsePrefix("fd00::/127"), netip.MustParseAddr("fd00::1")
		})},
		{"zoned gateway is refused", with(func(n *Network) {
			n.Subnet, n.Gateway = netip.MustParsePrefix("fe80::/64"), netip.MustParseAddr("fe80::1%eth0")
		})},
		{"empty namespace is refused", with(func(n *Network) { n.Namespace = "" })},
		{"empty name is refused", with(func(n *Network) { n.Name = "" })},
		{"underscore in a name is refused because it is the separator", with(func(n *Network) { n.Name = "a_b" })},
		{"name starting with a dot is refused", with(func(n *Network) { n.Name = ".net" })},
		{"slash in a namespace is refused", with(func(n *Network) { n.Namespace = "a/b" })},
		{"an unknown mode is refused", with(func(n *Network) { n.Mode = "IPVLAN" })},
		{"a Bridge Network with an uplink is refused", with(func(n *Network) { n.Uplink = "eth1" })},
		{"a Macvlan Network without an uplink is refused", with(func(n *Network) { n.Mode = macvlan })},
		{"an uplink of 16 bytes is refused", with(func(n *Network) { n.Mode, n.Uplink = macvlan, strings.Repeat("e", 16) })},
		{"an uplink with a slash is refused", with(func(n *Network) { n.Mode, n.Uplink = macvlan, "eth/1" })},
		{"an uplink with a colon is refused", with(func(n *Network) { n.Mode, n.Uplink = macvlan, "eth1:0" })},
		{"an uplink with a space is refused", with(func(n *Network) { n.Mode, n.Uplink = macvlan, "eth 1" })},
		{"an uplink of .. is refused", with(func(n *Network) { n.Mode, n.Uplink = macvlan, ".." })},
		{"an MTU below 68 is refused", with(func(n *Network) { n.MTU = 67 })},
		{"an MTU above 65535 is refused", with(func(n *Network) { n.MTU = 65536 })},
		{"an IPv6 MTU below 1280 is refused", with(func(n *Network) {
			n.Subnet, n.Gateway, n.MTU = netip.MustParsePrefix("fd00::/64"), netip.MustParseAddr("fd00::1"), 1279
		})},
		{"an excluded range outside the subnet is refused", with(func(n *Network) { n.Exclude = pfx("10.0.1.0/28") })},
		{"an excluded range of the other family is refused", with(func(n *Network) { n.Exclude = pfx("fd00::/120") })},
		{"an excluded range with host bits set is refused", with(func(n *Network) { n.Exclude = pfx("10.0.0.1/28") })},
		{"excluding the whole subnet is refused", with(func(n *Network) { n.Exclude = pfx("10.0.0.0/24") })},
		{"excluded ranges that cover the subnet in pieces are refused", with(func(n *Network) { n.Exclude = pfx("10.0.0.0/25", "10.0.0.128/26", "10.0.0.192/26") })},
		{"a Macvlan Network whose IPv6 pool is only its last address is refused", with(func(n *Network) {
			n.Mode, n.Uplink = macvlan, "eth1"
			n.Subnet, n.Gateway, n.Exclude = netip.MustParsePrefix("fd00::/126"), netip.MustParseAddr("fd00::1"), pfx("fd00::2/127")
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := RenderNetwork(tt.n); err == nil {
				t.Fatalf("RenderNetwork() succeeded, want error; output:\n%s", out)
			}
		})
	}
}

func FuzzRender(f *testing.F) {
	seeds := []struct {
		namespace, name string
		macvlan         bool
		cidr, gateway   string
		uplink          string
		mtu             int
		exclude         string // comma-separated
	}{
		{"default", "blue", false, "192.168.0.0/16", "192.168.0.1", "", 0, ""},
		{"tenant-a", "v6net", false, "fd00:10::/64", "fd00:10::1", "", 0, ""},
		{"ns", "edge", false, "10.0.0.0/31", "10.0.0.1", "", 0, ""},
		{"ns", "edge6", false, "fd00::/127", "fd00::1", "", 0, ""},
		{"ns", "wide", false, "0.0.0.0/0", "10.0.0.1", "", 0, ""},
		{"ns", "bad", false, "192.168.0.0/16", "192.168.255.255", "", 0, ""},
		{"a.b", "c-d", false, "172.16.0.0/12", "172.31.255.254", "", 1500, "172.16.0.0/24"},
		{"ns", "holes", false, "198.18.0.0/28", "198.18.0.5", "", 0, "198.18.0.0/30,198.18.0.8/29"},
		{"ns", "mv", true, "198.18.0.0/24", "198.18.0.1", "eth1", 1400, "198.18.0.128/25"},
		{"ns", "mv6", true, "fd00::/120", "fd00::1", "eth1", 1280, "fd00::/124,fd00::f0/124"},
		{"ns", "mvfull", true, "198.18.0.0/29", "198.18.0.1", "eth1", 0, "198.18.0.0/30,198.18.0.4/30"},
		{"ns", "mvbad", true, "198.18.0.0/24", "198.18.0.1", "eth 1", 70000, "10.0.0.0/8"},
		{"", "", true, "", "", "", 0, ""},
	}
	for _, s := range seeds {
		f.Add(s.namespace, s.name, s.macvlan, s.cidr, s.gateway, s.uplink, s.mtu, s.exclude)
	}
	f.Fuzz(func(t *testing.T, namespace, name string, isMacvlan bool, cidr, gateway, uplink string, mtu int, exclude string) {
		n := Network{Namespace: namespace, Name: name, Mode: bridge, Uplink: uplink, MTU: mtu}
		if isMacvlan {
			n.Mode = macvlan
		}
		var err error
		if n.Subnet, err = netip.ParsePrefix(cidr); err != nil {
			t.Skip()
		}
		if n.Gateway, err = netip.ParseAddr(gateway); err != nil {
			t.Skip()
		}
		if exclude != "" {
			for _, s := range strings.Split(exclude, ",") {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					t.Skip()
				}
				n.Exclude = append(n.Exclude, p)
			}
		}
		out, err := RenderNetwork(n)
		if err != nil {
			if check(n) == nil {
				t.Fatalf("RenderNetwork(%+v) failed on input check accepts: %v", n, err)
			}
			return
		}
		if len(Pool(n)) == 0 {
			t.Fatalf("RenderNetwork(%+v) rendered a Network whose IPAM has no address for pods", n)
		}
		checkRoundTrip(t, out, n)
		again, err := RenderNetwork(n)
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("RenderNetwork(%+v) not deterministic", n)
		}
	})
}

func TestSubnetReadsBackWhatRenderWrote(t *testing.T) {
	for _, n := range []Network{
		network("ns", "net", bridge, "198.18.0.0/24", "198.18.0.1", "", 0),
		network("ns", "net", bridge, "198.18.0.0/24", "198.18.0.1", "", 0, "198.18.0.64/26"),
		network("ns", "net", macvlan, "fd00:10::/64", "fd00:10::1", "eth1", 0),
	} {
		out, err := RenderNetwork(n)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Subnet(out); err != nil || got != n.Subnet {
			t.Errorf("Subnet(RenderNetwork(%s %s)) = %v, %v", n.mode(), n.Subnet, got, err)
		}
	}
	for _, bad := range []string{``, `{}`,
		`{"plugins":[{"type":"bridge","ipam":{"ranges":[[{"subnet":"x"}]]}}]}`,
		`{"plugins":[{"type":"bridge","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"10.1.0.0/24"}]]}}]}`,
		`{"plugins":[{"type":"macvlan","ipam":{"range":"nope"}}]}`,
		`{"plugins":[{"type":"ipvlan","ipam":{"range":"10.0.0.0/24"}}]}`,
		`{"plugins":[{},{}]}`,
	} {
		if got, err := Subnet([]byte(bad)); err == nil {
			t.Errorf("Subnet(%q) = %v, want an error", bad, got)
		}
	}
}
