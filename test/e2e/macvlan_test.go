package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samplecrd/network-controller/pkg/cni"
	"github.com/samplecrd/network-controller/test/cnisim"
	"github.com/samplecrd/network-controller/test/cnisim/cnispec"
)

// uplink is the node interface the tests' Macvlan Networks ride on.
const uplink = "eth1"

// TestMacvlanNetworkSpansNodes is what Multus users do to make a network
// across nodes, end to end: `kubectl create` a Macvlan Network with
// excluded ranges, wait for Ready, read the NetworkAttachmentDefinition's
// spec.config back from the API server, and attach one pod on each of two
// simulated nodes with the real macvlan and whereabouts plugins. The nodes
// are network namespaces whose uplinks meet on a switch (a bridge in a
// third namespace); whereabouts on each node reaches this control plane
// through a forwarder inside the node and keeps its allocations in IPPool
// objects there. The pods must get a Network that spans the nodes
// (cnispec.SpanningNetwork), IPv4 and IPv6. An MTU above the uplink's
// fails at ADD, as the README says.
func TestMacvlanNetworkSpansNodes(t *testing.T) {
	if cluster == nil {
		t.Skip("e2e: needs the local control plane (skipped under -short)")
	}
	c := cluster
	pluginsDir := cnisim.PluginsDirForTest(t)
	installWhereaboutsCRDs(t, c, pluginsDir)
	ns, ipam := "span", "span-whereabouts"
	// The longest namespace and name Kubernetes accepts render a network
	// name that pkg/cni cuts to fit libcni's cache files on the nodes.
	longNS, longName := "span-"+strings.Repeat("n", 58), "span-"+strings.Repeat("x", 248)
	c.newNamespace(t, ns)
	c.newNamespace(t, longNS)
	newIPAMNamespace(t, c, ipam)
	c.newNamespace(t, cnisim.PodNamespace)
	c.startController(t, "network-controller", "--metrics-bind-address=0", "--health-probe-bind-address=0", "--whereabouts-namespace="+ipam)

	for _, tc := range []struct {
		family, ns, name, cidr, gateway string
		exclude                         []string
	}{
		// A /29 with its first half excluded and the gateway in the
		// second: pods can only get .5 and .6, so an allocator that
		// ignored either would show.
		{"IPv4", ns, "span", "198.18.14.0/29", "198.18.14.4", []string{"198.18.14.0/30"}},
		{"IPv6", ns, "span6", "fd00:14::/125", "fd00:14::1", []string{"fd00:14::/126", "fd00:14::6/128"}},
		{"IPv4 with the longest namespace and name", longNS, longName, "198.18.16.0/29", "198.18.16.1", nil},
	} {
		t.Run(tc.family, func(t *testing.T) {
			subnet := netip.MustParsePrefix(tc.cidr)
			conf := createMacvlanNetwork(t, c, tc.ns, tc.name, tc.cidr, tc.gateway, tc.exclude, 0)
			sw, nodes := twoNodes(t, c, ipam)
			var exclude []netip.Prefix
			for _, x := range tc.exclude {
				exclude = append(exclude, netip.MustParsePrefix(x))
			}
			cnispec.SpanningNetwork(t, cnispec.Spanning{
				Switch: sw, Nodes: nodes, Uplink: uplink, Conf: conf,
				Subnet: subnet, Gateway: netip.MustParseAddr(tc.gateway), Exclude: exclude,
				Allocations: func(ctx context.Context) ([]netip.Addr, error) {
					return ipPoolAllocations(c, ipam, cni.NetworkName(tc.ns, tc.name), subnet)
				},
			})
		})
	}

	t.Run("kubectl get -o wide shows the mode and the uplink; the shipped example is valid", func(t *testing.T) {
		out := c.mustKubectl(t, "get", "-n", ns, "network", "span", "-o", "wide")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 ||
			!strings.Contains(strings.Join(strings.Fields(lines[0]), " "), "MODE UPLINK") ||
			!strings.Contains(strings.Join(strings.Fields(lines[1]), " "), "Macvlan "+uplink) {
			t.Errorf("kubectl get -o wide:\n%s", out)
		}
		c.mustKubectl(t, "create", "--dry-run=server", "-n", ns, "-f", filepath.Join(c.repo, "artifacts/examples/example-macvlan-network.yaml"))
	})

	t.Run("status counts the attached pods and the allocated, leaked and exhausted addresses", func(t *testing.T) {
		checkUsageInStatus(t, c, ns, ipam)
	})

	t.Run("an MTU above the uplink's fails at ADD", func(t *testing.T) {
		conf := createMacvlanNetwork(t, c, ns, "jumbo", "198.18.15.0/24", "198.18.15.1", nil, 9000)
		sw := cnisim.NewSwitchForTest(t)
		node := cnisim.NewForTest(t)
		if err := sw.Plug(node, uplink, 1500); err != nil {
			t.Fatal(err)
		}
		if err := node.UseWhereabouts(t.Context(), c.kubeconfig, ipam); err != nil {
			t.Fatal(err)
		}
		pod, err := node.NewPod(t.Context(), "jumbo")
		if err != nil {
			t.Fatal(err)
		}
		_, err = pod.Attach(t.Context(), "net1", conf)
		if err == nil || !strings.Contains(err.Error(), "invalid MTU 9000") {
			t.Fatalf("ADD with MTU 9000 on a 1500 uplink: %v, want macvlan's invalid MTU error", err)
		}
		t.Logf("ADD says: %v", err)
		if held, err := ipPoolAllocations(c, ipam, cni.NetworkName(ns, "jumbo"), netip.MustParsePrefix("198.18.15.0/24")); err != nil || len(held) != 0 {
			t.Errorf("the failed ADD left allocations %v (%v)", held, err)
		}
	})
}

