package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The TestRealNode tests run pods the way users do: a real node (kubelet,
// containerd, Multus as its CNI) started by hack/node-up.sh against this
// package's control plane, and Pods created with kubectl. They need root,
// network namespaces, containerd and runc: without them they skip, and
// fail under CI=true. make test-node runs them; make test-e2e skips them.

// realNode is the node of hack/node-up.sh, shared by the TestRealNode tests:
// started by the first of them, stopped by TestRealNodeTeardownLeavesNothing
// or, if that did not run, by TestMain.
type realNode struct {
	name       string
	dir        string // NODE_DIR
	netns      string
	pluginsDir string
	env        []string
	before     hostState // the machine before the node started
	stopped    bool
}

// The node's fixed facts, as hack/node-env.sh has them.
const (
	nodeNetns = "network-controller-node-e2e"
	// podCIDR is the cluster network's range: every pod's eth0.
	podCIDR = "198.18.200.0/24"
	// workloadImage is busybox, from hack/images.sh.
	workloadImage = "localhost/workload:network-controller"
)

var (
	nodeOnce sync.Once
	node     *realNode
	nodeErr  error
)

// needNode returns the running node, starting it on first use. A machine
// that cannot run one skips the test, or fails it under CI=true.
func needNode(t *testing.T) *realNode {
	t.Helper()
	if cluster == nil {
		t.Skip("e2e: needs the local control plane (skipped under -short)")
	}
	c := cluster
	if out, err := exec.Command(filepath.Join(c.repo, "hack/node-up.sh"), "--check").CombinedOutput(); err != nil {
		why := strings.TrimSpace(string(out))
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must run the real-node tests, but: %s", why)
		}
		t.Skipf("no real node: %s", why)
	}
	nodeOnce.Do(func() { node, nodeErr = startNode(c) })
	if nodeErr != nil {
		t.Fatal(nodeErr)
	}
	if node.stopped {
		t.Fatal("the node was already torn down (TestRealNodeTeardownLeavesNothing runs last)")
	}
	return node
}

// startNode builds the images and the plugins and starts the node; the
// watchdog of hack/node-up.sh tears it down should this process die.
func startNode(c *localCluster) (*realNode, error) {
	start := time.Now()
	out, err := exec.Command(filepath.Join(c.repo, "hack/cni/install.sh")).Output()
	if err != nil {
		return nil, fmt.Errorf("hack/cni/install.sh: %w", err)
	}
	pluginsDir := strings.TrimSpace(string(out))
	images := filepath.Join(c.localDir, "images")
	if out, err := exec.Command(filepath.Join(c.repo, "hack/images.sh"), images).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("hack/images.sh: %v\n%s", err, out)
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	// Not below the control plane's directory: its watchdog removes that
	// when this process dies, and the node's watchdog needs the node's
	// directory (what to undo) to tear it down.
	dir, err := os.MkdirTemp("", "network-controller-node-")
	if err != nil {
		return nil, err
	}
	n := &realNode{dir: dir, netns: nodeNetns, pluginsDir: pluginsDir}
	n.env = append(slices.Clone(c.env),
		"NODE_DIR="+n.dir,
		"NODE_NETNS="+n.netns,
		"CNI_PLUGINS_DIR="+pluginsDir,
		"IMAGES_DIR="+images,
		fmt.Sprintf("KUBELET_PORT=%d", ports[0]),
		fmt.Sprintf("SCHEDULER_PORT=%d", ports[1]),
		fmt.Sprintf("NODE_OWNER_PID=%d", os.Getpid()),
		"NODE_WATCHDOG_PURGE=1",
	)
	if n.before, err = snapshotHost(n); err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(c.repo, "hack/node-up.sh"))
	cmd.Env = n.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("hack/node-up.sh: %v\n%s", err, stderr.String())
	}
	n.name = strings.TrimSpace(string(out))
	fmt.Printf("e2e: node %s Ready %.1f s after the first node test started (images and plugins built, node up)\n", n.name, time.Since(start).Seconds())
	return n, nil
}

