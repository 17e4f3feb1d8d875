package cnisim_test

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/samplecrd/network-controller/pkg/cni"
	"github.com/samplecrd/network-controller/test/cnisim"
	"github.com/samplecrd/network-controller/test/cnisim/cnispec"
)

// The Network the tests render, and the interface a runtime (Multus) gives
// the first secondary network.
const (
	networkNamespace = "cnisim"
	networkName      = "example-network"
	net1             = "net1"
)

// A Network rendered by pkg/cni.Render, attached by the real bridge and
// host-local plugins to two pods on one node that already have a cluster
// network, is a working secondary network: each pod gets an address of the
// Network, the cluster network keeps the default route, the gateway
// answers, the pods reach each other, CHECK passes, DEL undoes ADD, and
// nothing is left afterwards.
func TestRenderedNetworkIsAWorkingSecondaryNetwork(t *testing.T) {
	for _, tc := range []struct{ family, cidr, gateway string }{
		{"IPv4", "198.18.5.0/24", "198.18.5.1"},
		{"IPv6", "fd00:5::/64", "fd00:5::1"},
	} {
		t.Run(tc.family, func(t *testing.T) {
			t.Parallel()
			specifySecondaryNetwork(t, netip.MustParsePrefix(tc.cidr), netip.MustParseAddr(tc.gateway))
		})
	}
}

func specifySecondaryNetwork(t *testing.T, subnet netip.Prefix, gateway netip.Addr) {
	conf, err := cni.Render(networkNamespace, networkName, subnet, gateway)
	if err != nil {
		t.Fatal(err)
	}
	cnispec.SecondaryNetwork(t, cnisim.NewForTest(t), conf, networkNamespace, networkName, subnet, gateway)
}

// The longest names the API server accepts, a 63-byte namespace and a
// 253-byte name, render a Bridge Network the real plugins attach: host-local
// makes its directory named after the network, and libcni caches each
// result under the network's name, a runtime's 64-digit container ID and
// the interface, all within Linux's 255 bytes.
func TestLongestNamesRenderAWorkingBridgeNetwork(t *testing.T) {
	namespace, name := strings.Repeat("n", 63), strings.Repeat("x", 253)
	subnet, gateway := netip.MustParsePrefix("198.18.7.0/24"), netip.MustParseAddr("198.18.7.1")
	conf, err := cni.Render(namespace, name, subnet, gateway)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("two pods on net1", func(t *testing.T) {
		cnispec.SecondaryNetwork(t, cnisim.NewForTest(t), conf, namespace, name, subnet, gateway)
	})

	t.Run("a pod on an interface name of 15 bytes, the longest", func(t *testing.T) {
		node := cnisim.NewForTest(t)
		ctx := t.Context()
		pod, err := node.NewPod(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		const ifName = "net-long-ifname"
		a, err := pod.Attach(ctx, ifName, conf)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Addrs()) != 1 {
			t.Fatalf("the ADD result reports %v, want one address", a.Addrs())
		}
		network := cni.ConfListName(namespace, name)
		if held, err := node.Allocations(network); err != nil || !slices.Equal(held, []netip.Addr{a.Addrs()[0].Addr()}) {
			t.Errorf("host-local holds %v in its directory %s (%v), want the pod's %v", held, network, err, a.Addrs())
		}
		cached := filepath.Join(node.Dir(), "cache", "results", network+"-"+pod.ContainerID+"-"+ifName)
		if len(filepath.Base(cached)) != 255 {
			t.Errorf("libcni's cached result %s is %d bytes, want the longest a name can be, 255", filepath.Base(cached), len(filepath.Base(cached)))
		}
		if _, err := os.Stat(cached); err != nil {
			t.Errorf("libcni's cached result: %v", err)
		}
		if err := a.Check(ctx); err != nil {
			t.Error(err)
		}
		if err := a.Detach(ctx); err != nil {
			t.Fatal(err)
		}
		if held, err := node.Allocations(network); err != nil || len(held) != 0 {
			t.Errorf("after DEL host-local still holds %v (%v)", held, err)
		}
		if _, err := os.Stat(cached); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after DEL libcni's cached result is still there (%v)", err)
		}
	})
}
