package cnisim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
)

// whereaboutsDir holds whereabouts' files on a node, as
// /etc/cni/net.d/whereabouts.d does on a real one.
const whereaboutsDir = "whereabouts.d"

// whereaboutsConf is the node's whereabouts flat configuration file, or ""
// before UseWhereabouts.
func (n *Node) whereaboutsConf() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.whereabouts
}

// UseWhereabouts sets the node up as a node runs whereabouts: the plugins
// reach the API server of the kubeconfig file, and whereabouts' flat
// configuration file names a kubeconfig for it, whose context's namespace
// is namespace (where whereabouts keeps its IPPools, reservations and
// Lease). Both files are in the node's directory; every configuration the
// node runs is pointed at the flat file (WithWhereaboutsConfig).
//
// The API server must be on a loopback address of the machine, as a local
// control plane is. A plugin in the node's namespace cannot reach the
// machine's loopback, so the node gets a Forwarder listening on the same
// address and port inside its namespace, relaying to the machine's: the
// kubeconfig's server URL and its TLS certificate work unchanged, and the
// machine's network is not touched. The forwarder goes with the node.
func (n *Node) UseWhereabouts(ctx context.Context, kubeconfig, namespace string) error {
	cfg, err := clientcmd.LoadFromFile(kubeconfig) // resolves relative paths
	if err != nil {
		return err
	}
	kctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return fmt.Errorf("kubeconfig %s has no current context", kubeconfig)
	}
	cluster, ok := cfg.Clusters[kctx.Cluster]
	if !ok {
		return fmt.Errorf("kubeconfig %s: no cluster %q", kubeconfig, kctx.Cluster)
	}
	server, err := url.Parse(cluster.Server)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: server %q: %w", kubeconfig, cluster.Server, err)
	}
	ap, err := netip.ParseAddrPort(server.Host)
	if err != nil || !ap.Addr().IsLoopback() {
		return fmt.Errorf("kubeconfig %s: server %q is not an address:port on loopback, which is all a node here can be given", kubeconfig, cluster.Server)
	}
	if _, err := n.Forward(ctx, ap, net.JoinHostPort(ap.Addr().String(), fmt.Sprint(ap.Port()))); err != nil {
		return err
	}

	dir := filepath.Join(n.dir, whereaboutsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	kctx.Namespace = namespace
	kubeconfigPath := filepath.Join(dir, "whereabouts.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kubeconfigPath); err != nil {
		return err
	}
	// Errors only: whereabouts logs every step to standard error by
	// default, which would drown what a test or the demo shows.
	flat, err := json.MarshalIndent(map[string]any{
		"datastore":  "kubernetes",
		"kubernetes": map[string]string{"kubeconfig": kubeconfigPath},
		"log_level":  "error",
	}, "", "  ")
	if err != nil {
		return err
	}
	confPath := filepath.Join(dir, "whereabouts.conf")
	if err := os.WriteFile(confPath, flat, 0o600); err != nil {
		return err
	}
	n.mu.Lock()
	n.whereabouts = confPath
	n.mu.Unlock()
	return nil
}