// stop tears the node down with hack/node-down.sh and returns what it left
// on the machine, compared with before it started.
func (n *realNode) stop() error {
	if n.stopped {
		return nil
	}
	n.stopped = true
	cmd := exec.Command(filepath.Join(cluster.repo, "hack/node-down.sh"), "--purge")
	cmd.Env = n.env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	fmt.Printf("e2e: hack/node-down.sh took %.1f s\n", time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("hack/node-down.sh: %v\n%s", err, out)
	}
	after, err := snapshotHost(n)
	if err != nil {
		return err
	}
	if diff := n.before.diff(after); diff != "" {
		return fmt.Errorf("the node left this behind on the machine:\n%s", diff)
	}
	return nil
}

// stopNode is TestMain's: it stops the node if a test started it and
// TestRealNodeTeardownLeavesNothing did not.
func stopNode() error {
	if node == nil {
		return nil
	}
	return node.stop()
}

// hostState is what a node may change on the machine outside its
// directory, as hack/node-env.sh lists it, plus what it runs and mounts.
type hostState struct {
	Processes []string          // the node's binaries running, by PID
	Netns     []string          // the node's network namespace, if it exists
	Links     []string          // the machine's own links
	Mounts    []string          // mount points of kubelet, containerd or the node
	Cgroups   []string          // kubepods and k8s.io cgroups
	Sysctls   map[string]string // those kubelet sets
	Paths     []string          // below hack/node-env.sh's HOST_PATHS
}

// nodeBinaries are programs only a node runs; its containerd, shims, runc
// and relays name its directory in their command lines. (Other tests on
// the machine run containerd of their own.)
var nodeBinaries = []string{"kubelet", "kube-scheduler"}

// nodeEnvList returns the words of the array variable name of
// hack/node-env.sh, where the scripts keep what they change on the machine:
// the check reads the very list the teardown works from.
func nodeEnvList(name string) ([]string, error) {
	out, err := exec.Command("bash", "-c", `source "$1"; eval 'printf "%s\n" "${'"$2"'[@]}"'`, "bash",
		filepath.Join(cluster.repo, "hack/node-env.sh"), name).Output()
	if err != nil {
		return nil, fmt.Errorf("reading %s from hack/node-env.sh: %w", name, err)
	}
	return strings.Fields(string(out)), nil
}

func snapshotHost(n *realNode) (hostState, error) {
	var s hostState
	hostPaths, err := nodeEnvList("HOST_PATHS")
	if err != nil {
		return s, err
	}
	kubeletSysctls, err := nodeEnvList("KUBELET_SYSCTLS")
	if err != nil || len(hostPaths) == 0 || len(kubeletSysctls) == 0 {
		return s, fmt.Errorf("hack/node-env.sh: HOST_PATHS %v, KUBELET_SYSCTLS %v (%v)", hostPaths, kubeletSysctls, err)
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if slices.Contains(nodeBinaries, filepath.Base(argv[0])) || strings.Contains(string(b), n.dir) {
			s.Processes = append(s.Processes, filepath.Base(d)+": "+strings.Join(argv, " "))
		}
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return s, fmt.Errorf("ip netns list: %w", err)
	}
	// Only the node's own: other tests on the machine (test/cnisim) make
	// and remove namespaces of theirs at any time.
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == n.netns {
			s.Netns = append(s.Netns, f[0])
		}
	}
	out, err = exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return s, fmt.Errorf("ip link: %w", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			s.Links = append(s.Links, strings.TrimSuffix(f[1], ":"))
		}
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return s, err
	}
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (strings.Contains(f[4], "kubelet") || strings.Contains(f[4], "containerd") || strings.HasPrefix(f[4], n.dir)) {
			s.Mounts = append(s.Mounts, f[4])
		}
	}
	for _, pat := range []string{"/sys/fs/cgroup/*/kubepods", "/sys/fs/cgroup/*/k8s.io"} {
		m, _ := filepath.Glob(pat)
		s.Cgroups = append(s.Cgroups, m...)
	}
	s.Sysctls = map[string]string{}
	for _, k := range kubeletSysctls {
		if b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(k, ".", "/")); err == nil {
			s.Sysctls[k] = strings.TrimSpace(string(b))
		}
	}
	for _, root := range hostPaths {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			s.Paths = append(s.Paths, p)
			if d.IsDir() && strings.Count(strings.TrimPrefix(p, root), "/") >= 3 {
				return filepath.SkipDir
			}
			return nil
		})
	}
	return s, nil
}

