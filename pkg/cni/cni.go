// Package cni renders the CNI network configuration list that the controller
// stores in a NetworkAttachmentDefinition for each ready Network.
//
// A Network is a secondary network: a pod attached to it keeps its eth0,
// routes and DNS from the cluster network and gets one more interface. So
// the configuration installs no routes at all (no default route) and
// nothing masquerades: nothing leaves a node with the node's address on the
// pod's behalf and no firewall rules are written on the nodes.
//
// Two modes (see samplecrdv1.NetworkMode):
//   - Bridge: the reference bridge plugin with host-local IPAM. Each node
//     has its own bridge and its own allocator, so the Network is an island
//     per node; the node needs nothing beyond the kernel's bridge and veth.
//   - Macvlan: the reference macvlan plugin on the node interface the
//     Network names, with whereabouts IPAM, whose allocations are objects in
//     the API server and so unique across the cluster. The Network spans
//     every node whose uplink is on the same layer-2 network. Where
//     whereabouts finds the API server (its kubeconfig) is the node's
//     business: it lives in whereabouts' own configuration file on the node,
//     not in the attachment, which is the same for every node.
//
// The output is built from Go structs with encoding/json so that it is always
// well-formed JSON, and it is deterministic byte for byte so that the
// controller can compare it with the stored attachment and skip no-op updates.
package cni

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// CNIVersion is the CNI specification version the configuration declares;
// 1.0.0 is the version whose conflist format this package follows.
const CNIVersion = "1.0.0"

// maxIfName is the longest Linux interface name: IFNAMSIZ is 16 including
// the terminating NUL byte.
const maxIfName = 15

// The rendered network name must fit every file name the plugins and the
// runtimes make of it, and Linux refuses file names over nameMax bytes
// (NAME_MAX) with "file name too long". host-local keeps its allocations in
// a directory named after the network (dataDir/<name>), and libcni, in the
// runtime and in Multus, caches each ADD's result in a file named
// "<name>-<container ID>-<interface>" (results/ under its cache
// directory). Container IDs are 64 hex digits from containerd and CRI-O,
// and an interface name is at most maxIfName bytes, so the cache file is
// the longest: MaxConfListName is what it leaves for the name.
// (whereabouts names nothing after the list's name: it uses network_name,
// see NetworkName; bridge uses it only to masquerade, which the attachment
// turns off; macvlan not at all.)
const (
	nameMax        = 255
	maxContainerID = 64
	// MaxConfListName is the longest CNI network name RenderNetwork writes.
	MaxConfListName = nameMax - len("-") - maxContainerID - len("-") - maxIfName
)

// bridgePrefix marks bridges created for Networks so that an administrator can
// tell them from other interfaces on the node.
const bridgePrefix = "cni"

// MTU limits: Linux accepts 68 (the IPv4 minimum) to 65535 on the links the
// plugins make; IPv6 needs at least 1280.
const (
	MinMTU     = 68
	MinMTUIPv6 = 1280
	MaxMTU     = 65535
)

// Network is what the configuration is rendered from: a Network's identity
// and its validated spec.
type Network struct {
	// Namespace and Name identify the Network; they name the
	// configuration list, the bridge and whereabouts' pools.
	Namespace, Name string
	// Mode is Bridge or Macvlan; empty means Bridge, the API's default.
	Mode samplecrdv1.NetworkMode
	// Subnet is spec.cidr, canonical.
	Subnet netip.Prefix
	// Gateway is spec.gateway; it is never handed to a pod.
	Gateway netip.Addr
	// Uplink is the node interface a Macvlan Network rides on; empty for
	// Bridge.
	Uplink string
	// MTU is the pods' interfaces' MTU; 0 leaves it to the plugin.
	MTU int
	// Exclude are ranges inside Subnet never handed to a pod.
	Exclude []netip.Prefix
}

// Named returns n as the Network namespace/name: a parsed spec
// (netspec.ParseSpec) does not know whose it is.
func (n Network) Named(namespace, name string) Network {
	n.Namespace, n.Name = namespace, name
	return n
}

// mode returns the Network's mode with the API's default applied.
func (n Network) mode() samplecrdv1.NetworkMode {
	if n.Mode == "" {
		return samplecrdv1.NetworkModeBridge
	}
	return n.Mode
}

// confList is a CNI network configuration list. Field order here is the
// order in the output.
//
// DisableCheck is set for Macvlan: whereabouts does not implement CHECK (it
// fails it), and a runtime that checks a list runs CHECK on every plugin
// in it, so with it unset every CHECK of a healthy pod would fail. The cost
// is that macvlan's own CHECK is skipped too.
type confList struct {
	CNIVersion   string `json:"cniVersion"`
	Name         string `json:"name"`
	DisableCheck bool   `json:"disableCheck,omitempty"`
	Plugins      []any  `json:"plugins"`
}

