package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samplecrd/network-controller/pkg/cni"
)

// TestRealNodeBridgeNetwork is the user's path on a Bridge Network with
// pods that a kubelet starts: a Network with an excluded range goes Ready,
// two pods that name it in k8s.v1.cni.cncf.io/networks are Running with
// net1 on it (Multus, from the controller's NetworkAttachmentDefinition),
// reach each other over net1, keep their default route on eth0, and give
// their addresses back (host-local's files) when they are deleted.
func TestRealNodeBridgeNetwork(t *testing.T) {
	n := needNode(t)
	c := cluster
	ns, network := "node-bridge", "blue"
	subnet, gateway := netip.MustParsePrefix("198.18.30.0/24"), netip.MustParseAddr("198.18.30.1")
	exclude := []netip.Prefix{netip.MustParsePrefix("198.18.30.0/28")}
	c.newNamespace(t, ns)
	c.startController(t, "network-controller", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	createNetworkOnNode(t, c, ns, network, "Bridge", subnet, gateway, exclude)

	pods := []string{"blue-a", "blue-b"}
	startPods(t, c, ns, network, pods...)
	addrs := attachAndReach(t, c, ns, network, pods, subnet, gateway, exclude)

	held, err := hostLocalFiles(ns, network)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if !slices.Contains(held, a.String()) {
			t.Errorf("host-local on %s holds %v, not %s: the test looks in the wrong place", n.name, held, a)
		}
	}
	deletePods(t, c, ns, pods...)
	if held, err := hostLocalFiles(ns, network); err != nil || len(held) != 0 {
		t.Errorf("after the pods were deleted, host-local still holds %v (%v)", held, err)
	}
}

// TestRealNodeMacvlanNetwork is the same path on a Macvlan Network: the
// uplink is the node's eth1 (a veth pair in its namespace), addresses come
// from whereabouts, which reaches the API server with the node's own
// kubeconfig and keeps them in an IPPool, and deleting the pods frees them
// there.
func TestRealNodeMacvlanNetwork(t *testing.T) {
	n := needNode(t)
	c := cluster
	installWhereaboutsCRDs(t, c, n.pluginsDir)
	ns, network := "node-macvlan", "green"
	subnet, gateway := netip.MustParsePrefix("198.18.31.0/24"), netip.MustParseAddr("198.18.31.1")
	exclude := []netip.Prefix{netip.MustParsePrefix("198.18.31.0/28")}
	c.newNamespace(t, ns)
	c.startController(t, "network-controller", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	createNetworkOnNode(t, c, ns, network, "Macvlan", subnet, gateway, exclude)

	pods := []string{"green-a", "green-b"}
	startPods(t, c, ns, network, pods...)
	addrs := attachAndReach(t, c, ns, network, pods, subnet, gateway, exclude)

	// whereabouts keeps its pools in kube-system: the node's whereabouts
	// kubeconfig names no namespace.
	const ipam = "kube-system"
	held, err := ipPoolAllocations(c, ipam, cni.NetworkName(ns, network), subnet)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(held, netip.Addr.Compare)
	slices.SortFunc(addrs, netip.Addr.Compare)
	if !slices.Equal(held, addrs) {
		t.Errorf("the IPPool holds %v, the pods have %v", held, addrs)
	}
	deletePods(t, c, ns, pods...)
	if held, err := ipPoolAllocations(c, ipam, cni.NetworkName(ns, network), subnet); err != nil || len(held) != 0 {
		t.Errorf("after the pods were deleted, the IPPool still holds %v (%v)", held, err)
	}
}

// createNetworkOnNode creates a Network of mode on the node's eth1 (for
// Macvlan) with kubectl and waits until it is Ready.
func createNetworkOnNode(t *testing.T, c *localCluster, ns, name, mode string, subnet netip.Prefix, gateway netip.Addr, exclude []netip.Prefix) {
	t.Helper()
	manifest := fmt.Sprintf("apiVersion: samplecrd.k8s.io/v1\nkind: Network\nmetadata:\n  name: %s\nspec:\n  mode: %s\n  cidr: %q\n  gateway: %q\n", name, mode, subnet, gateway)
	if mode == "Macvlan" {
		manifest += "  uplink: eth1\n"
	}
	if len(exclude) > 0 {
		manifest += "  excludeRanges:\n"
		for _, x := range exclude {
			manifest += fmt.Sprintf("  - %q\n", x)
		}
	}
	if out, err := c.kubectlAs(c.kubeconfig, manifest, "create", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("kubectl create: %v\n%s\n%s", err, out, manifest)
	}
	waitReady(t, c, ns, name, 60*time.Second)
}

// attachAndReach checks every pod's attachment (checkAttachment) and that
// each reaches the next over net1; it returns their net1 addresses.
func attachAndReach(t *testing.T, c *localCluster, ns, network string, pods []string, subnet netip.Prefix, gateway netip.Addr, exclude []netip.Prefix) []netip.Addr {
	t.Helper()
	var addrs []netip.Addr
	for _, p := range pods {
		addrs = append(addrs, checkAttachment(t, c, ns, p, network, subnet, gateway, exclude))
	}
	if a := slices.Compact(slices.SortedFunc(slices.Values(addrs), netip.Addr.Compare)); len(a) != len(addrs) {
		t.Fatalf("pods share addresses: %v", addrs)
	}
	for i, p := range pods {
		reach(t, c, ns, p, addrs[(i+1)%len(addrs)])
	}
	t.Logf("%s: net1 addresses %s", network, strings.Trim(fmt.Sprint(addrs), "[]"))
	return addrs
}