// twoNodes returns two simulated nodes whose uplinks meet on a switch and
// whose whereabouts keeps its IPPools in the namespace ipam of c.
func twoNodes(t *testing.T, c *localCluster, ipam string) (*cnisim.Switch, [2]*cnisim.Node) {
	t.Helper()
	sw := cnisim.NewSwitchForTest(t)
	nodes := [2]*cnisim.Node{cnisim.NewForTest(t), cnisim.NewForTest(t)}
	for _, n := range nodes {
		if err := sw.Plug(n, uplink, 0); err != nil {
			t.Fatal(err)
		}
		if err := n.UseWhereabouts(t.Context(), c.kubeconfig, ipam); err != nil {
			t.Fatal(err)
		}
	}
	return sw, nodes
}

// createMacvlanNetwork creates a Macvlan Network on uplink with kubectl,
// waits for Ready and returns its attachment's spec.config as the API
// server has it.
func createMacvlanNetwork(t *testing.T, c *localCluster, ns, name, cidr, gateway string, exclude []string, mtu int) []byte {
	t.Helper()
	manifest := fmt.Sprintf("apiVersion: samplecrd.k8s.io/v1\nkind: Network\nmetadata:\n  name: %s\nspec:\n  mode: Macvlan\n  uplink: %s\n  cidr: %q\n  gateway: %q\n", name, uplink, cidr, gateway)
	if len(exclude) > 0 {
		manifest += "  excludeRanges:\n"
		for _, x := range exclude {
			manifest += fmt.Sprintf("  - %q\n", x)
		}
	}
	if mtu != 0 {
		manifest += fmt.Sprintf("  mtu: %d\n", mtu)
	}
	if out, err := c.kubectlAs(c.kubeconfig, manifest, "create", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("kubectl create: %v\n%s\n%s", err, out, manifest)
	}
	if out, err := c.kubectl("wait", "-n", ns, "--for", "condition=Ready", "--timeout=60s", "network/"+name); err != nil {
		status, _ := c.kubectl("get", "-n", ns, "network", name, "-o", "jsonpath={.status}")
		t.Fatalf("waiting for Ready: %v\n%s\nstatus: %s", err, out, status)
	}
	conf, err := c.kubectl("get", "-n", ns, "net-attach-def", name, "-o", "jsonpath={.spec.config}")
	if err != nil {
		t.Fatalf("reading the attachment: %v\n%s", err, conf)
	}
	return []byte(conf)
}

