package cnisim

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Link is a network interface in a namespace, with its addresses.
type Link struct {
	Name  string
	Index int
	// Kind is the link type ("veth", "bridge", "device" for lo, ...).
	Kind string
	// State is the operational state ("UP", "DOWN", "UNKNOWN" for lo).
	State string
	MAC   string
	// MasterIndex is the index of the bridge the link is a port of, or 0.
	MasterIndex int
	// PeerIndex is, for a veth, the other end's index in its namespace.
	PeerIndex int
	Addrs     []Addr
}

// Addr is an address on a link.
type Addr struct {
	Prefix netip.Prefix
	// Tentative is set while IPv6 duplicate address detection runs; such
	// an address cannot be bound or used as a source yet.
	Tentative bool
}

// Route is a route in a namespace's main table.
type Route struct {
	// Dst is the destination; 0.0.0.0/0 or ::/0 for a default route.
	Dst netip.Prefix
	// Gateway is the next hop, invalid for an on-link route.
	Gateway netip.Addr
	Dev     string
	Src     netip.Addr
	// Type is "unicast" for ordinary routes ("multicast" for ff00::/8).
	Type   string
	Metric int
	// Multipath is set for one next hop of a multipath route.
	Multipath bool
}

// IsDefault reports whether r is a default route.
func (r Route) IsDefault() bool { return r.Dst.IsValid() && r.Dst.Bits() == 0 }

// Links lists the namespace's interfaces and their addresses.
func (n *Namespace) Links() ([]Link, error) {
	var links []Link
	err := n.Do(func() error {
		nl, err := netlinksafe.LinkList()
		if err != nil {
			return err
		}
		for _, l := range nl {
			link, err := readLink(l)
			if err != nil {
				return err
			}
			links = append(links, link)
		}
		return nil
	})
	slices.SortFunc(links, func(a, b Link) int { return a.Index - b.Index })
	return links, err
}

// readLink converts a netlink link and reads its addresses.
func readLink(l netlink.Link) (Link, error) {
	attrs := l.Attrs()
	link := Link{
		Name:        attrs.Name,
		Index:       attrs.Index,
		Kind:        l.Type(),
		State:       strings.ToUpper(attrs.OperState.String()),
		MAC:         attrs.HardwareAddr.String(),
		MasterIndex: attrs.MasterIndex,
	}
	if l.Type() == "veth" {
		link.PeerIndex = attrs.ParentIndex // the kernel's IFLA_LINK: the peer
	}
	addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return link, err
	}
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		bits, _ := a.Mask.Size()
		link.Addrs = append(link.Addrs, Addr{
			Prefix:    netip.PrefixFrom(ip.Unmap(), bits),
			Tentative: a.Flags&unix.IFA_F_TENTATIVE != 0,
		})
	}
	return link, nil
}

// Link returns the namespace's interface called name.
func (n *Namespace) Link(name string) (Link, bool, error) {
	links, err := n.Links()
	if err != nil {
		return Link{}, false, err
	}
	for _, l := range links {
		if l.Name == name {
			return l, true, nil
		}
	}
	return Link{}, false, nil
}

// Routes lists the routes of the namespace's main table, both families.
func (n *Namespace) Routes() ([]Route, error) {
	var routes []Route
	err := n.Do(func() error {
		names := map[int]string{}
		links, err := netlinksafe.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			names[l.Attrs().Index] = l.Attrs().Name
		}
		nr, err := netlinksafe.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range nr {
			routes = append(routes, readRoutes(r, names)...)
		}
		return nil
	})
	return routes, err
}

// readRoutes converts a netlink route. A multipath route becomes one Route
// per next hop: IPv6 merges routes to one destination with one metric into
// a multipath route, so a second default route through another interface
// shows up as a next hop of the first rather than as a route of its own.
func readRoutes(r netlink.Route, names map[int]string) []Route {
	if len(r.MultiPath) == 0 {
		return []Route{readRoute(r, names)}
	}
	var out []Route
	for _, nh := range r.MultiPath {
		one := r
		one.MultiPath, one.LinkIndex, one.Gw = nil, nh.LinkIndex, nh.Gw
		route := readRoute(one, names)
		route.Multipath = true
		out = append(out, route)
	}
	return out
}

