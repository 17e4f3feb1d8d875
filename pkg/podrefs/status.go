package podrefs

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// NetworkStatusAnnotation is where Multus reports, after it attached a
// pod, each network the pod is on.
const NetworkStatusAnnotation = "k8s.v1.cni.cncf.io/network-status"

// Attachment is one secondary network a pod is attached to, as Multus
// reports it.
type Attachment struct {
	// Network is the "namespace/name" key of the attachment definition.
	Network string
	// Interface is the pod's interface on it; empty if Multus gave none.
	Interface string
	// IPs are the interface's addresses, in Multus' order.
	IPs []netip.Addr
}

// statusEntry is what this package reads of one network-status entry.
type statusEntry struct {
	Name      string   `json:"name"`
	Interface string   `json:"interface"`
	IPs       []string `json:"ips"`
	Default   bool     `json:"default"`
}

// ParseNetworkStatus returns the secondary networks the network-status
// annotation of a pod in podNamespace lists: every entry but the cluster
// network's (the one marked default), in the annotation's order. An entry
// named without a namespace is taken to be in the pod's. An empty
// annotation lists nothing. The annotation is
// anyone's to write, so an error says what is wrong with it rather than
// trusting any of it.
func ParseNetworkStatus(annotation, podNamespace string) ([]Attachment, error) {
	if annotation == "" {
		return nil, nil
	}
	var entries []*statusEntry
	if err := json.Unmarshal([]byte(annotation), &entries); err != nil {
		return nil, fmt.Errorf("not a JSON list of network status entries: %w", err)
	}
	var out []Attachment
	for i, e := range entries {
		if e == nil {
			return nil, fmt.Errorf("entry %d is null", i+1)
		}
		if e.Default {
			continue
		}
		namespace, name, found := strings.Cut(e.Name, "/")
		if !found {
			namespace, name = "", e.Name
		}
		key, err := networkKey(namespace, name, podNamespace)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		if strings.ContainsAny(e.Interface, " \t\n\v\f\r/:\x00") || len(e.Interface) > maxIfName {
			return nil, fmt.Errorf("entry %d: interface %q is not an interface name", i+1, e.Interface)
		}
		a := Attachment{Network: key, Interface: e.Interface}
		for _, s := range e.IPs {
			ip, err := parseIP(s)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", i+1, err)
			}
			a.IPs = append(a.IPs, ip)
		}
		out = append(out, a)
	}
	return out, nil
}

// parseIP reads an address as Multus writes it, or with a prefix length as
// CNI results carry it; an IPv4 address is IPv4 however it is written.
func parseIP(s string) (netip.Addr, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr().Unmap(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return ip.Unmap(), nil
}
