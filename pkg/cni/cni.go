// Package cni renders the CNI network configuration list that the controller
// stores in a NetworkAttachmentDefinition for each ready Network.
//
// A Network is a secondary network: a pod attached to it keeps its eth0,
// routes and DNS from the cluster network and gets one more interface. So
// the configuration installs no routes at all (no default route), and the
// bridge does not masquerade: nothing leaves the node with the node's
// address on the pod's behalf, no firewall rules are written on the node,
// and the node needs nothing beyond the kernel's bridge and veth.
//
// The output is built from Go structs with encoding/json so that it is always
// well-formed JSON, and it is deterministic byte for byte so that the
// controller can compare it with the stored ConfigMap and skip no-op updates.
package cni

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
)

// CNIVersion is the CNI specification version the configuration declares;
// 1.0.0 is the version whose conflist format this package follows.
const CNIVersion = "1.0.0"

// maxIfName is the longest Linux interface name: IFNAMSIZ is 16 including
// the terminating NUL byte.
const maxIfName = 15

// bridgePrefix marks bridges created for Networks so that an administrator can
// tell them from other interfaces on the node.
const bridgePrefix = "cni"

// confList is a CNI network configuration list. Field order here is the
// order in the output.
type confList struct {
	CNIVersion string         `json:"cniVersion"`
	Name       string         `json:"name"`
	Plugins    []bridgeConfig `json:"plugins"`
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
	IPAM      hostLocal `json:"ipam"`
}

// hostLocal is the configuration of the "host-local" IPAM plugin. It has no
// routes: the subnet's own route comes with the address, and any other
// route, the default one above all, belongs to the cluster network.
type hostLocal struct {
	Type   string        `json:"type"`
	Ranges [][]ipamRange `json:"ranges"`
}

// ipamRange is one address range for host-local.
type ipamRange struct {
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
}

// Render returns the CNI configuration list for the Network namespace/name
// with the given subnet and gateway, as two-space indented JSON with a
// trailing newline.
//
// The network name is namespace + "_" + name: an underscore cannot occur in
// Kubernetes names, so distinct Networks get distinct names, and CNI allows
// it in network names. The arguments are checked even though callers
// normally pass the output of netspec.Parse, because a bad value here would
// only surface later as a pod that cannot start on some node.
func Render(namespace, name string, subnet netip.Prefix, gateway netip.Addr) ([]byte, error) {
	if err := checkNames(namespace, name); err != nil {
		return nil, err
	}
	if err := checkAddresses(subnet, gateway); err != nil {
		return nil, err
	}
	conf := confList{
		CNIVersion: CNIVersion,
		Name:       namespace + "_" + name,
		Plugins: []bridgeConfig{{
			Type:      "bridge",
			Bridge:    BridgeName(namespace, name),
			IsGateway: true,
			IPMasq:    false,
			IPAM: hostLocal{
				Type:   "host-local",
				Ranges: [][]ipamRange{{{Subnet: subnet.String(), Gateway: gateway.String()}}},
			},
		}},
	}
	out, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding CNI configuration: %w", err)
	}
	return append(out, '\n'), nil
}

// BridgeName returns the Linux bridge interface name for the Network
// namespace/name. Interface names are limited to 15 bytes, far shorter than
// Kubernetes names, so the name is "cni" followed by the first 12 hex digits
// of the SHA-256 of "namespace/name": deterministic across controller
// restarts and replicas, and distinct for distinct Networks except with
// negligible probability (48 bits).
func BridgeName(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	return bridgePrefix + hex.EncodeToString(sum[:])[:maxIfName-len(bridgePrefix)]
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

// Subnet returns the subnet a configuration list rendered by Render hands
// addresses from. The controller uses it to tell whether an existing
// attachment still serves the range its Network holds; it refuses anything
// that is not a single-range list of the shape Render writes.
func Subnet(conflist []byte) (netip.Prefix, error) {
	var conf confList
	if err := json.Unmarshal(conflist, &conf); err != nil {
		return netip.Prefix{}, fmt.Errorf("decoding CNI configuration: %w", err)
	}
	if len(conf.Plugins) != 1 || len(conf.Plugins[0].IPAM.Ranges) != 1 || len(conf.Plugins[0].IPAM.Ranges[0]) != 1 {
		return netip.Prefix{}, errors.New("not a single-range configuration list")
	}
	return netip.ParsePrefix(conf.Plugins[0].IPAM.Ranges[0][0].Subnet)
}