// readRoute converts a netlink route with a single next hop.
func readRoute(r netlink.Route, names map[int]string) Route {
	route := Route{Dev: names[r.LinkIndex], Type: routeType(r.Type), Metric: r.Priority}
	if r.Dst != nil {
		ip, _ := netip.AddrFromSlice(r.Dst.IP)
		bits, _ := r.Dst.Mask.Size()
		route.Dst = netip.PrefixFrom(ip.Unmap(), bits)
	} else if r.Family == netlink.FAMILY_V6 {
		route.Dst = netip.MustParsePrefix("::/0")
	} else {
		route.Dst = netip.MustParsePrefix("0.0.0.0/0")
	}
	route.Gateway = addrOf(r.Gw)
	route.Src = addrOf(r.Src)
	return route
}

// addrOf converts ip, giving the invalid Addr for nil.
func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// routeType names the kernel's route types that show up in a main table.
func routeType(t int) string {
	switch t {
	case unix.RTN_UNICAST:
		return "unicast"
	case unix.RTN_MULTICAST:
		return "multicast"
	case unix.RTN_BLACKHOLE:
		return "blackhole"
	case unix.RTN_UNREACHABLE:
		return "unreachable"
	case unix.RTN_LOCAL:
		return "local"
	}
	return fmt.Sprintf("type%d", t)
}

// WaitAddr waits until addr is on one of the namespace's links and done
// with duplicate address detection. IPv6 addresses are tentative for about
// a second after they are added (on a bridge, once it has a port up) and
// cannot be bound until then; the plugins wait for the pod's addresses but
// not for the node's gateway address.
func (n *Namespace) WaitAddr(ctx context.Context, addr netip.Addr) error {
	for {
		state, err := n.addrState(addr)
		if err != nil {
			return err
		}
		if state == "ready" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("address %s in %s is %s: %w", addr, n.Name, state, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// addrState says whether addr is "ready", "tentative" or "absent".
func (n *Namespace) addrState(addr netip.Addr) (string, error) {
	links, err := n.Links()
	if err != nil {
		return "", err
	}
	for _, l := range links {
		for _, a := range l.Addrs {
			if a.Prefix.Addr() == addr {
				if a.Tentative {
					return "tentative", nil
				}
				return "ready", nil
			}
		}
	}
	return "absent", nil
}

// FormatLinks renders links like `ip -br addr`: name (with @ifN for a
// veth's peer), state, addresses.
func FormatLinks(links []Link) string {
	var b strings.Builder
	for _, l := range links {
		name := l.Name
		if l.PeerIndex != 0 {
			name += fmt.Sprintf("@if%d", l.PeerIndex)
		}
		fmt.Fprintf(&b, "%-16s %-8s", name, l.State)
		for _, a := range l.Addrs {
			b.WriteString(" " + a.Prefix.String())
			if a.Tentative {
				b.WriteString("(tentative)")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// FormatRoutes renders routes like `ip route; ip -6 route`.
func FormatRoutes(routes []Route) string {
	var b strings.Builder
	for _, r := range routes {
		if r.Type != "unicast" {
			b.WriteString(r.Type + " ")
		}
		if r.IsDefault() {
			b.WriteString("default")
		} else {
			b.WriteString(r.Dst.String())
		}
		if r.Gateway.IsValid() {
			b.WriteString(" via " + r.Gateway.String())
		}
		if r.Dev != "" {
			b.WriteString(" dev " + r.Dev)
		}
		if r.Src.IsValid() {
			b.WriteString(" src " + r.Src.String())
		}
		if r.Metric != 0 {
			fmt.Fprintf(&b, " metric %d", r.Metric)
		}
		if r.Multipath {
			b.WriteString(" (multipath)")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Describe renders the namespace's interfaces and routes, for logs and
// failure messages.
func (n *Namespace) Describe() string {
	links, err := n.Links()
	if err != nil {
		return fmt.Sprintf("%s: %v\n", n.Name, err)
	}
	routes, err := n.Routes()
	if err != nil {
		return fmt.Sprintf("%s: %v\n", n.Name, err)
	}
	return fmt.Sprintf("%s interfaces:\n%s%s routes:\n%s", n.Name, indent(FormatLinks(links)), n.Name, indent(FormatRoutes(routes)))
}

// indent prefixes every line of s with two spaces.
func indent(s string) string {
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
