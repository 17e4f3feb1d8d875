// Package cnispec is the specification of a working secondary network, as
// test steps: what a pod attached to a Network through the real plugins
// must see. test/cnisim runs it on configurations rendered in-process, the
// end-to-end tests on the ones the controller wrote to the API server.
package cnispec

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/samplecrd/network-controller/pkg/cni"
	"github.com/samplecrd/network-controller/test/cnisim"
)

// net1 is the interface a runtime (Multus) gives the first secondary
// network.
const net1 = "net1"

// SecondaryNetwork attaches conf, the configuration of Network
// namespace/name with subnet and gateway, to two pods on node that already
// have a cluster network, and requires a working secondary network, under
// the network name pkg/cni gives the Network: each pod gets an address of
// the Network, the cluster network keeps the default route, the gateway
// answers, the pods reach each other, CHECK passes, DEL undoes ADD, and
// nothing is left after the node is closed.
func SecondaryNetwork(t *testing.T, node *cnisim.Node, conf []byte, namespace, name string, subnet netip.Prefix, gateway netip.Addr) {
	ctx := t.Context()
	pods := []*attached{attach(t, node, "a", conf, subnet), attach(t, node, "b", conf, subnet)}
	// On failure, show the namespaces while they exist: at the end of the
	// test, or before the last step closes the node.
	described := false
	describe := func() {
		if t.Failed() && !described {
			described = true
			describeAll(t, node, pods)
		}
	}
	t.Cleanup(describe)

	t.Run("the network is named as pkg/cni names the Network's", func(t *testing.T) {
		if got, want := pods[0].net.Network, cni.ConfListName(namespace, name); got != want {
			t.Errorf("the configuration list is named %q, want %q", got, want)
		}
	})

	t.Run("net1 has one address inside spec.cidr, not the gateway, and the plugins report it", func(t *testing.T) {
		for _, p := range pods {
			if p.addr.Addr() == gateway {
				t.Errorf("pod %s: net1 has the gateway's address %s", p.pod.PodName, p.addr)
			}
			if got := p.net.Addrs(); !slices.Equal(got, []netip.Prefix{p.addr}) {
				t.Errorf("pod %s: the ADD result reports %v, the kernel has %s", p.pod.PodName, got, p.addr)
			}
		}
		if pods[0].addr == pods[1].addr {
			t.Errorf("both pods have %s", pods[0].addr)
		}
	})

	t.Run("the cluster network on eth0 keeps the default route, in both families", func(t *testing.T) {
		for _, p := range pods {
			checkRoutes(t, p.pod, subnet)
		}
	})

	t.Run("spec.gateway answers each pod on net1", func(t *testing.T) {
		srv, err := node.ServeTCP(ctx, netip.AddrPortFrom(gateway, 0))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			checkReaches(ctx, t, p, srv)
		}
	})

	t.Run("the pods reach each other over net1", func(t *testing.T) {
		checkPeersReachEachOther(ctx, t, pods)
	})

	t.Run("CHECK passes", func(t *testing.T) {
		checkCheckPasses(ctx, t, pods)
	})

	t.Run("DEL removes net1 and frees its address", func(t *testing.T) {
		checkDel(ctx, t, node, pods, cni.BridgeName(namespace, name))
	})

	t.Run("after Close nothing is left", func(t *testing.T) {
		describe()
		described = true // nothing to describe once closed
		footprint := node.Footprint()
		if footprint.Leftovers() == nil {
			t.Fatal("Leftovers sees nothing while the node's namespaces exist, so it could not see leftovers either")
		}
		if err := node.Close(); err != nil {
			t.Fatal(err)
		}
		if err := footprint.Leftovers(); err != nil {
			t.Fatal(err)
		}
	})
}

// attached is a pod with the Network on net1.
type attached struct {
	pod  *cnisim.Pod
	net  *cnisim.Attachment
	addr netip.Prefix // net1's address in the Network, read from the kernel
}

