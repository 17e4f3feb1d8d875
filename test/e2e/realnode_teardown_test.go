package e2e

import "testing"

// TestRealNodeTeardownLeavesNothing tears the node down with
// hack/node-down.sh, as the last of the TestRealNode tests (files run in
// name order), and checks that the machine is as it was before the node
// started: no process of the node, its network namespace gone, the
// machine's links as they were, no kubelet or containerd mount, no kubepods
// or k8s.io cgroup, kubelet's sysctls restored, and nothing new below
// /run/containerd, /var/lib/kubelet, /var/log/containers, /var/lib/cni and
// /etc/cni. Run alone, it starts the node first.
func TestRealNodeTeardownLeavesNothing(t *testing.T) {
	n := needNode(t)
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
}
