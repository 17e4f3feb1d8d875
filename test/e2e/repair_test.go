package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestHandEditedAttachmentIsRepaired edits a Network's
// NetworkAttachmentDefinition by hand, as a user with rights on attachments
// could, while the controller runs as its ServiceAccount with the shipped
// roles: the controller must put back what it owns (the spec, the
// managed-by label) and the Network stay Ready. The repair is a PATCH, which
// the role must grant; a refusal fails the test in its log too.
func TestHandEditedAttachmentIsRepaired(t *testing.T) {
	if cluster == nil {
		t.Skip("e2e: needs the local control plane (skipped under -short)")
	}
	c := cluster
	ns := "repair"
	c.newNamespace(t, ns)
	c.startController(t, "repair-controller", "--metrics-bind-address=0", "--health-probe-bind-address=0")

	createNetwork(t, c, ns, "blue", "198.18.9.0/24", "198.18.9.1")
	waitReady(t, c, ns, "blue", 60*time.Second)
	written := c.mustKubectl(t, "get", "-n", ns, "net-attach-def", "blue", "-o", "jsonpath={.spec.config}")
	if !strings.Contains(written, `"subnet": "198.18.9.0/24"`) {
		t.Fatalf("the attachment lacks the Network's subnet:\n%s", written)
	}

	repaired := func(what string) {
		t.Helper()
		eventually(t, 30*time.Second, "the controller puts back the attachment after "+what, func() error {
			config, err := c.kubectl("get", "-n", ns, "net-attach-def", "blue", "-o", "jsonpath={.spec.config}")
			if err != nil {
				return fmt.Errorf("%v: %s", err, config)
			}
			if config != written {
				return fmt.Errorf("spec.config is still:\n%s", config)
			}
			label, err := c.kubectl("get", "-n", ns, "net-attach-def", "blue", "-o", `jsonpath={.metadata.labels.app\.kubernetes\.io/managed-by}`)
			if err != nil || label != "network-controller" {
				return fmt.Errorf("managed-by label %q (%v), want network-controller", label, err)
			}
			return nil
		})
		reason := c.mustKubectl(t, "get", "-n", ns, "network", "blue", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}`)
		if reason != "True/Synced" {
			t.Errorf("after the repair of %s the Network is Ready=%s, want True/Synced", what, reason)
		}
	}

	t.Run("an edited spec.config is put back", func(t *testing.T) {
		c.mustKubectl(t, "patch", "-n", ns, "net-attach-def", "blue", "--type=merge",
			"-p", `{"spec":{"config":"{\"cniVersion\":\"1.0.0\",\"name\":\"hijacked\",\"plugins\":[{\"type\":\"macvlan\",\"master\":\"eth0\"}]}"}}`)
		repaired("an edit of spec.config")
	})
	t.Run("a removed managed-by label is put back, with the spec", func(t *testing.T) {
		// Without the label the attachment leaves the controller's cache:
		// it finds it again when its create fails, and patches it.
		c.mustKubectl(t, "label", "-n", ns, "net-attach-def", "blue", "app.kubernetes.io/managed-by-")
		c.mustKubectl(t, "patch", "-n", ns, "net-attach-def", "blue", "--type=merge", "-p", `{"spec":{"config":"{}"}}`)
		repaired("the label's removal")
	})
}
