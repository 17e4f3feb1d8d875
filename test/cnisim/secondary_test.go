package cnisim_test

import (
	"net/netip"
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