// bridgeConfig is the configuration of the reference "bridge" plugin.
//
// IsGateway gives the bridge (the node side of the Network) the gateway
// address, so spec.gateway answers on the pod's interface and a pod that
// asks Multus for default-route through it can use it. IPMasq is written
// out, false, rather than left to the plugin's default, so that whoever
// reads the attachment sees the choice.
type bridgeConfig struct {
	Type      string    `json:"type"`
	Bridge    string    `json:"bridge"`
	IsGateway bool      `json:"isGateway"`
	IPMasq    bool      `json:"ipMasq"`
	MTU       int       `json:"mtu,omitempty"`
	IPAM      hostLocal `json:"ipam"`
}

// hostLocal is the configuration of the "host-local" IPAM plugin. It has no
// routes: the subnet's own route comes with the address, and any other
// route, the default one above all, belongs to the cluster network.
type hostLocal struct {
	Type   string        `json:"type"`
	Ranges [][]ipamRange `json:"ranges"`
}

// ipamRange is one address range for host-local. host-local has no list of
// addresses to leave out, but a range set may hold several ranges of one
// subnet with disjoint rangeStart..rangeEnd, which is how excluded ranges
// are left out. It skips each range's gateway itself.
type ipamRange struct {
	Subnet     string `json:"subnet"`
	RangeStart string `json:"rangeStart,omitempty"`
	RangeEnd   string `json:"rangeEnd,omitempty"`
	Gateway    string `json:"gateway"`
}

// macvlanConfig is the configuration of the reference "macvlan" plugin.
// Mode "bridge" lets the macvlan interfaces on one uplink reach each other
// directly (the plugin's default, written out so that readers see it).
type macvlanConfig struct {
	Type   string      `json:"type"`
	Master string      `json:"master"`
	Mode   string      `json:"mode"`
	MTU    int         `json:"mtu,omitempty"`
	IPAM   whereabouts `json:"ipam"`
}

// whereabouts is the configuration of the whereabouts IPAM plugin. It has
// no routes, for the reason hostLocal has none. It does not leave the
// gateway out by itself, so the gateway is the first entry of Exclude.
// NetworkName scopes its pools and reservations to this Network.
type whereabouts struct {
	Type        string   `json:"type"`
	NetworkName string   `json:"network_name"`
	Range       string   `json:"range"`
	Gateway     string   `json:"gateway"`
	Exclude     []string `json:"exclude"`
}

// Render returns the configuration list of a Bridge Network with no MTU
// and no excluded ranges: RenderNetwork's shorthand for the common case.
func Render(namespace, name string, subnet netip.Prefix, gateway netip.Addr) ([]byte, error) {
	return RenderNetwork(Network{Namespace: namespace, Name: name, Subnet: subnet, Gateway: gateway})
}

// RenderNetwork returns the CNI configuration list for n, as two-space
// indented JSON with a trailing newline.
//
// The list's name is ConfListName's. The input is checked even though
// callers normally pass what pkg/netspec accepted, because a bad value here
// would only surface later as a pod that cannot start on some node.
func RenderNetwork(n Network) ([]byte, error) {
	if err := check(n); err != nil {
		return nil, err
	}
	conf := confList{CNIVersion: CNIVersion, Name: ConfListName(n.Namespace, n.Name)}
	switch n.mode() {
	case samplecrdv1.NetworkModeBridge:
		conf.Plugins = []any{bridgeConfig{
			Type:      "bridge",
			Bridge:    BridgeName(n.Namespace, n.Name),
			IsGateway: true,
			IPMasq:    false,
			MTU:       n.MTU,
			IPAM:      hostLocal{Type: "host-local", Ranges: [][]ipamRange{hostLocalRanges(n)}},
		}}
	case samplecrdv1.NetworkModeMacvlan:
		exclude := []string{netip.PrefixFrom(n.Gateway, n.Gateway.BitLen()).String()}
		for _, p := range n.Exclude {
			exclude = append(exclude, p.String())
		}
		conf.DisableCheck = true
		conf.Plugins = []any{macvlanConfig{
			Type:   "macvlan",
			Master: n.Uplink,
			Mode:   "bridge",
			MTU:    n.MTU,
			IPAM: whereabouts{
				Type:        "whereabouts",
				NetworkName: NetworkName(n.Namespace, n.Name),
				Range:       n.Subnet.String(),
				Gateway:     n.Gateway.String(),
				Exclude:     exclude,
			},
		}}
	}
	out, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding CNI configuration: %w", err)
	}
	return append(out, '\n'), nil
}