// diff says what after has that s has not, and which sysctls changed;
// "" if nothing.
func (s hostState) diff(after hostState) string {
	var b strings.Builder
	added := func(what string, before, now []string) {
		for _, x := range now {
			if !slices.Contains(before, x) {
				fmt.Fprintf(&b, "  %s: %s\n", what, x)
			}
		}
	}
	added("process", s.Processes, after.Processes)
	added("network namespace", s.Netns, after.Netns)
	added("link", s.Links, after.Links)
	added("mount", s.Mounts, after.Mounts)
	added("cgroup", s.Cgroups, after.Cgroups)
	added("path", s.Paths, after.Paths)
	keys := make([]string, 0, len(s.Sysctls))
	for k := range s.Sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if after.Sysctls[k] != s.Sysctls[k] {
			fmt.Fprintf(&b, "  sysctl %s: %s, was %s\n", k, after.Sysctls[k], s.Sysctls[k])
		}
	}
	return b.String()
}

// podOn is a Pod on the node with the workload image, sleeping, with the
// Networks named in networks (Multus' annotation; none if "").
func podOn(name, networks string) string {
	ann := ""
	if networks != "" {
		ann = fmt.Sprintf("  annotations:\n    k8s.v1.cni.cncf.io/networks: %s\n", networks)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
%sspec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: shell
    image: %s
    imagePullPolicy: Never
    command: ["sleep", "86400"]
`, name, ann, workloadImage)
}

// startPods creates the pods with kubectl and waits until all are Ready,
// logging the time from create to Ready.
func startPods(t *testing.T, c *localCluster, ns, networks string, names ...string) {
	t.Helper()
	var manifest strings.Builder
	for _, name := range names {
		manifest.WriteString("---\n" + podOn(name, networks))
	}
	start := time.Now()
	if out, err := c.kubectlAs(c.kubeconfig, manifest.String(), "create", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("creating pods: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_, _ = c.kubectl(append([]string{"delete", "pods", "-n", ns, "--ignore-not-found", "--wait=true", "--timeout=60s"}, names...)...)
	})
	args := append([]string{"wait", "-n", ns, "--for=condition=Ready", "--timeout=90s"}, prefixAll("pod/", names)...)
	if out, err := c.kubectl(args...); err != nil {
		desc, _ := c.kubectl("describe", "pods", "-n", ns)
		t.Fatalf("pods not Ready: %v\n%s\n%s", err, out, tail(desc, 60))
	}
	t.Logf("%d pods on %s: created to Ready in %.2f s", len(names), networks, time.Since(start).Seconds())
}

func prefixAll(p string, xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = p + x
	}
	return out
}

// podExec runs a command in the pod's container with kubectl exec.
func (c *localCluster) podExec(t *testing.T, ns, pod string, cmd ...string) string {
	t.Helper()
	return c.mustKubectl(t, append([]string{"exec", "-n", ns, pod, "--"}, cmd...)...)
}

// checkAttachment checks one pod on the Network ns/network, as a user
// would look at it: net1 has one IPv4 address in subnet that is not the
// gateway and not excluded; the default route is eth0's, on the cluster
// network; Multus' network-status annotation names the Network's attachment
// with net1 and that address. It returns net1's address.
func checkAttachment(t *testing.T, c *localCluster, ns, pod, network string, subnet netip.Prefix, gateway netip.Addr, exclude []netip.Prefix) netip.Addr {
	t.Helper()
	out := c.podExec(t, ns, pod, "ip", "-4", "-o", "addr", "show", "dev", "net1")
	var addrs []netip.Prefix
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if i := slices.Index(f, "inet"); i >= 0 && i+1 < len(f) {
			p, err := netip.ParsePrefix(f[i+1])
			if err != nil {
				t.Fatalf("%s net1: %v", pod, err)
			}
			addrs = append(addrs, p)
		}
	}
	if len(addrs) != 1 {
		t.Fatalf("%s: net1 has %v, want one IPv4 address:\n%s", pod, addrs, out)
	}
	a := addrs[0]
	if a.Bits() != subnet.Bits() || !subnet.Contains(a.Addr()) {
		t.Errorf("%s: net1 has %s, want an address of %s", pod, a, subnet)
	}
	if a.Addr() == gateway {
		t.Errorf("%s: net1 has the gateway %s", pod, gateway)
	}
	for _, x := range exclude {
		if x.Contains(a.Addr()) {
			t.Errorf("%s: net1 has %s, in the excluded %s", pod, a, x)
		}
	}
	route := c.podExec(t, ns, pod, "ip", "-4", "route", "show", "default")
	if f := strings.Fields(route); !slices.Contains(f, "eth0") || strings.Contains(route, "net1") {
		t.Errorf("%s: default route %q, want it on eth0 (the cluster network)", pod, strings.TrimSpace(route))
	}
	eth0 := c.podExec(t, ns, pod, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
	if !strings.Contains(eth0, "inet "+strings.TrimSuffix(podCIDR, "0/24")) {
		t.Errorf("%s: eth0 %q, want an address of the cluster network %s", pod, strings.TrimSpace(eth0), podCIDR)
	}

	status := c.mustKubectl(t, "get", "pod", "-n", ns, pod, "-o", `jsonpath={.metadata.annotations.k8s\.v1\.cni\.cncf\.io/network-status}`)
	var entries []struct {
		Name      string   `json:"name"`
		Interface string   `json:"interface"`
		IPs       []string `json:"ips"`
	}
	if err := json.Unmarshal([]byte(status), &entries); err != nil {
		t.Fatalf("%s: network-status %q: %v", pod, status, err)
	}
	found := false
	for _, e := range entries {
		if e.Name == ns+"/"+network {
			found = true
			if e.Interface != "net1" || !slices.Contains(e.IPs, a.Addr().String()) {
				t.Errorf("%s: network-status has %s on %s with %v, want net1 with %s", pod, e.Name, e.Interface, e.IPs, a.Addr())
			}
		}
	}
	if !found {
		t.Errorf("%s: network-status does not name the attachment %s/%s:\n%s", pod, ns, network, status)
	}
	return a.Addr()
}

// reach checks that pod reaches addr with ping.
func reach(t *testing.T, c *localCluster, ns, pod string, addr netip.Addr) {
	t.Helper()
	if out, err := c.kubectl("exec", "-n", ns, pod, "--", "ping", "-c", "2", "-W", "2", addr.String()); err != nil {
		t.Errorf("%s cannot ping %s over net1: %v\n%s", pod, addr, err, out)
	}
}

// deletePods deletes the pods with kubectl and waits until they are gone.
func deletePods(t *testing.T, c *localCluster, ns string, names ...string) {
	t.Helper()
	c.mustKubectl(t, append([]string{"delete", "pod", "-n", ns, "--wait=true", "--timeout=60s"}, names...)...)
}

// hostLocalFiles lists the addresses host-local holds for a Bridge
// Network on the node: its files in /var/lib/cni/networks/NS_NAME (the
// attachment's list name; the node's kubelet runs the plugins with the
// machine's default dataDir).
func hostLocalFiles(ns, network string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join("/var/lib/cni/networks", ns+"_"+network))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var held []string
	for _, e := range entries {
		if _, err := netip.ParseAddr(e.Name()); err == nil {
			held = append(held, e.Name())
		}
	}
	return held, err
}
