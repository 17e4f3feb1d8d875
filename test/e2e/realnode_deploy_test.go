package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// controllerImage is the controller's image from hack/images.sh, imported
// into the node.
const controllerImage = "localhost/network-controller:dev"

// TestRealNodeControllerDeployed deploys the controller as users do:
// kubectl apply -k of an overlay of artifacts/deploy that only swaps in the
// locally built image. On the real node both replicas pass their probes,
// one holds the Lease, a Network goes Ready and a pod gets net1 on it, an
// edited attachment is repaired, the leader stops gracefully when its pod is deleted (well within
// terminationGracePeriodSeconds, releasing the Lease to another replica),
// and no replica's log shows an RBAC refusal ("forbidden"), the shipped
// ClusterRole and Role being all they have.
//
// The replicas reach the API server the in-cluster way: kubelet sets
// KUBERNETES_SERVICE_HOST/PORT to the `kubernetes` Service (198.19.255.1:443),
// an address the node's namespace holds and relays to the API server
// (hack/node-env.sh): nothing in the manifests changes for this node.
func TestRealNodeControllerDeployed(t *testing.T) {
	needNode(t)
	c := cluster
	overlay := t.TempDir()
	base, err := filepath.Rel(overlay, filepath.Join(c.repo, "artifacts/deploy"))
	if err != nil {
		t.Fatal(err)
	}
	name, tag, _ := strings.Cut(controllerImage, ":")
	kustomization := fmt.Sprintf("resources:\n- %s\nimages:\n- name: network-controller\n  newName: %s\n  newTag: %s\n", base, name, tag)
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.mustKubectl(t, "apply", "-k", overlay)
	// Only the workload goes, its pods with it: the identity stays for the
	// other tests' controllers (installControllerIdentity).
	t.Cleanup(func() {
		if out, err := c.kubectl("delete", "-n", deployNamespace, "deployment/network-controller", "service/network-controller-metrics",
			"--ignore-not-found", "--cascade=foreground", "--wait=true", "--timeout=120s"); err != nil {
			t.Errorf("deleting the Deployment: %v\n%s", err, out)
		}
	})
	// Both replicas Ready: their readiness probes pass, the standby's too.
	if out, err := c.kubectl("rollout", "status", "-n", deployNamespace, "deployment/network-controller", "--timeout=120s"); err != nil {
		desc, _ := c.kubectl("describe", "pods", "-n", deployNamespace)
		t.Fatalf("the Deployment did not become available: %v\n%s\n%s", err, out, tail(desc, 80))
	}
	t.Logf("kubectl apply -k to 2 replicas Ready: %.1f s", time.Since(start).Seconds())
	pods := strings.Fields(c.mustKubectl(t, "get", "pods", "-n", deployNamespace, "-o", "jsonpath={.items[*].metadata.name}"))
	if len(pods) != 2 {
		t.Fatalf("pods %v, want the Deployment's 2 replicas", pods)
	}
	logs := map[string]string{}
	t.Cleanup(func() {
		for _, p := range pods {
			if out, err := c.kubectl("logs", "-n", deployNamespace, p); err == nil {
				logs[p] = out
			}
		}
		for p, l := range logs {
			if strings.Contains(l, "forbidden") {
				t.Errorf("replica %s met an RBAC refusal:\n%s", p, grepLines(l, "forbidden", 5))
			}
		}
	})

	leader := leaseHolder(t, c, "")

	ns := "node-deploy"
	c.newNamespace(t, ns)
	subnet, gateway := netip.MustParsePrefix("198.18.32.0/24"), netip.MustParseAddr("198.18.32.1")
	createNetworkOnNode(t, c, ns, "red", "Bridge", subnet, gateway, nil)
	startPods(t, c, ns, "red", "red-a")
	checkAttachment(t, c, ns, "red-a", "red", subnet, gateway, nil)

	// Someone edits the attachment: the controller puts its own back,
	// with the rights the shipped roles give it.
	want := c.mustKubectl(t, "get", "net-attach-def", "-n", ns, "red", "-o", "jsonpath={.spec.config}")
	c.mustKubectl(t, "patch", "net-attach-def", "-n", ns, "red", "--type=merge", "-p", `{"spec":{"config":"{\"cniVersion\":\"1.0.0\",\"name\":\"edited\",\"plugins\":[]}"}}`)
	eventually(t, 60*time.Second, "the edited attachment repaired", func() error {
		got, err := c.kubectl("get", "net-attach-def", "-n", ns, "red", "-o", "jsonpath={.spec.config}")
		if err != nil || got != want {
			return fmt.Errorf("spec.config is %q (%v)", got, err)
		}
		return nil
	})

	// A graceful stop: the leader's pod deleted, it finishes, releases the
	// Lease and exits long before the 60 s grace period would end in
	// SIGKILL; the other replica leads next.
	logs[leader] = c.mustKubectl(t, "logs", "-n", deployNamespace, leader)
	stop := time.Now()
	c.mustKubectl(t, "delete", "pod", "-n", deployNamespace, leader, "--wait=true", "--timeout=90s")
	took := time.Since(stop)
	t.Logf("the leader's pod deleted to gone: %.1f s (terminationGracePeriodSeconds: 60)", took.Seconds())
	if took > 30*time.Second {
		t.Errorf("the leader took %v to stop: not a graceful stop of well under a second, nearer the grace period's SIGKILL", took)
	}
	// It released the Lease: another replica (the standby, or the
	// replacement the ReplicaSet started, whichever asks first) holds it
	// well before the 15 s lease duration would have run out.
	next := leaseHolder(t, c, leader)
	if waited := time.Since(stop); waited > 15*time.Second {
		t.Errorf("%s led %v after the leader's pod was deleted: the Lease was not released", next, waited)
	}
}

// leaseHolder waits until the controller's Lease names one of the
// Deployment's pods other than not (its identity is the pod's host name
// plus a suffix) and returns that pod.
func leaseHolder(t *testing.T, c *localCluster, not string) string {
	t.Helper()
	var holder string
	eventually(t, 60*time.Second, "a replica holds the Lease", func() error {
		out, err := c.kubectl("get", "lease", "-n", deployNamespace, "network-controller", "-o", "jsonpath={.spec.holderIdentity}")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		pods, err := c.kubectl("get", "pods", "-n", deployNamespace, "-o", "jsonpath={.items[*].metadata.name}")
		if err != nil {
			return fmt.Errorf("%v: %s", err, pods)
		}
		for _, p := range strings.Fields(pods) {
			if p != not && strings.HasPrefix(out, p+"_") {
				holder = p
				return nil
			}
		}
		return fmt.Errorf("the Lease is held by %q, none of %s other than %q", out, pods, not)
	})
	return holder
}