// hostLocalRanges is the range set for a Bridge Network: the whole subnet
// when nothing is excluded (exactly what earlier versions rendered, so
// that upgrading rewrites no attachment), else one range per stretch of
// host-local's addresses that no excluded range covers.
func hostLocalRanges(n Network) []ipamRange {
	gw := n.Gateway.String()
	if len(n.Exclude) == 0 {
		return []ipamRange{{Subnet: n.Subnet.String(), Gateway: gw}}
	}
	var out []ipamRange
	for _, r := range subtract([]AddrRange{hostLocalUsable(n.Subnet)}, n.Exclude) {
		out = append(out, ipamRange{Subnet: n.Subnet.String(), RangeStart: r.First.String(), RangeEnd: r.Last.String(), Gateway: gw})
	}
	return out
}

// ConfListName returns the CNI network name (the configuration list's
// "name") of the Network namespace/name: namespace + "_" + name. An
// underscore cannot occur in Kubernetes names, so distinct Networks get
// distinct names, and CNI allows it in network names.
//
// Kubernetes names make that up to 63 + 1 + 253 bytes, more than the files
// named after it can hold (see MaxConfListName). A longer one is cut to its
// first MaxConfListName-13 bytes, followed by "_" and the 12 hex digits of
// the Network's bridge (BridgeName): still readable, the same on every
// controller, and shared by two Networks only if their bridges are too (48
// bits of SHA-256). It can never equal a name that was not cut: the part
// kept always holds the whole namespace (at most 63 bytes) and its
// underscore, so it has two underscores where an uncut name has one. Names
// that fit are left as they are, so no Network that rendered before
// changes its name (or host-local's directory) now.
func ConfListName(namespace, name string) string {
	full := namespace + "_" + name
	if len(full) <= MaxConfListName {
		return full
	}
	suffix := "_" + digest(namespace, name)
	return full[:MaxConfListName-len(suffix)] + suffix
}

// BridgeName returns the Linux bridge interface name for the Network
// namespace/name. Interface names are limited to 15 bytes, far shorter than
// Kubernetes names, so the name is "cni" followed by the first 12 hex digits
// of the SHA-256 of "namespace/name": deterministic across controller
// restarts and replicas, and distinct for distinct Networks except with
// negligible probability (48 bits).
func BridgeName(namespace, name string) string {
	return bridgePrefix + digest(namespace, name)
}

// NetworkName returns whereabouts' network_name for the Network
// namespace/name: the same text as BridgeName, so that one identifier
// names a Network on the nodes and in the API server. whereabouts names
// its IPPool objects network_name + "-" + the range (cni562ef55a60e4-
// 198.18.0.0-24) and its per-address reservations network_name + "-" +
// the address, so it must be a valid Kubernetes name prefix: lower-case
// letters and digits only, unlike namespace_name (underscore) or
// namespace.name (too long: 63 + 253 bytes before the range is added).
// Two Networks never share one, except with negligible probability, and
// even then their pools differ, since Networks never overlap.
func NetworkName(namespace, name string) string {
	return bridgePrefix + digest(namespace, name)
}

// digest is the first 12 hex digits of the SHA-256 of "namespace/name".
func digest(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	return hex.EncodeToString(sum[:])[:maxIfName-len(bridgePrefix)]
}

// check refuses a Network that would render an invalid configuration or
// one pkg/netspec would not have accepted.
func check(n Network) error {
	if err := checkNames(n.Namespace, n.Name); err != nil {
		return err
	}
	if err := checkAddresses(n.Subnet, n.Gateway); err != nil {
		return err
	}
	switch n.mode() {
	case samplecrdv1.NetworkModeBridge:
		if n.Uplink != "" {
			return fmt.Errorf("a Bridge Network has no uplink, got %q", n.Uplink)
		}
	case samplecrdv1.NetworkModeMacvlan:
		if !ValidIfName(n.Uplink) {
			return fmt.Errorf("uplink %q is not a Linux interface name", n.Uplink)
		}
	default:
		return fmt.Errorf("unknown mode %q", n.Mode)
	}
	if n.MTU != 0 && (n.MTU < MinMTU || n.MTU > MaxMTU || n.Subnet.Addr().Is6() && n.MTU < MinMTUIPv6) {
		return fmt.Errorf("MTU %d is outside what Linux accepts for %s", n.MTU, n.Subnet)
	}
	for _, p := range n.Exclude {
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Is4() != n.Subnet.Addr().Is4() ||
			!n.Subnet.Overlaps(p) || p.Bits() <= n.Subnet.Bits() {
			return fmt.Errorf("excluded range %s is not a canonical range smaller than and inside %s", p, n.Subnet)
		}
	}
	if len(Pool(n)) == 0 {
		return fmt.Errorf("the excluded ranges and the gateway leave no address of %s for pods", n.Subnet)
	}
	return nil
}

