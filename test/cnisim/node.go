package cnisim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
)

// Plugins are the plugins a Node runs: bridge and host-local for Bridge
// Networks, macvlan and whereabouts for Macvlan Networks, loopback and ptp
// (with host-local) for every pod.
var Plugins = []string{"bridge", "host-local", "loopback", "macvlan", "ptp", "whereabouts"}

// Options configure a Node.
type Options struct {
	// PluginsDir holds the plugin binaries (CNI_PATH), e.g. the directory
	// printed by hack/cni/install.sh.
	PluginsDir string
	// Stderr, if set, receives the plugins' standard error. Errors carry
	// it anyway.
	Stderr io.Writer
}

// Node is a network namespace playing a Kubernetes node, with its pods.
type Node struct {
	*Namespace

	dir       string
	footprint Footprint
	cni       *libcni.CNIConfig
	watchdog  *watchdog

	mu          sync.Mutex
	pods        []*Pod
	closed      bool
	whereabouts string // the flat configuration file, once UseWhereabouts ran
}

// New creates a node: it snapshots the machine's network namespace, starts
// the watchdog, then creates the node namespace with loopback up. Call
// Close when done. Errors from missing privileges wrap ErrNotPermitted.
func New(opts Options) (n *Node, err error) {
	if err := CheckPlugins(opts.PluginsDir); err != nil {
		return nil, err
	}
	host, err := snapshotHost()
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("ncsim-%d-%s-", os.Getpid(), randomHex(3))
	dir, err := os.MkdirTemp("", prefix+"*")
	if err != nil {
		return nil, err
	}
	n = &Node{dir: dir, footprint: Footprint{Prefix: prefix, NetnsDir: NetnsDir, Dir: dir, Host: host}}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
			n = nil
		}
	}()
	// The watchdog starts before the first namespace exists, so that no
	// namespace can outlive this process.
	if n.watchdog, err = startWatchdog(n.footprint); err != nil {
		return n, err
	}
	if n.Namespace, err = createNamespace(prefix + "node"); err != nil {
		return n, err
	}
	if err := n.Do(setLoopbackUp); err != nil {
		return n, fmt.Errorf("bringing up lo in the node: %w", err)
	}
	exec := &nodeExec{node: n.Namespace, stderr: opts.Stderr}
	n.cni = libcni.NewCNIConfigWithCacheDir([]string{opts.PluginsDir}, filepath.Join(dir, "cache"), exec)
	return n, nil
}

// CheckPlugins reports whether dir holds every plugin in Plugins.
func CheckPlugins(dir string) error {
	if dir == "" {
		return errors.New("no CNI plugins directory given")
	}
	for _, p := range Plugins {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			return fmt.Errorf("CNI plugin %s: %w", p, err)
		}
		if fi.Mode()&0o111 == 0 {
			return fmt.Errorf("CNI plugin %s in %s is not executable", p, dir)
		}
	}
	return nil
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setLoopbackUp brings up lo in the current namespace, so that the node can
// talk to itself as a real node does.
func setLoopbackUp() error {
	lo, err := netlinksafe.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(lo)
}

// Footprint describes everything this node may leave behind; see Leftovers.
func (n *Node) Footprint() Footprint { return n.footprint }

// Dir is the node's temporary directory (host-local's data and libcni's
// cache).
func (n *Node) Dir() string { return n.dir }

// ipamDir is host-local's dataDir for every configuration the node runs.
func (n *Node) ipamDir() string { return filepath.Join(n.dir, "ipam") }

// podName is what a Pod name may be: short enough for namespace and
// container names, and valid in both.
var podName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// NewPod creates a pod namespace and does what the runtime does for a new
// sandbox before any secondary network: loopback on lo, then the cluster
// network on eth0. On error the pod is removed again.
func (n *Node) NewPod(ctx context.Context, name string) (*Pod, error) {
	if !podName.MatchString(name) {
		return nil, fmt.Errorf("pod name %q: want lower-case letters, digits and '-', at most 32", name)
	}
	nsx, err := createNamespace(n.footprint.Prefix + "pod-" + name)
	if err != nil {
		return nil, err
	}
	p := &Pod{Namespace: nsx, PodName: name, ContainerID: containerID(n.footprint.Prefix + name), node: n}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, errors.Join(errors.New("node is closed"), nsx.remove())
	}
	n.pods = append(n.pods, p)
	n.mu.Unlock()
	if err := p.Do(disableDAD); err != nil {
		return nil, errors.Join(fmt.Errorf("pod %s: %w", name, err), p.Delete(ctx))
	}
	if _, err := p.Attach(ctx, "lo", []byte(loopbackConfList)); err != nil {
		return nil, errors.Join(err, p.Delete(ctx))
	}
	if p.Cluster, err = p.Attach(ctx, "eth0", []byte(clusterConfList)); err != nil {
		return nil, errors.Join(err, p.Delete(ctx))
	}
	return p, nil
}

// containerIDLen is the length of the sandbox IDs containerd and CRI-O
// give the plugins: 64 hex digits. libcni names its cached results after
// the ID, so a shorter one would hide a network name too long for them.
const containerIDLen = 64

// containerID returns the sandbox ID of the pod whose namespace is named
// name (at most 53 bytes, see podName): name, which keeps it readable in
// the plugins' files, then the hex digits of its hash up to containerIDLen.
func containerID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return name + "-" + hex.EncodeToString(sum[:])[:containerIDLen-len(name)-1]
}

// disableDAD turns IPv6 duplicate address detection off for interfaces
// created later in the current namespace. In a pod that affects only the
// stand-in cluster network's eth0, whose addresses would otherwise keep
// every NewPod waiting about 2 s; the bridge plugin turns DAD off on the
// Network's interface itself. The node keeps DAD, as a real node does.
func disableDAD() error {
	for _, conf := range []string{"all", "default"} {
		key := "/proc/sys/net/ipv6/conf/" + conf + "/accept_dad"
		if err := os.WriteFile(key, []byte("0"), 0o644); err != nil {
			return fmt.Errorf("turning off IPv6 DAD: %w", err)
		}
	}
	return nil
}

// forget drops a deleted pod from the node.
func (n *Node) forget(p *Pod) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pods = slices.DeleteFunc(n.pods, func(q *Pod) bool { return q == p })
}

// Allocations lists the addresses host-local holds for the named network
// (a configuration list's name) on this node.
func (n *Node) Allocations(network string) ([]netip.Addr, error) {
	entries, err := os.ReadDir(filepath.Join(n.ipamDir(), network))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	for _, e := range entries {
		// host-local names each allocation's file after its address; the
		// other files are its lock and the last address it handed out.
		if a, err := netip.ParseAddr(e.Name()); err == nil {
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}

// Close removes the pods' namespaces, then the node's (which takes the
// bridge, the veths and the gateway address with it), then the temporary
// directory, and stops the watchdog (which cleans up only if Close failed).
// It does not run DEL: like a node that is switched off, nothing on it
// survives anyway. Close is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	pods := n.pods
	n.pods = nil
	n.mu.Unlock()

	var errs []error
	for _, p := range pods {
		errs = append(errs, p.remove())
	}
	if n.Namespace != nil {
		errs = append(errs, n.remove())
	}
	errs = append(errs, os.RemoveAll(n.dir))
	err := errors.Join(errs...)
	if n.watchdog != nil {
		// After a failed Close the watchdog removes what it can; the
		// error is returned all the same.
		err = errors.Join(err, n.watchdog.stop(err == nil))
	}
	return err
}
