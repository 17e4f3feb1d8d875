package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samplecrd/network-controller/pkg/tenancy"
)

// TestTenantsCannotTakeWhatIsNotTheirs is the squatting scenario: a tenant
// allowed to create Networks in its own namespace (the built-in edit role,
// a real token) tries to claim every address, and the cluster's other
// tenants must not notice.
func TestTenantsCannotTakeWhatIsNotTheirs(t *testing.T) {
	if cluster == nil {
		t.Skip("e2e: needs the local control plane (skipped under -short)")
	}
	c := cluster
	c.startController(t, "tenancy-controller", "--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--reserved-cidrs=10.96.0.0/12,fd00:96::/64")
	evil, good := "evil", "good"
	c.newNamespace(t, evil)
	c.newNamespace(t, good)
	c.mustKubectl(t, "annotate", "--overwrite", "namespace", evil, tenancy.AllowedCIDRsAnnotation+"=198.18.64.0/20")
	c.mustKubectl(t, "annotate", "--overwrite", "namespace", good, tenancy.AllowedCIDRsAnnotation+"=198.18.0.0/15, 10.96.0.0/16, fd00::/8")
	c.mustKubectl(t, "create", "serviceaccount", "tenant", "-n", evil)
	c.mustKubectl(t, "create", "rolebinding", "tenant-edit", "-n", evil, "--clusterrole=edit", "--serviceaccount="+evil+":tenant")
	tenant := tokenKubeconfig(t, c, evil, "tenant")
	eventually(t, 60*time.Second, "the edit role lets the tenant create Networks (ClusterRole aggregation)", func() error {
		out, err := c.kubectlAs(tenant, "", "auth", "can-i", "create", "networks.samplecrd.k8s.io", "-n", evil)
		if strings.TrimSpace(out) != "yes" {
			return fmt.Errorf("can-i create networks: %q (%v)", out, err)
		}
		return nil
	})

	t.Run("the tenant's 0.0.0.0/0 and ::/0 are refused at admission, readably", func(t *testing.T) {
		for _, n := range []struct{ name, cidr, gateway string }{{"all", "0.0.0.0/0", "0.0.0.1"}, {"all6", "::/0", "::1"}} {
			out, err := c.kubectlAs(tenant, networkManifest(n.name, n.cidr, n.gateway), "create", "-n", evil, "-f", "-")
			if err == nil {
				t.Fatalf("the tenant created %s:\n%s", n.cidr, out)
			}
			for _, want := range []string{"spec.cidr " + n.cidr + " is not inside the ranges namespace evil may use", "198.18.64.0/20", "cluster administrator"} {
				if !strings.Contains(out, want) {
					t.Errorf("refusal of %s lacks %q:\n%s", n.cidr, want, out)
				}
			}
			t.Logf("kubectl create %s as the tenant:\n%s", n.cidr, strings.TrimSpace(out))
		}
	})
	t.Run("the tenant cannot change its namespace's allowance", func(t *testing.T) {
		out, err := c.kubectlAs(tenant, "", "annotate", "--overwrite", "namespace", evil, tenancy.AllowedCIDRsAnnotation+"=0.0.0.0/0")
		if err == nil || !strings.Contains(out, "forbidden") {
			t.Fatalf("the tenant annotated its namespace (%v):\n%s", err, out)
		}
	})

	t.Run("inside its allowance the tenant's Network is Ready, and older ones win as usual", func(t *testing.T) {
		if out, err := c.kubectlAs(tenant, networkManifest("mine", "198.18.64.0/24", "198.18.64.1"), "create", "-n", evil, "-f", "-"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		c.waitForReason(t, evil, "mine", "Synced")
		time.Sleep(1100 * time.Millisecond)
		createNetwork(t, c, good, "later", "198.18.64.0/25", "198.18.64.1")
		c.waitForReason(t, good, "later", "CIDRConflict")
	})
	t.Run("a Network whose allowance is removed turns NotPermitted and stops blocking others", func(t *testing.T) {
		c.mustKubectl(t, "annotate", "namespace", evil, tenancy.AllowedCIDRsAnnotation+"-")
		c.waitForReason(t, evil, "mine", "NotPermitted")
		c.waitForReason(t, good, "later", "Synced")
		if out, _ := c.kubectl("get", "net-attach-def", "-n", evil, "mine", "--ignore-not-found", "-o", "name"); strings.TrimSpace(out) != "" {
			t.Errorf("the NotPermitted Network kept its attachment: %s", out)
		}
	})
	t.Run("a squat that predates the policy is NotPermitted and blocks nobody", func(t *testing.T) {
		binding := "validatingadmissionpolicybinding/networks.samplecrd.k8s.io-allowed-cidrs"
		saved := c.mustKubectl(t, "get", binding, "-o", "yaml")
		c.mustKubectl(t, "delete", binding)
		restored := false
		restore := func() {
			if !restored {
				restored = true
				if out, err := c.kubectlAs(c.kubeconfig, saved, "create", "-f", "-"); err != nil {
					t.Errorf("restoring the policy binding: %v\n%s", err, out)
				}
			}
		}
		t.Cleanup(restore)
		eventually(t, 30*time.Second, "the API server admits the squat without the policy", func() error {
			out, err := c.kubectlAs(c.kubeconfig, networkManifest("squat", "0.0.0.0/0", "0.0.0.1"), "create", "-n", evil, "-f", "-")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
		restore()
		c.waitForReason(t, evil, "squat", "NotPermitted")
		time.Sleep(1100 * time.Millisecond)
		createNetwork(t, c, good, "after-squat", "198.18.100.0/24", "198.18.100.1")
		c.waitForReason(t, good, "after-squat", "Synced")
	})
	t.Run("a Network overlapping a reserved range is reported", func(t *testing.T) {
		createNetwork(t, c, good, "services", "10.96.0.0/24", "10.96.0.1")
		c.waitForReason(t, good, "services", "ReservedRange")
		out := c.mustKubectl(t, "describe", "network", "-n", good, "services")
		if !strings.Contains(squeezeAfterColon(out), "ReservedRange") || !strings.Contains(out, "10.96.0.0/12") {
			t.Errorf("describe does not show the reserved range:\n%s", out)
		}
	})
}

// networkManifest is a Network for kubectl create -f -.
func networkManifest(name, cidr, gateway string) string {
	return fmt.Sprintf("apiVersion: samplecrd.k8s.io/v1\nkind: Network\nmetadata:\n  name: %s\nspec:\n  cidr: %q\n  gateway: %q\n", name, cidr, gateway)
}

// mustKubectl runs kubectl as the admin and fails the test on error.
func (c *localCluster) mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.kubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// waitForReason waits until the Network's Ready condition has reason.
func (c *localCluster) waitForReason(t *testing.T, ns, name, reason string) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("Network %s/%s Ready reason %s", ns, name, reason), func() error {
		out, err := c.kubectl("get", "network", "-n", ns, name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`)
		if err != nil || strings.TrimSpace(out) != reason {
			return fmt.Errorf("reason %q (%v)", out, err)
		}
		return nil
	})
}
