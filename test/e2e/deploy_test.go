package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The kustomize base that `make deploy` applies, the namespace it installs
// into and the identity its pods run as.
const (
	deployDir            = "artifacts/deploy"
	deployNamespace      = "network-controller"
	deployServiceAccount = "network-controller"
	deployIdentity       = "system:serviceaccount:" + deployNamespace + ":" + deployServiceAccount
)

// deployObjects are the objects artifacts/deploy is expected to contain, as
// kubectl names them in the output of apply.
var deployObjects = []string{
	"namespace/network-controller",
	"serviceaccount/network-controller",
	"clusterrole.rbac.authorization.k8s.io/network-controller",
	"clusterrolebinding.rbac.authorization.k8s.io/network-controller",
	"role.rbac.authorization.k8s.io/network-controller-leader-election",
	"rolebinding.rbac.authorization.k8s.io/network-controller-leader-election",
	"service/network-controller-metrics",
	"deployment.apps/network-controller",
}

// TestDeployManifestsPassServerDryRun checks the deploy manifests against the
// API server, its schemas and its admission (Pod Security "restricted",
// enforced on the namespace, warns about a Deployment that would violate it)
// without changing anything. The namespace the namespaced objects need
// exists: the cluster installed the controller's identity from the same base.
func TestDeployManifestsPassServerDryRun(t *testing.T) {
	if cluster == nil {
		t.Skip("e2e: needs the local control plane (skipped under -short)")
	}
	c := cluster

	out, err := c.kubectl("apply", "--dry-run=server", "-k", deployDir)
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server -k %s: %v\n%s", deployDir, err, out)
	}
	checkApplyOutput(t, out, "(server dry run)")
}

// TestControllerRunsUnderShippedRBAC installs artifacts/deploy, runs the
// controller binary with a token of the ServiceAccount it creates, with
// leader election as the Deployment runs it, and walks the user's path: the
// ClusterRole and the leader-election Role must be enough. It also checks
// that the identity is refused what it does not need.
func TestControllerRunsUnderShippedRBAC(t *testing.T) {
	if cluster == nil {
		t.Skip("e2e: needs the local control plane (skipped under -short)")
	}
	c := cluster

	out, err := c.kubectl("apply", "-k", deployDir)
	// Only the workload goes: the identity stays for the other tests'
	// controllers (installControllerIdentity).
	t.Cleanup(func() {
		_, _ = c.kubectl("delete", "-n", deployNamespace, "deployment/network-controller", "service/network-controller-metrics", "--ignore-not-found", "--wait=false")
	})
	if err != nil {
		t.Fatalf("kubectl apply -k %s: %v\n%s", deployDir, err, out)
	}
	checkApplyOutput(t, out, "")

	ns := "rbac-path"
	c.newNamespace(t, ns)

	// There are no nodes, so the pods never run, but the ReplicaSet creates
	// them, and Pod Security "restricted" is enforced on their namespace.
	eventually(t, 60*time.Second, "the Deployment's 2 pods are admitted under Pod Security restricted", func() error {
		out, err := c.kubectl("get", "pods", "-n", deployNamespace, "-l", "app.kubernetes.io/name=network-controller", "-o", "name")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if n := len(strings.Fields(out)); n != 2 {
			events, _ := c.kubectl("get", "events", "-n", deployNamespace, "--field-selector", "reason=FailedCreate")
			if strings.Contains(events, "violates PodSecurity") {
				t.Fatalf("the ReplicaSet's pods are refused:\n%s", events)
			}
			return fmt.Errorf("%d pods, want 2; FailedCreate events:\n%s", n, events)
		}
		return nil
	})

	checkPermissions(t, c, ns)

	kubeconfig := tokenKubeconfig(t, c, deployNamespace, deployServiceAccount)
	if out, err := c.kubectlAs(kubeconfig, "", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); err != nil || strings.TrimSpace(out) != deployIdentity {
		t.Fatalf("the token's kubeconfig authenticates as %q (%v), want %s", out, err, deployIdentity)
	}

	c.startController(t, "rbac-controller",
		"--leader-elect",
		"--leader-elect-resource-namespace="+deployNamespace,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
	)
	walkThrough(t, c, c.kubeconfig, ns)

	if out, err := c.kubectl("get", "lease", "-n", deployNamespace, "network-controller", "-o", "jsonpath={.spec.holderIdentity}"); err != nil || strings.TrimSpace(out) == "" {
		t.Errorf("no held Lease network-controller in %s (%v): %s", deployNamespace, err, out)
	}
	// A refusal the walk-through does not notice still fails the test when
	// the controller stops: startController reads its log.
}

// checkApplyOutput checks that kubectl apply's output names every object of
// the deploy base with the given suffix (for a dry run) and carries no Pod
// Security warning.
func checkApplyOutput(t *testing.T, out, suffix string) {
	t.Helper()
	for _, obj := range deployObjects {
		if !strings.Contains(out, obj+" ") || !strings.Contains(grepLines(out, obj+" ", 1), suffix) {
			t.Errorf("kubectl apply did not report %s %s:\n%s", obj, suffix, out)
		}
	}
	if strings.Contains(out, "PodSecurity") {
		t.Errorf("the Deployment would violate Pod Security restricted:\n%s", out)
	}
}

