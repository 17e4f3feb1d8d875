package cnisim_test

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"testing"

	"github.com/samplecrd/network-controller/pkg/cni"
	"github.com/samplecrd/network-controller/test/cnisim"
)

// Deleting a pod is what a runtime does when the pod goes: DEL for each
// network, the Network's and the cluster network's, so that host-local
// frees both addresses and the node keeps no veth for the pod; then the
// pod's namespace is gone.
func TestDeletingAPodReleasesEveryAttachment(t *testing.T) {
	node := cnisim.NewForTest(t)
	ctx := t.Context()
	conf, err := cni.Render(networkNamespace, networkName, netip.MustParsePrefix("198.18.6.0/24"), netip.MustParseAddr("198.18.6.1"))
	if err != nil {
		t.Fatal(err)
	}
	pod, err := node.NewPod(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	a, err := pod.Attach(ctx, net1, conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{a.Network, cnisim.ClusterNetwork} {
		if held, err := node.Allocations(network); err != nil || len(held) == 0 {
			t.Fatalf("before Delete host-local holds %v for %s (%v), want the pod's", held, network, err)
		}
	}

	if err := pod.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{a.Network, cnisim.ClusterNetwork} {
		if held, err := node.Allocations(network); err != nil || len(held) != 0 {
			t.Errorf("after Delete host-local holds %v for %s (%v)", held, network, err)
		}
	}
	links, err := node.Links()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Kind == "veth" {
			t.Errorf("after Delete the node still has %s", l.Name)
		}
	}
	if _, err := os.Stat(pod.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Delete %s is still there (%v)", pod.Path, err)
	}
}
