package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestOrphanDeletionLeavesNoLiveAttachment: anyone who may delete a
// Network can run `kubectl delete network X --cascade=orphan`. The garbage
// collector (kube-controller-manager's) then strips the owner reference
// from X's NetworkAttachmentDefinition and leaves it, a live configuration
// for a range no Network holds any more. The controller must remove it
// within seconds, and leave alone the attachments that are not its own.
func TestOrphanDeletionLeavesNoLiveAttachment(t *testing.T) {
	if cluster == nil {
		t.Skip("e2e: needs the local control plane (skipped under -short)")
	}
	c := cluster
	ns := "orphan-cascade"
	c.newNamespace(t, ns)
	c.startController(t, "orphan-controller", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	foreign := `apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: foreign
spec:
  config: '{"cniVersion": "1.0.0", "name": "foreign", "plugins": [{"type": "macvlan"}]}'
`
	if out, err := c.kubectlAs(c.kubeconfig, foreign, "create", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("creating an attachment of someone else's: %v\n%s", err, out)
	}
	createNetwork(t, c, ns, "net", "198.18.196.0/24", "198.18.196.1")
	c.waitForReason(t, ns, "net", "Synced")

	c.mustKubectl(t, "delete", "network", "-n", ns, "net", "--cascade=orphan")
	deleted := time.Now()
	eventually(t, 15*time.Second, "the orphaned NetworkAttachmentDefinition removed", func() error {
		out, err := c.kubectl("get", "net-attach-def", "-n", ns, "net", "--ignore-not-found", "-o", "jsonpath={.metadata.name} owners {.metadata.ownerReferences}")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if strings.TrimSpace(out) != "" {
			return fmt.Errorf("still there: %s", out)
		}
		return nil
	})
	t.Logf("the orphaned attachment was gone %v after kubectl delete --cascade=orphan", time.Since(deleted).Round(100*time.Millisecond))
	if out := c.mustKubectl(t, "get", "networks", "-n", ns, "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("Networks left: %s", out)
	}
	if _, err := c.kubectl("get", "net-attach-def", "-n", ns, "foreign"); err != nil {
		t.Errorf("the controller removed an attachment that is not its own: %v", err)
	}
}