// whereaboutsCRDs are the CRDs whereabouts needs, as hack/cni/install.sh
// keeps them next to the plugins.
var whereaboutsCRDs = []string{"ippools.whereabouts.cni.cncf.io", "overlappingrangeipreservations.whereabouts.cni.cncf.io"}

// installWhereaboutsCRDs creates whereabouts' CRDs that the cluster lacks,
// from the files of the whereabouts version the plugins were built from,
// and deletes those it created when the test ends. A cluster running
// whereabouts has its own, which are left as they are.
func installWhereaboutsCRDs(t *testing.T, c *localCluster, pluginsDir string) {
	t.Helper()
	for _, crd := range whereaboutsCRDs {
		if out, err := c.kubectl("get", "crd", crd, "--ignore-not-found", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
			if err != nil {
				t.Fatalf("looking for CRD %s: %v\n%s", crd, err, out)
			}
			continue
		}
		file := filepath.Join(pluginsDir, "..", "whereabouts-crds", "whereabouts.cni.cncf.io_"+strings.TrimSuffix(crd, ".whereabouts.cni.cncf.io")+".yaml")
		if _, err := os.Stat(file); err != nil {
			t.Fatalf("whereabouts' CRD %s: %v (hack/cni/install.sh puts it there)", crd, err)
		}
		c.mustKubectl(t, "create", "-f", file)
		t.Cleanup(func() { _, _ = c.kubectl("delete", "crd", crd, "--ignore-not-found") })
		c.mustKubectl(t, "wait", "--for", "condition=Established", "--timeout=60s", "crd/"+crd)
	}
}

// newIPAMNamespace creates the namespace whereabouts keeps the test's
// IPPools, reservations and Lease in, and empties and deletes it when the
// test ends (the objects are deleted first, so that the CRDs can go right
// after).
func newIPAMNamespace(t *testing.T, c *localCluster, name string) {
	t.Helper()
	c.mustKubectl(t, "create", "namespace", name)
	t.Cleanup(func() {
		for _, crd := range whereaboutsCRDs {
			_, _ = c.kubectl("delete", strings.SplitN(crd, ".", 2)[0]+".whereabouts.cni.cncf.io", "--all", "-n", name, "--ignore-not-found")
		}
		_, _ = c.kubectl("delete", "namespace", name, "--wait=false")
	})
}

// ipPoolAllocations returns the addresses whereabouts' IPPool for the
// network_name and range holds, and fails if whereabouts' per-address
// reservations for that network do not say the same. A pool that does not
// exist holds nothing.
func ipPoolAllocations(c *localCluster, ns, networkName string, subnet netip.Prefix) ([]netip.Addr, error) {
	pool := networkName + "-" + strings.NewReplacer(":", "-", "/", "-").Replace(subnet.String())
	out, err := c.kubectl("get", "ippools.whereabouts.cni.cncf.io", "-n", ns, pool, "--ignore-not-found", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("kubectl get ippool %s: %v\n%s", pool, err, out)
	}
	var addrs []netip.Addr
	if strings.TrimSpace(out) != "" {
		var obj struct {
			Spec struct {
				Range       string `json:"range"`
				Allocations map[string]struct {
					PodRef string `json:"podref"`
				} `json:"allocations"`
			} `json:"spec"`
		}
		if err := json.Unmarshal([]byte(out), &obj); err != nil {
			return nil, err
		}
		if obj.Spec.Range != subnet.String() {
			return nil, fmt.Errorf("IPPool %s has range %q, want %s", pool, obj.Spec.Range, subnet)
		}
		// Allocations are keyed by their offset from the range's first
		// address.
		for key := range obj.Spec.Allocations {
			off, err := strconv.ParseUint(key, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("IPPool %s: allocation key %q: %w", pool, key, err)
			}
			addrs = append(addrs, addOffset(subnet.Addr(), off))
		}
	}
	out, err = c.kubectl("get", "overlappingrangeipreservations.whereabouts.cni.cncf.io", "-n", ns, "-o", "name")
	if err != nil {
		return nil, fmt.Errorf("kubectl get overlappingrangeipreservations: %v\n%s", err, out)
	}
	var reserved int
	for _, line := range strings.Fields(out) {
		if strings.HasPrefix(strings.TrimPrefix(line, "overlappingrangeipreservation.whereabouts.cni.cncf.io/"), networkName+"-") {
			reserved++
		}
	}
	if reserved != len(addrs) {
		return nil, fmt.Errorf("IPPool %s holds %v but there are %d reservations for %s:\n%s", pool, addrs, reserved, networkName, out)
	}
	return addrs, nil
}