// ValidIfName reports whether s is a name Linux accepts for an interface:
// 1 to 15 bytes, none of them '/', ':', NUL or whitespace, and not "." or
// "..", in valid UTF-8 as every string of the API is (JSON would turn
// other bytes into U+FFFD). (The kernel also refuses byte 0xA0, which it counts as whitespace;
// no interface can have such a name, so an uplink with one fails at attach
// time like any uplink the node lacks.)
func ValidIfName(s string) bool {
	return len(s) >= 1 && len(s) <= maxIfName && utf8.ValidString(s) && s != "." && s != ".." && !strings.ContainsAny(s, "/:\x00\t\n\v\f\r ")
}

// checkNames refuses names that would make an invalid or ambiguous CNI
// network name. CNI requires [a-zA-Z0-9_.-] starting with an alphanumeric;
// the underscore is refused inside the parts because it is the separator.
func checkNames(namespace, name string) error {
	for _, part := range []struct{ field, value string }{{"namespace", namespace}, {"name", name}} {
		if part.value == "" {
			return fmt.Errorf("%s must not be empty", part.field)
		}
		if !isAlnum(part.value[0]) {
			return fmt.Errorf("%s %q must start with a letter or digit", part.field, part.value)
		}
		for i := 0; i < len(part.value); i++ {
			if c := part.value[i]; !isAlnum(c) && c != '.' && c != '-' {
				return fmt.Errorf("%s %q may contain only letters, digits, '.' and '-'", part.field, part.value)
			}
		}
	}
	return nil
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// MaxPrefixLen is the longest prefix host-local allocates from: it keeps
// the network address and (IPv4) the broadcast address back and refuses
// anything longer than a /30 or a /126 outright.
func MaxPrefixLen(a netip.Addr) int {
	return a.BitLen() - 2
}

// checkAddresses refuses a subnet and gateway that host-local could not use
// or that netspec would not have accepted.
func checkAddresses(subnet netip.Prefix, gateway netip.Addr) error {
	switch {
	case !subnet.IsValid():
		return errors.New("subnet is not a valid prefix")
	case subnet.Addr().Is4In6():
		return fmt.Errorf("subnet %s is an IPv4-mapped IPv6 prefix", subnet)
	case subnet != subnet.Masked():
		return fmt.Errorf("subnet %s has host bits set", subnet)
	case !gateway.IsValid():
		return errors.New("gateway is not a valid address")
	case gateway.Is4In6() || gateway.Zone() != "":
		return fmt.Errorf("gateway %s is an IPv4-mapped or zoned address", gateway)
	case subnet.Addr().Is4() != gateway.Is4():
		return fmt.Errorf("gateway %s is not of the same IP family as subnet %s", gateway, subnet)
	case !subnet.Contains(gateway):
		return fmt.Errorf("gateway %s is outside subnet %s", gateway, subnet)
	case subnet.Bits() > MaxPrefixLen(subnet.Addr()):
		return fmt.Errorf("subnet %s is too small: host-local allocates from at most a /%d", subnet, MaxPrefixLen(subnet.Addr()))
	}
	return nil
}

// pluginSection is the part of a rendered plugin that Subnet reads.
type pluginSection struct {
	Type string `json:"type"`
	IPAM struct {
		Ranges [][]struct {
			Subnet string `json:"subnet"`
		} `json:"ranges"`
		Range string `json:"range"`
	} `json:"ipam"`
}

// Subnet returns the subnet a configuration list rendered by RenderNetwork
// hands addresses from. The controller uses it to tell whether an existing
// attachment still serves the range its Network holds; it refuses anything
// that is not a one-plugin list of a shape RenderNetwork writes.
func Subnet(conflist []byte) (netip.Prefix, error) {
	var conf struct {
		Plugins []pluginSection `json:"plugins"`
	}
	if err := json.Unmarshal(conflist, &conf); err != nil {
		return netip.Prefix{}, fmt.Errorf("decoding CNI configuration: %w", err)
	}
	if len(conf.Plugins) != 1 {
		return netip.Prefix{}, errors.New("not a one-plugin configuration list")
	}
	p := conf.Plugins[0]
	switch p.Type {
	case "bridge":
		subnets := map[string]bool{}
		for _, set := range p.IPAM.Ranges {
			for _, r := range set {
				subnets[r.Subnet] = true
			}
		}
		if len(p.IPAM.Ranges) != 1 || len(subnets) != 1 {
			return netip.Prefix{}, errors.New("not a single-subnet bridge configuration")
		}
		return netip.ParsePrefix(p.IPAM.Ranges[0][0].Subnet)
	case "macvlan":
		return netip.ParsePrefix(p.IPAM.Range)
	}
	return netip.Prefix{}, fmt.Errorf("plugin type %q is not one this controller renders", p.Type)
}
