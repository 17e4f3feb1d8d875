// Package e2e tests what a user does, with the real binaries: a local
// control plane started by hack/local-up.sh, the controller binary built
// from this repository, and kubectl. It skips under go test -short.
package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samplecrd/network-controller/pkg/tenancy"
)

// cluster is the local control plane shared by the tests in this package.
var cluster *localCluster

// localCluster is a control plane started by hack/local-up.sh in a
// temporary LOCAL_DIR, on free ports so that it does not collide with a
// `make run-local` the user may have running.
type localCluster struct {
	repo       string
	binDir     string
	localDir   string
	kubeconfig string
	controller string // path of the controller binary built for the tests
	env        []string
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped under -short")
		os.Exit(m.Run())
	}
	c, err := startCluster()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if c != nil {
			c.stop()
		}
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	if err := stopNode(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		code = 1
	}
	if err := c.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		code = 1
	}
	os.Exit(code)
}

// startCluster builds what it needs and starts the control plane. On error
// the returned cluster, if any, must still be stopped.
func startCluster() (*localCluster, error) {
	_, file, _, _ := runtime.Caller(0)
	repo, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	if err != nil {
		return nil, err
	}
	binDir := os.Getenv("KUBEBUILDER_ASSETS")
	if binDir == "" {
		out, err := exec.Command(filepath.Join(repo, "hack/k8s/install.sh")).Output()
		if err != nil {
			return nil, fmt.Errorf("hack/k8s/install.sh: %w", err)
		}
		binDir = strings.TrimSpace(string(out))
	}
	localDir, err := os.MkdirTemp("", "network-controller-e2e-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	c := &localCluster{
		repo:       repo,
		binDir:     binDir,
		localDir:   localDir,
		kubeconfig: filepath.Join(localDir, "kubeconfig"),
		controller: filepath.Join(localDir, "network-controller"),
	}
	c.env = append(os.Environ(),
		"LOCAL_DIR="+localDir,
		"BIN_DIR="+binDir,
		fmt.Sprintf("ETCD_CLIENT_PORT=%d", ports[0]),
		fmt.Sprintf("ETCD_PEER_PORT=%d", ports[1]),
		fmt.Sprintf("APISERVER_PORT=%d", ports[2]),
		fmt.Sprintf("KCM_PORT=%d", ports[3]),
		"KUBECONFIG="+c.kubeconfig,
		"KUBECTL="+filepath.Join(binDir, "kubectl"),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
	)

	build := exec.Command("go", "build", "-o", c.controller, ".")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the controller: %v\n%s", err, out)
	}
	if out, err := c.script("hack/local-up.sh"); err != nil {
		return c, fmt.Errorf("hack/local-up.sh: %v\n%s", err, out)
	}
	if err := c.watchOwner(); err != nil {
		return c, err
	}
	// As make install-crd does: the Network CRD, and the attachment CRD
	// because this cluster, like one without Multus, lacks it.
	if out, err := c.script("hack/install-crds.sh"); err != nil {
		return c, fmt.Errorf("hack/install-crds.sh: %v\n%s", err, out)
	}
	if err := c.installControllerIdentity(); err != nil {
		return c, err
	}
	return c, nil
}

// identityOnly is a kustomization of artifacts/deploy without its workload:
// the Namespace, the ServiceAccount, the roles and their bindings, exactly
// as make deploy installs them. %s is the path of artifacts/deploy relative
// to the kustomization (kustomize refuses absolute ones).
const identityOnly = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- %s
patches:
- patch: |-
    $patch: delete
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: network-controller
- patch: |-
    $patch: delete
    apiVersion: v1
    kind: Service
    metadata:
      name: network-controller-metrics
