package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUserPath is the README's walk-through: create the example Network,
// see it Ready with a Synced Event in `kubectl describe`, see the columns
// of `kubectl get`, be refused a bad Network with a readable message, and
// watch the garbage collector remove the NetworkAttachmentDefinition after a delete.
func TestUserPath(t *testing.T) {
	if cluster == nil {
		t.Skip("e2e: needs the local control plane (skipped under -short)")
	}
	c := cluster
	ns := "user-path"
	c.newNamespace(t, ns)

	controller := c.startController(t, "network-controller", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	walkThrough(t, c, c.kubeconfig, ns)

	if err := controller.terminate(t); err != nil {
		t.Errorf("the controller did not shut down cleanly on SIGTERM: %v", err)
	}
}

// walkThrough is the user's path in namespace ns, with kubectl run as the
// admin. The controller under test must be running.
func walkThrough(t *testing.T, c *localCluster, kubeconfig, ns string) {
	t.Helper()
	example := filepath.Join(c.repo, "artifacts/examples/example-network.yaml")
	if out, err := c.kubectl("create", "-n", ns, "-f", example); err != nil {
		t.Fatalf("kubectl create -f example-network.yaml: %v\n%s", err, out)
	}
	if out, err := c.kubectl("wait", "-n", ns, "--for", "condition=Ready", "--timeout=60s", "network/example-network"); err != nil {
		t.Fatalf("waiting for Ready: %v\n%s", err, out)
	}

	eventually(t, 30*time.Second, "kubectl describe shows the Ready condition and the Synced Event", func() error {
		out, err := c.kubectl("describe", "-n", ns, "network", "example-network")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		for _, want := range []string{"Type:                  Ready", "Reason:                Synced", "Status:                True", "Normal  Synced"} {
			if !strings.Contains(squeezeAfterColon(out), squeezeAfterColon(want)) {
				return fmt.Errorf("missing %q in:\n%s", want, out)
			}
		}
		return nil
	})

	out, err := c.kubectl("get", "-n", ns, "networks")
	if err != nil {
		t.Fatalf("kubectl get networks: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME CIDR GATEWAY READY PODS AGE" {
		t.Errorf("kubectl get networks columns = %v, want NAME CIDR GATEWAY READY PODS AGE", got)
	}
	if len(lines) != 2 || !strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "example-network 198.18.0.0/24 198.18.0.1 True 0 ") {
		t.Errorf("kubectl get networks row = %q, want example-network 198.18.0.0/24 198.18.0.1 True 0 ...", lines[1:])
	}

	if out, err := c.kubectl("get", "-n", ns, "net-attach-def", "example-network", "-o", "jsonpath={.spec.config}"); err != nil || !strings.Contains(out, `"subnet": "198.18.0.0/24"`) {
		t.Errorf("NetworkAttachmentDefinition example-network lacks the CNI configuration (%v):\n%s", err, out)
	}

	bad := `apiVersion: samplecrd.k8s.io/v1
kind: Network
metadata:
  name: bad-gateway
spec:
  cidr: 10.0.0.0/24
  gateway: 10.0.1.1
`
	out, err = c.kubectlAs(kubeconfig, bad, "create", "-n", ns, "-f", "-")
	if err == nil {
		t.Errorf("kubectl create of a Network with its gateway outside the CIDR succeeded:\n%s", out)
	} else if !strings.Contains(out, "spec.gateway: Invalid value") || !strings.Contains(out, "must be an address inside spec.cidr") {
		t.Errorf("kubectl create of a bad Network failed without the readable message:\n%s", out)
	}

	if out, err := c.kubectl("delete", "-n", ns, "network", "example-network"); err != nil {
		t.Fatalf("kubectl delete network: %v\n%s", err, out)
	}
	eventually(t, 60*time.Second, "the garbage collector removes the NetworkAttachmentDefinition", func() error {
		out, err := c.kubectl("get", "-n", ns, "net-attach-def", "example-network", "--ignore-not-found", "-o", "name")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if strings.TrimSpace(out) != "" {
			return fmt.Errorf("still there: %s", out)
		}
		return nil
	})
}

// squeezeAfterColon collapses the padding kubectl describe puts after a
// field name, so tests do not depend on column widths.
func squeezeAfterColon(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, ":", ": ")), " ")
}
