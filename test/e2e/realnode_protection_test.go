package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

// inUseEvent is the Warning InUse Event as kubectl describe lists it.
var inUseEvent = regexp.MustCompile(`(?m)^\s*Warning\s+InUse\s`)

// TestRealNodeNetworkInUseIsKept: a pod the kubelet started on a Network
// holds it against kubectl delete. The Network stays, with its
// attachment, and kubectl describe says why: the Deleting condition
// (InUse, the pod named) and one Warning Event. Deleting the pod, which
// the kubelet tears down, releases the Network, which then goes.
func TestRealNodeNetworkInUseIsKept(t *testing.T) {
	needNode(t)
	c := cluster
	ns, network, pod := "node-protect", "held", "held-a"
	subnet, gateway := netip.MustParsePrefix("198.18.34.0/24"), netip.MustParseAddr("198.18.34.1")
	c.newNamespace(t, ns)
	c.startController(t, "network-controller", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	createNetworkOnNode(t, c, ns, network, "Bridge", subnet, gateway, nil)
	startPods(t, c, ns, network, pod)
	checkAttachment(t, c, ns, pod, network, subnet, gateway, nil)

	c.mustKubectl(t, "delete", "network", "-n", ns, network, "--wait=false")
	var described string
	eventually(t, 60*time.Second, "kubectl describe to say the Network waits for "+pod, func() error {
		out, err := c.kubectl("describe", "network", "-n", ns, network)
		described = out
		switch {
		case err != nil:
			return fmt.Errorf("%v: %s", err, out)
		case !strings.Contains(out, "Deleting") || !strings.Contains(out, "InUse") ||
			!strings.Contains(out, "in use by 1 pod: "+ns+"/"+pod) || !inUseEvent.MatchString(out):
			return fmt.Errorf("kubectl describe network says:\n%s", out)
		}
		return nil
	})
	t.Logf("kubectl describe network -n %s %s, while %s runs:\n%s", ns, network, pod, described)
	if out, err := c.kubectl("get", "net-attach-def", "-n", ns, network, "-o", "name"); err != nil {
		t.Errorf("a Network in use lost its attachment: %v\n%s", err, out)
	}
	// Held, not just slow: still there a few seconds on.
	time.Sleep(3 * time.Second)
	if out, err := c.kubectl("get", "network", "-n", ns, network, "-o", "jsonpath={.metadata.finalizers}"); err != nil || !strings.Contains(out, "in-use-protection") {
		t.Fatalf("the Network in use went, or lost its protection: %v %s", err, out)
	}

	start := time.Now()
	deletePods(t, c, ns, pod)
	if out, err := c.kubectl("wait", "--for=delete", "-n", ns, "network/"+network, "--timeout=60s"); err != nil {
		t.Fatalf("the Network stayed after its pod was deleted: %v\n%s", err, out)
	}
	t.Logf("the pod gone to the Network gone: %.1f s", time.Since(start).Seconds())
}
