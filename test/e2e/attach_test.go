package e2e

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/samplecrd/network-controller/test/cnisim"
	"github.com/samplecrd/network-controller/test/cnisim/cnispec"
)

// TestAttachToANetwork does what a node's runtime does with a Network: after
// `kubectl create` and the controller reporting it Ready, it reads the
// NetworkAttachmentDefinition's spec.config from the API server, exactly as
// the controller wrote it, and attaches two pods to it with the real CNI
// plugins (libcni, bridge, host-local) inside a network namespace playing
// the node, after a stand-in cluster network on eth0. The pods must get a
// working secondary network (test/cnisim/cnispec), IPv4 and IPv6.
func TestAttachToANetwork(t *testing.T) {
	if cluster == nil {
		t.Skip("e2e: needs the local control plane (skipped under -short)")
	}
	c := cluster
	ns := "attach"
	c.newNamespace(t, ns)
	c.startController(t, "network-controller", "--metrics-bind-address=0", "--health-probe-bind-address=0", "-v=4")

	for _, tc := range []struct{ family, name, cidr, gateway string }{
		{"IPv4", "blue", "198.18.7.0/24", "198.18.7.1"},
		{"IPv6", "blue6", "fd00:7::/64", "fd00:7::1"},
	} {
		t.Run(tc.family, func(t *testing.T) {
			manifest := fmt.Sprintf("apiVersion: samplecrd.k8s.io/v1\nkind: Network\nmetadata:\n  name: %s\nspec:\n  cidr: %s\n  gateway: %s\n", tc.name, tc.cidr, tc.gateway)
			if out, err := c.kubectlAs(c.kubeconfig, manifest, "create", "-n", ns, "-f", "-"); err != nil {
				t.Fatalf("kubectl create: %v\n%s", err, out)
			}
			if out, err := c.kubectl("wait", "-n", ns, "--for", "condition=Ready", "--timeout=60s", "network/"+tc.name); err != nil {
				t.Fatalf("waiting for Ready: %v\n%s", err, out)
			}
			conf, err := c.kubectl("get", "-n", ns, "net-attach-def", tc.name, "-o", "jsonpath={.spec.config}")
			if err != nil {
				t.Fatalf("reading the attachment: %v\n%s", err, conf)
			}
			node := cnisim.NewForTest(t)
			cnispec.SecondaryNetwork(t, node, []byte(conf), ns, tc.name, netip.MustParsePrefix(tc.cidr), netip.MustParseAddr(tc.gateway))
		})
	}
}