// attach creates pod name on node and ADDs conf on net1, then reads net1's
// address in subnet from the kernel: exactly one, with the subnet's length.
func attach(t *testing.T, node *cnisim.Node, name string, conf []byte, subnet netip.Prefix) *attached {
	t.Helper()
	pod, err := node.NewPod(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	a, err := pod.Attach(t.Context(), net1, conf)
	if err != nil {
		t.Fatal(err)
	}
	link, ok, err := pod.Link(net1)
	if err != nil || !ok {
		t.Fatalf("pod %s: no %s after ADD (%v)", name, net1, err)
	}
	var inSubnet []netip.Prefix
	for _, addr := range link.Addrs {
		if addr.Prefix.Addr().Is4() == subnet.Addr().Is4() && !addr.Prefix.Addr().IsLinkLocalUnicast() {
			inSubnet = append(inSubnet, addr.Prefix)
		}
	}
	if len(inSubnet) != 1 || !subnet.Contains(inSubnet[0].Addr()) || inSubnet[0].Bits() != subnet.Bits() {
		t.Fatalf("pod %s: %s has %v, want one address in %s with its length\n%s", name, net1, link.Addrs, subnet, pod.Describe())
	}
	return &attached{pod: pod, net: a, addr: inSubnet[0]}
}

// checkRoutes requires one default route per family, both through the
// cluster network on eth0, and nothing on net1 but the subnet's own route
// (and IPv6's link-local and multicast routes, which every interface has).
func checkRoutes(t *testing.T, pod *cnisim.Pod, subnet netip.Prefix) {
	t.Helper()
	routes, err := pod.Routes()
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[bool]int{}
	for _, r := range routes {
		if r.IsDefault() {
			defaults[r.Dst.Addr().Is4()]++
			if r.Dev != "eth0" || !inCluster(r.Gateway) {
				t.Errorf("pod %s: default route %+v, want one via the cluster network on eth0", pod.PodName, r)
			}
		}
		if r.Dev == net1 && r.Dst != subnet && !isLinkScoped(r) {
			t.Errorf("pod %s: route %q on net1; a secondary network installs none", pod.PodName, strings.TrimSpace(cnisim.FormatRoutes([]cnisim.Route{r})))
		}
	}
	if defaults[true] != 1 || defaults[false] != 1 {
		t.Errorf("pod %s: %d IPv4 and %d IPv6 default routes, want one each\n%s", pod.PodName, defaults[true], defaults[false], cnisim.FormatRoutes(routes))
	}
}

// inCluster reports whether a is in the stand-in cluster network.
func inCluster(a netip.Addr) bool {
	return slices.ContainsFunc(cnisim.ClusterSubnets, func(p netip.Prefix) bool { return p.Contains(a) })
}

// isLinkScoped reports whether r is a route the kernel gives every IPv6
// interface.
func isLinkScoped(r cnisim.Route) bool {
	return r.Dst == netip.MustParsePrefix("fe80::/64") || r.Type == "multicast"
}

// checkReaches connects from p to srv and requires srv's greeting, from
// p's net1 address: that source shows that the pod routed it over net1.
func checkReaches(ctx context.Context, t *testing.T, p *attached, srv *cnisim.Server) {
	t.Helper()
	reply, err := p.pod.DialTCP(ctx, srv.Addr())
	if err != nil {
		t.Errorf("pod %s: %v", p.pod.PodName, err)
		return
	}
	if reply.Greeting != srv.Greeting() {
		t.Errorf("pod %s reached %q, want %q", p.pod.PodName, reply.Greeting, srv.Greeting())
	}
	if reply.Local.Addr() != p.addr.Addr() {
		t.Errorf("pod %s connected to %s from %s, want from its net1 address %s", p.pod.PodName, srv.Addr(), reply.Local, p.addr.Addr())
	}
}

// checkDel requires that DEL removes net1 from each pod and the veth's
// node end from the bridge, and that host-local, which held exactly the
// pods' addresses in the node's data directory, holds none afterwards.
func checkDel(ctx context.Context, t *testing.T, node *cnisim.Node, pods []*attached, bridge string) {
	t.Helper()
	network := pods[0].net.Network
	held, err := node.Allocations(network)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{pods[0].addr.Addr(), pods[1].addr.Addr()}
	slices.SortFunc(want, netip.Addr.Compare)
	slices.SortFunc(held, netip.Addr.Compare)
	if !slices.Equal(held, want) {
		t.Fatalf("before DEL host-local holds %v for %s, want %v", held, network, want)
	}
	for _, p := range pods {
		if err := p.net.Detach(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := p.pod.Link(net1); err != nil || ok {
			t.Errorf("pod %s: %s still there after DEL (%v)", p.pod.PodName, net1, err)
		}
		if _, ok, err := p.pod.Link("eth0"); err != nil || !ok {
			t.Errorf("pod %s: DEL of the Network took eth0 (%v)", p.pod.PodName, err)
		}
	}
	if held, err := node.Allocations(network); err != nil || len(held) != 0 {
		t.Errorf("after DEL host-local still holds %v (%v)", held, err)
	}
	checkBridgeHasNoPorts(t, node, bridge)
}

// checkBridgeHasNoPorts requires the Network's bridge in the node, with no
// veth left on it. (The bridge plugin leaves the bridge at DEL.)
func checkBridgeHasNoPorts(t *testing.T, node *cnisim.Node, bridge string) {
	t.Helper()
	links, err := node.Links()
	if err != nil {
		t.Fatal(err)
	}
	br := slices.IndexFunc(links, func(l cnisim.Link) bool { return l.Name == bridge && l.Kind == "bridge" })
	if br < 0 {
		t.Fatalf("no bridge %s in the node:\n%s", bridge, cnisim.FormatLinks(links))
	}
	for _, l := range links {
		if l.MasterIndex == links[br].Index {
			t.Errorf("after DEL %s is still a port of %s", l.Name, bridge)
		}
	}
}

// describeAll logs the pods' and the node's interfaces and routes.
func describeAll(t *testing.T, node *cnisim.Node, pods []*attached) {
	for _, p := range pods {
		t.Log(strings.TrimSpace(p.pod.Describe()))
	}
	t.Log(strings.TrimSpace(node.Describe()))
}

// checkPeersReachEachOther requires each of two pods to reach the other
// over net1, from its own net1 address.
func checkPeersReachEachOther(ctx context.Context, t *testing.T, pods []*attached) {
	t.Helper()
	for i, p := range pods {
		peer := pods[1-i]
		srv, err := peer.pod.ServeTCP(ctx, netip.AddrPortFrom(peer.addr.Addr(), 0))
		if err != nil {
			t.Fatal(err)
		}
		checkReaches(ctx, t, p, srv)
	}
}

// checkCheckPasses requires CNI CHECK to pass for each pod's attachment.
func checkCheckPasses(ctx context.Context, t *testing.T, pods []*attached) {
	t.Helper()
	for _, p := range pods {
		if err := p.net.Check(ctx); err != nil {
			t.Error(err)
		}
	}
}
