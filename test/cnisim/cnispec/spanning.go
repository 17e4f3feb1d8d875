package cnispec

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/samplecrd/network-controller/test/cnisim"
)

// Spanning describes a Network that spans nodes, and the nodes it is
// attached on.
type Spanning struct {
	// Switch joins the nodes' uplinks.
	Switch *cnisim.Switch
	// Nodes are two nodes plugged into Switch on the Network's uplink,
	// set up for whereabouts (Node.UseWhereabouts).
	Nodes [2]*cnisim.Node
	// Uplink is the Network's spec.uplink.
	Uplink string
	// Conf is the attachment's configuration list.
	Conf []byte
	// Subnet, Gateway and Exclude are the Network's spec.cidr,
	// spec.gateway and spec.excludeRanges.
	Subnet  netip.Prefix
	Gateway netip.Addr
	Exclude []netip.Prefix
	// Allocations returns the addresses the cluster's IPAM holds for the
	// Network (whereabouts' IPPool), for the DEL step.
	Allocations func(ctx context.Context) ([]netip.Addr, error)
}

// SpanningNetwork attaches s.Conf to one pod on each of the two nodes
// (pods a and b: pod names are cluster-wide for the IPAM) and requires a
// Network that spans them: distinct addresses inside spec.cidr that are
// neither the gateway nor excluded, held cluster-wide; the cluster network
// keeps the default route; each pod reaches the other, on the other node,
// over TCP from its net1 address; CHECK passes; DEL removes net1, keeps
// eth0 and the uplink, and frees both addresses; nothing is left once the
// nodes and the switch are closed.
func SpanningNetwork(t *testing.T, s Spanning) {
	ctx := t.Context()
	pods := []*attached{attach(t, s.Nodes[0], "a", s.Conf, s.Subnet), attach(t, s.Nodes[1], "b", s.Conf, s.Subnet)}
	described := false
	describe := func() {
		if t.Failed() && !described {
			described = true
			for _, p := range pods {
				t.Log(strings.TrimSpace(p.pod.Describe()))
			}
			for _, n := range s.Nodes {
				t.Log(strings.TrimSpace(n.Describe()))
			}
		}
	}
	t.Cleanup(describe)

	t.Run("the pods' net1 addresses are distinct, inside spec.cidr, not the gateway and not excluded", func(t *testing.T) {
		for _, p := range pods {
			a := p.addr.Addr()
			if a == s.Gateway {
				t.Errorf("pod %s: net1 has the gateway's address %s", p.pod.PodName, p.addr)
			}
			for _, x := range s.Exclude {
				if x.Contains(a) {
					t.Errorf("pod %s: net1 has %s, inside the excluded %s", p.pod.PodName, a, x)
				}
			}
			if got := p.net.Addrs(); !slices.Equal(got, []netip.Prefix{p.addr}) {
				t.Errorf("pod %s: the ADD result reports %v, the kernel has %s", p.pod.PodName, got, p.addr)
			}
		}
		if pods[0].addr.Addr() == pods[1].addr.Addr() {
			t.Errorf("the pods on two nodes both have %s", pods[0].addr)
		}
	})

	t.Run("the cluster network on eth0 keeps the default route, in both families", func(t *testing.T) {
		for _, p := range pods {
			checkRoutes(t, p.pod, s.Subnet)
		}
	})

	t.Run("each pod reaches the pod on the other node over net1", func(t *testing.T) {
		checkPeersReachEachOther(ctx, t, pods)
	})

	t.Run("CHECK passes", func(t *testing.T) {
		checkCheckPasses(ctx, t, pods)
	})

	t.Run("the cluster-wide IPAM holds exactly the two addresses, and DEL frees them", func(t *testing.T) {
		held, err := s.Allocations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []netip.Addr{pods[0].addr.Addr(), pods[1].addr.Addr()}
		slices.SortFunc(want, netip.Addr.Compare)
		slices.SortFunc(held, netip.Addr.Compare)
		if !slices.Equal(held, want) {
			t.Fatalf("before DEL the IPAM holds %v, want %v", held, want)
		}
		for i, p := range pods {
			if err := p.net.Detach(ctx); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := p.pod.Link(net1); err != nil || ok {
				t.Errorf("pod %s: %s still there after DEL (%v)", p.pod.PodName, net1, err)
			}
			if _, ok, err := p.pod.Link("eth0"); err != nil || !ok {
				t.Errorf("pod %s: DEL of the Network took eth0 (%v)", p.pod.PodName, err)
			}
			if _, ok, err := s.Nodes[i].Link(s.Uplink); err != nil || !ok {
				t.Errorf("node %s: DEL of the Network took the uplink %s (%v)", s.Nodes[i].Name, s.Uplink, err)
			}
		}
		if held, err := s.Allocations(ctx); err != nil || len(held) != 0 {
			t.Errorf("after DEL the IPAM still holds %v (%v)", held, err)
		}
	})

	t.Run("after Close nothing is left", func(t *testing.T) {
		describe()
		described = true
		var footprints []cnisim.Footprint
		for _, n := range s.Nodes {
			footprints = append(footprints, n.Footprint())
		}
		footprints = append(footprints, s.Switch.Footprint())
		for _, f := range footprints {
			if f.Leftovers() == nil {
				t.Fatal("Leftovers sees nothing while the namespaces exist, so it could not see leftovers either")
			}
		}
		for _, n := range s.Nodes {
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Switch.Close(); err != nil {
			t.Fatal(err)
		}
		for _, f := range footprints {
			if err := f.Leftovers(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