`

// installControllerIdentity installs the deployment's identity, so that
// every test runs the controller as the shipped ServiceAccount with the
// shipped roles (startController): a permission the code uses and the
// roles lack fails the tests that use it, as it would fail a user.
func (c *localCluster) installControllerIdentity() error {
	dir := filepath.Join(c.localDir, "identity")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base, err := filepath.Rel(dir, filepath.Join(c.repo, deployDir))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(fmt.Sprintf(identityOnly, base)), 0o644); err != nil {
		return err
	}
	if out, err := c.kubectl("apply", "-k", dir); err != nil {
		return fmt.Errorf("installing the controller's identity from %s: %v\n%s", deployDir, err, out)
	}
	// The authorizer learns about new bindings asynchronously; a controller
	// started before would be refused its first requests.
	deadline := time.Now().Add(60 * time.Second)
	for _, args := range [][]string{
		{"watch", "networks.samplecrd.k8s.io", "--all-namespaces"},
		{"update", "leases.coordination.k8s.io", "-n", deployNamespace},
	} {
		for {
			out, err := c.kubectl(append([]string{"auth", "can-i", "--as=" + deployIdentity}, args...)...)
			if err == nil && strings.TrimSpace(out) == "yes" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the shipped roles did not take effect within 60 s: %s may not %v: %v %s", deployIdentity, args, err, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// watchOwner starts a detached watchdog that runs hack/local-down.sh, and
// removes the state directory, once this test process is gone. The control plane runs detached, so without it
// a test binary killed by go test's -timeout, or by a signal, would leave
// etcd and the API server running. The watchdog's command line does not
// name the state directory, so stop's leftover check does not count it.
func (c *localCluster) watchOwner() error {
	cmd := exec.Command("setsid", "bash", "-c",
		`while kill -0 "$OWNER" 2>/dev/null; do sleep 1; done; "$LOCAL_DOWN" >/dev/null 2>&1; rm -rf "$LOCAL_DIR"`)
	cmd.Env = append(c.env, fmt.Sprintf("OWNER=%d", os.Getpid()), "LOCAL_DOWN="+filepath.Join(c.repo, "hack/local-down.sh"))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the teardown watchdog: %w", err)
	}
	return cmd.Process.Release()
}

// stop tears the control plane down and checks that nothing it started
// is left running.
func (c *localCluster) stop() error {
	out, err := c.script("hack/local-down.sh")
	if err != nil {
		return fmt.Errorf("hack/local-down.sh: %v\n%s", err, out)
	}
	if left := processesMentioning(c.localDir); len(left) > 0 {
		return fmt.Errorf("processes left behind after local-down: %v", left)
	}
	return os.RemoveAll(c.localDir)
}

// script runs one of the repository's scripts with the cluster's
// environment.
func (c *localCluster) script(path string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.repo, path), args...)
	cmd.Env = c.env
	cmd.Dir = c.repo
	return cmd.CombinedOutput()
}

// kubectl runs the kubectl built with the control plane, as a user would,
// against the cluster's admin kubeconfig.
func (c *localCluster) kubectl(args ...string) (string, error) {
	return c.kubectlAs(c.kubeconfig, "", args...)
}

// kubectlAs runs kubectl with the given kubeconfig and standard input.
func (c *localCluster) kubectlAs(kubeconfig, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = c.env
	cmd.Dir = c.repo
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// testAllowance is the address ranges the tests' namespaces may use.
const testAllowance = "10.0.0.0/8, 198.18.0.0/15, fd00::/8"

// newNamespace creates a namespace for a test, allowed testAllowance. Cleanup deletes its Networks
// first, since their CIDR claims are cluster-wide and would otherwise last
// while the namespace terminates, then the namespace. The test's
// controller has stopped by then (tests start it after this), so nothing
// releases the in-use protection finalizer of what is left: the cleanup
// removes it as an admin would once the controller is gone (README).
func (c *localCluster) newNamespace(t *testing.T, name string) {
	t.Helper()
	if out, err := c.kubectl("create", "namespace", name); err != nil {
		t.Fatalf("creating namespace %s: %v\n%s", name, err, out)
	}
	if out, err := c.kubectl("annotate", "namespace", name, tenancy.AllowedCIDRsAnnotation+"="+testAllowance); err != nil {
		t.Fatalf("annotating namespace %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		_, _ = c.kubectl("delete", "networks", "--all", "-n", name, "--wait=false")
		left, _ := c.kubectl("get", "networks", "-n", name, "-o", "name")
		for _, n := range strings.Fields(left) {
			_, _ = c.kubectl("patch", "-n", name, n, "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
		}
		_, _ = c.kubectl("delete", "namespace", name, "--wait=false")
	})
}

// controllerProcess is a running controller binary.
type controllerProcess struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

// startController starts the controller binary with the given flags, as
// the deployment's ServiceAccount (installControllerIdentity) with a fresh
// token: never as the admin, whose rights would hide a permission the
// shipped roles lack. Its log goes to a file that failing tests print, and
// the test fails if the API server refused it anything (rbacRefusals).
// Leader election must name --leader-elect-resource-namespace=
// network-controller, the only namespace where the Role grants Leases.
func (c *localCluster) startController(t *testing.T, name string, args ...string) *controllerProcess {
	t.Helper()
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			t.Fatalf("startController: argument %q is not a flag (the controller runs as its ServiceAccount; pass no kubeconfig)", a)
		}
	}
	kubeconfig := tokenKubeconfig(t, c, deployNamespace, deployServiceAccount)
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(c.controller, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Should the test binary die without its cleanups (a -timeout panic),
	// the kernel takes the controller with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &controllerProcess{cmd: cmd, log: logPath, done: make(chan error, 1)}
	started := make(chan error, 1)
	go func() {
		// The kernel sends Pdeathsig when the thread that forked the child
		// exits, not the process, and Go ends threads that locked
		// goroutines leave behind (test/cnisim does, after entering network
		// namespaces). Fork from a locked thread that lives until the
		// controller has exited.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.done <- cmd.Wait()
		logFile.Close()
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.terminate(t)
		b, _ := os.ReadFile(logPath)
		if refused := rbacRefusals(string(b)); refused != "" {
			t.Errorf("%s was refused something under the shipped RBAC (%s):\n%s", name, deployDir, refused)
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, tail(string(b), 60))
		}
	})
	return p
}

// rbacRefusals returns the lines of a controller's log (at most 10) that
// say the API server refused it a request: a 403 Forbidden, whether the
// controller reports it (a refused write, a Warning Event), the informers
// log it (a list or watch) or leader election does. A namespace that is
// being deleted refuses new Events with a 403 too; that is no refusal of
// the controller's.
func rbacRefusals(log string) string {
	var found []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "forbidden") && !strings.Contains(line, "because it is being terminated") && len(found) < 10 {
			found = append(found, line)
		}
	}
	return strings.Join(found, "\n")
}

// terminate sends SIGTERM and waits for a graceful exit; SIGKILL after 30 s.
// It returns the exit error, nil for a clean exit or a process already gone.
func (p *controllerProcess) terminate(t *testing.T) error {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		return fmt.Errorf("did not stop within 30 s of SIGTERM: %v", err)
	}
}

// eventually retries f every 200 ms until it succeeds or timeout passes,
// then fails the test with f's last error.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// processesMentioning lists live processes whose command line contains s.
func processesMentioning(s string) []string {
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join(d, "stat")); err == nil && bytes.Contains(stat, []byte(") Z ")) {
			continue // a zombie holds nothing
		}
		found = append(found, filepath.Base(d)+": "+strings.ReplaceAll(string(b), "\x00", " "))
	}
	return found
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