// checkPermissions asks the API server, as the admin, what the deployed
// ServiceAccount may do. It first waits until the granted permissions are
// visible, since the authorizer learns about new bindings asynchronously.
func checkPermissions(t *testing.T, c *localCluster, ns string) {
	t.Helper()
	cases := []struct {
		verb, resource, namespace string // namespace "" means all namespaces
		subresource               string
		want                      bool
	}{
		// What it needs.
		{"update", "networks.samplecrd.k8s.io", ns, "status", true},
		{"create", "network-attachment-definitions.k8s.cni.cncf.io", ns, "", true},
		{"delete", "network-attachment-definitions.k8s.cni.cncf.io", ns, "", true},
		{"create", "leases.coordination.k8s.io", deployNamespace, "", true},
		// In-use protection: it reads pods everywhere and patches its
		// finalizer on Networks.
		{"list", "pods", "", "", true},
		{"watch", "pods", "", "", true},
		{"patch", "networks.samplecrd.k8s.io", ns, "", true},
		// Secrets are the obvious prize of a stolen controller token.
		{"get", "secrets", "", "", false},
		{"list", "secrets", "", "", false},
		{"get", "secrets", deployNamespace, "", false},
		{"list", "secrets", deployNamespace, "", false},
		// No ConfigMap rights are left from the ConfigMap days.
		{"create", "configmaps", ns, "", false},
		{"get", "configmaps", ns, "", false},
		// Users own a Network's spec; the controller writes status, and its
		// finalizer with a patch.
		{"update", "networks.samplecrd.k8s.io", ns, "", false},
		{"create", "deployments.apps", ns, "", false},
		{"create", "pods", ns, "", false},
		{"delete", "pods", ns, "", false},
		{"get", "pods", ns, "", false},
		// Of the CRDs, the Network CRD's metadata alone (resourceNames).
		{"list", "customresourcedefinitions.apiextensions.k8s.io", "", "", false},
		{"delete", "customresourcedefinitions.apiextensions.k8s.io", "", "", false},
		// Leases only in its own namespace.
		{"create", "leases.coordination.k8s.io", ns, "", false},
	}
	canI := func(verb, resource, namespace, subresource string) (bool, error) {
		args := []string{"auth", "can-i", verb, resource, "--as=" + deployIdentity}
		if namespace == "" {
			args = append(args, "--all-namespaces")
		} else {
			args = append(args, "-n", namespace)
		}
		if subresource != "" {
			args = append(args, "--subresource="+subresource)
		}
		out, err := c.kubectl(args...)
		// The answer is the last line; warnings, if any, come before it.
		lines := strings.Split(strings.TrimSpace(out), "\n")
		switch answer := strings.TrimSpace(lines[len(lines)-1]); {
		case answer == "yes" && err == nil:
			return true, nil
		case strings.HasPrefix(answer, "no"):
			return false, nil
		default:
			return false, fmt.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	eventually(t, 30*time.Second, "the shipped bindings take effect", func() error {
		for _, tc := range cases {
			if !tc.want {
				continue
			}
			if ok, err := canI(tc.verb, tc.resource, tc.namespace, tc.subresource); err != nil || !ok {
				return fmt.Errorf("%s cannot %s %s/%s in %q yet (%v)", deployIdentity, tc.verb, tc.resource, tc.subresource, tc.namespace, err)
			}
		}
		return nil
	})
	for _, tc := range cases {
		name := tc.verb + " " + tc.resource
		if tc.subresource != "" {
			name += "/" + tc.subresource
		}
		if tc.namespace == "" {
			name += " in all namespaces"
		} else {
			name += " in " + tc.namespace
		}
		got, err := canI(tc.verb, tc.resource, tc.namespace, tc.subresource)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if got != tc.want {
			t.Errorf("%s can %s: %v, want %v", deployIdentity, name, got, tc.want)
		}
	}
}

// tokenKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount namespace/name with a fresh token: the admin kubeconfig's
// server and CA.
func tokenKubeconfig(t *testing.T, c *localCluster, namespace, name string) string {
	t.Helper()
	field := func(path string) string {
		t.Helper()
		out, err := c.kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "jsonpath={"+path+"}")
		if err != nil || strings.TrimSpace(out) == "" {
			t.Fatalf("reading %s from the admin kubeconfig (%v): %s", path, err, out)
		}
		return strings.TrimSpace(out)
	}
	server := field(".clusters[0].cluster.server")
	ca := field(".clusters[0].cluster.certificate-authority-data")

	token, err := c.kubectl("create", "token", name, "-n", namespace, "--duration=1h")
	if err != nil {
		t.Fatalf("kubectl create token: %v\n%s", err, token)
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %[4]s
  user:
    token: %[3]s
contexts:
- name: %[4]s
  context:
    cluster: local
    user: %[4]s
current-context: %[4]s
`, server, ca, strings.TrimSpace(token), name)
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// grepLines returns up to n lines of s that contain substr.
func grepLines(s, substr string, n int) string {
	var found []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) && len(found) < n {
			found = append(found, line)
		}
	}
	return strings.Join(found, "\n")
}