// addOffset returns a + off.
func addOffset(a netip.Addr, off uint64) netip.Addr {
	n := new(big.Int).SetBytes(a.AsSlice())
	n.Add(n, new(big.Int).SetUint64(off))
	b := make([]byte, len(a.AsSlice()))
	n.FillBytes(b)
	out, _ := netip.AddrFromSlice(b)
	return out
}

// checkUsageInStatus attaches pods of simulated nodes to Macvlan Networks
// and reads their usage from status, as kubectl shows it. The simulation
// runs no kubelet and no Multus, so the test creates each pod object and
// writes its network-status annotation as Multus would, from the ADD
// result (attachPodObject). The pod objects are
// never scheduled (nodeName unset: no scheduler runs here, and the garbage
// collector of kube-controller-manager removes pods bound to a node that
// does not exist).
func checkUsageInStatus(t *testing.T, c *localCluster, ns, ipam string) {
	// A /29 whose gateway is .1: 5 addresses for pods.
	conf := createMacvlanNetwork(t, c, ns, "usage", "198.18.17.0/29", "198.18.17.1", nil, 0)
	_, nodes := twoNodes(t, c, ipam)
	a := attachPodObject(t, c, nodes[0], ns, "usage", "usage-a", conf)
	attachPodObject(t, c, nodes[1], ns, "usage", "usage-b", conf)
	waitForStatus(t, c, ns, "usage", "{.status.attachedPods} {.status.addresses.total} {.status.addresses.allocated} {.status.addresses.leaked}", "2 5 2 0")
	out := c.mustKubectl(t, "get", "-n", ns, "network", "usage", "-o", "wide")
	if header := strings.Join(strings.Fields(strings.SplitN(out, "\n", 2)[0]), " "); !strings.Contains(header, "READY PODS") || !strings.Contains(header, "USED TOTAL") {
		t.Errorf("kubectl get -o wide has no Pods, Used and Total columns:\n%s", out)
	}
	t.Logf("after two ADDs:\n%s", out)

	// The pod object goes without a DEL (its node died, say): its address
	// stays allocated, held for a pod that no longer exists.
	c.mustKubectl(t, "delete", "pod", "-n", cnisim.PodNamespace, "usage-b", "--wait=true")
	waitForStatus(t, c, ns, "usage", "{.status.attachedPods} {.status.addresses.allocated} {.status.addresses.leaked}", "1 2 1")
	t.Logf("after a pod object went without DEL:\n%s\n%s", c.mustKubectl(t, "get", "-n", ns, "network", "usage", "-o", "wide"),
		c.mustKubectl(t, "describe", "-n", ns, "network", "usage"))
	if err := a.Detach(t.Context()); err != nil {
		t.Fatal(err)
	}

	// A /30 whose gateway is .1 has one address for pods: one ADD fills it.
	tiny := createMacvlanNetwork(t, c, ns, "tiny", "198.18.17.8/30", "198.18.17.9", nil, 0)
	last := attachPodObject(t, c, nodes[0], ns, "tiny", "tiny-a", tiny)
	waitForStatus(t, c, ns, "tiny", `{.status.attachedPods} {.status.addresses.allocated}/{.status.addresses.total} {.status.addresses.leaked} {.status.conditions[?(@.type=="AddressesExhausted")].status} {.status.conditions[?(@.type=="AddressesExhausted")].reason}`, "1 1/1 0 True NoFreeAddresses")
	waitForEvent(t, c, ns, "tiny", "Warning", "AddressesExhausted")
	t.Logf("a tiny range filled:\n%s", c.mustKubectl(t, "describe", "-n", ns, "network", "tiny"))
	if err := last.Detach(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// attachPodObject does what the kubelet and Multus do for a pod of node
// on the Network ns/name: the pod object exists first, asking for the
// Network (in cnisim.PodNamespace, where the plugins are told the pod
// is), then the ADD, then the network-status annotation from its result.
// The object is deleted when the test ends.
func attachPodObject(t *testing.T, c *localCluster, node *cnisim.Node, ns, name, podName string, conf []byte) *cnisim.Attachment {
	t.Helper()
	manifest, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": podName, "namespace": cnisim.PodNamespace, "annotations": map[string]string{
			"k8s.v1.cni.cncf.io/networks": ns + "/" + name,
		}},
		"spec": map[string]any{"containers": []map[string]any{{"name": "app", "image": "localhost/workload:network-controller"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := c.kubectlAs(c.kubeconfig, string(manifest), "create", "-f", "-"); err != nil {
		t.Fatalf("creating pod %s: %v\n%s", podName, err, out)
	}
	t.Cleanup(func() {
		_, _ = c.kubectl("delete", "pod", "-n", cnisim.PodNamespace, podName, "--ignore-not-found", "--wait=false")
	})
	pod, err := node.NewPod(t.Context(), podName)
	if err != nil {
		t.Fatal(err)
	}
	att, err := pod.Attach(t.Context(), "net1", conf)
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, p := range att.Addrs() {
		ips = append(ips, p.Addr().String())
	}
	status, err := json.Marshal([]map[string]any{{"name": ns + "/" + name, "interface": "net1", "ips": ips}})
	if err != nil {
		t.Fatal(err)
	}
	c.mustKubectl(t, "annotate", "pod", "-n", cnisim.PodNamespace, podName, "k8s.v1.cni.cncf.io/network-status="+string(status))
	return att
}

// waitForStatus waits up to a minute for the jsonpath of Network ns/name
// to read want.
func waitForStatus(t *testing.T, c *localCluster, ns, name, jsonpath, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, err := c.kubectl("get", "-n", ns, "network", name, "-o", "jsonpath="+jsonpath)
		if got = strings.TrimSpace(out); err == nil && got == want {
			return
		}
	}
	status, _ := c.kubectl("get", "-n", ns, "network", name, "-o", "jsonpath={.status}")
	t.Fatalf("Network %s/%s: %s reads %q, want %q\nstatus: %s", ns, name, jsonpath, got, want, status)
}

// waitForEvent waits up to a minute for an Event of type and reason on
// the Network ns/name.
func waitForEvent(t *testing.T, c *localCluster, ns, name, eventType, reason string) {
	t.Helper()
	selector := "involvedObject.kind=Network,involvedObject.name=" + name + ",type=" + eventType + ",reason=" + reason
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if out, err := c.kubectl("get", "events", "-n", ns, "--field-selector", selector, "-o", "name"); err == nil && strings.TrimSpace(out) != "" {
			return
		}
	}
	events, _ := c.kubectl("get", "events", "-n", ns)
	t.Fatalf("no %s Event %s on Network %s/%s\n%s", eventType, reason, ns, name, events)
}
