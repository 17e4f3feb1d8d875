// Command attach-demo attaches a Network to a simulated pod the way a node
// would, with the real CNI plugins in network namespaces of its own, and
// shows what the pod gets: its interfaces, addresses and routes, CHECK, and
// whether the gateway answers. Then it runs DEL and removes everything,
// also on Ctrl-C.
//
// The configuration is the spec.config of a NetworkAttachmentDefinition
// (k8s.cni.cncf.io/v1), read with the dynamic client, or a file (-f):
//
//	attach-demo --kubeconfig .local/kubeconfig --namespace default --network example-network
//	attach-demo -f conflist.json
//
// It needs root and the plugins: --plugins-dir, default $CNI_PLUGINS_DIR
// (make attach-demo sets it from hack/cni/install.sh).
//
// A Macvlan Network spans nodes, so for one the demo makes two nodes whose
// uplinks (named as the configuration's master) meet on a switch, with a
// pod on each, and shows that they reach each other. whereabouts on the
// nodes keeps its allocations in the cluster of --kubeconfig, in the
// namespace --whereabouts-namespace; that cluster needs whereabouts' CRDs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/samplecrd/network-controller/test/cnisim"
)

// nadResource is Multus's NetworkAttachmentDefinition. The dynamic client
// needs no generated types for it, so this command depends on nothing but
// client-go.
var nadResource = schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}

// options are the command's flags.
type options struct {
	kubeconfig, namespace, network, file, pluginsDir, ifName string
	ipamNamespace                                            string
	hold                                                     bool
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster holding the NetworkAttachmentDefinition")
	flag.StringVar(&o.namespace, "namespace", "default", "namespace of the NetworkAttachmentDefinition")
	flag.StringVar(&o.network, "network", "example-network", "name of the NetworkAttachmentDefinition (the Network's name)")
	flag.StringVar(&o.file, "f", "", "read the CNI configuration list from this file instead of the cluster")
	flag.StringVar(&o.pluginsDir, "plugins-dir", os.Getenv(cnisim.PluginsDirEnv), "directory of the CNI plugins (hack/cni/install.sh prints it)")
	flag.StringVar(&o.ifName, "interface", "net1", "the pod's interface for the Network")
	flag.BoolVar(&o.hold, "hold", false, "keep the pod attached until Ctrl-C, to look around with ip -n")
	flag.StringVar(&o.ipamNamespace, "whereabouts-namespace", "kube-system", "for a Macvlan Network: where whereabouts keeps its IPPools in the --kubeconfig cluster")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "attach-demo:", err)
		os.Exit(1)
	}
}

// run reads the configuration, then attaches, shows and detaches it. The
// first Ctrl-C (or SIGTERM) cancels what runs and leads to the cleanup.
func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conf, source, err := readConfig(ctx, o)
	if err != nil {
		return err
	}
	fmt.Printf("configuration from %s:\n%s\n", source, strings.TrimSpace(string(conf)))

	if o.pluginsDir == "" {
		return errors.New("no CNI plugins: give --plugins-dir or set " + cnisim.PluginsDirEnv + " to the directory hack/cni/install.sh prints")
	}
	if master := macvlanMaster(conf); master != "" {
		return runSpanning(ctx, stop, conf, master, o)
	}
	node, err := cnisim.New(cnisim.Options{PluginsDir: o.pluginsDir, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	err = demo(ctx, node, conf, o)
	// From here on a second Ctrl-C kills the command; the node's watchdog
	// then removes what Close did not get to.
	stop()
	footprint := node.Footprint()
	err = errors.Join(err, node.Close(), footprint.Leftovers())
	if err == nil {
		fmt.Printf("\nremoved the namespaces %s* and %s; nothing is left\n", filepath.Join(footprint.NetnsDir, footprint.Prefix), footprint.Dir)
	}
	return err
}

// readConfig returns the configuration list and says where it came from.
func readConfig(ctx context.Context, o options) ([]byte, string, error) {
	if o.file != "" {
		b, err := os.ReadFile(o.file)
		return b, o.file, err
	}
	source := fmt.Sprintf("NetworkAttachmentDefinition %s/%s", o.namespace, o.network)
	if o.kubeconfig == "" {
		return nil, "", errors.New("no --kubeconfig (nor KUBECONFIG) given, and no -f")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return nil, "", err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	obj, err := client.Resource(nadResource).Namespace(o.namespace).Get(ctx, o.network, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, "", fmt.Errorf("%s: %w (is the controller running, the Network Ready, and the NetworkAttachmentDefinition CRD installed?)", source, err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", source, err)
	}
	config, found, err := unstructured.NestedString(obj.Object, "spec", "config")
	if err != nil || !found || config == "" {
		return nil, "", fmt.Errorf("%s has no spec.config string (%v)", source, err)
	}
	return []byte(config), source, nil
}

// demo sets up one pod, attaches the configuration and shows the result,
// then detaches it.
func demo(ctx context.Context, node *cnisim.Node, conf []byte, o options) error {
	pod, err := node.NewPod(ctx, "demo")
	if err != nil {
		return err
	}
	fmt.Printf("\nnode namespace %s, pod namespace %s (cluster network %s on eth0)\n", node.Name, pod.Name, cnisim.ClusterNetwork)
	att, err := pod.Attach(ctx, o.ifName, conf)
	if err != nil {
		return err
	}
	fmt.Printf("ADD %s on %s: %v\n\n%s\n", att.Network, o.ifName, att.Addrs(), strings.TrimSpace(pod.Describe()))
	report(ctx, node, pod, att)
	if o.hold {
		fmt.Printf("\nattached; look around with  ip -n %s addr  /  ip -n %s route  (Ctrl-C detaches and cleans up)\n", pod.Name, pod.Name)
		<-ctx.Done()
	}
	// DEL runs even after Ctrl-C, as a runtime's would.
	delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := att.Detach(delCtx); err != nil {
		return err
	}
	held, err := node.Allocations(att.Network)
	if err != nil {
		return err
	}
	links, err := pod.Links()
	if err != nil {
		return err
	}
	fmt.Printf("\nDEL %s: host-local holds %d addresses for it; the pod has\n%s", att.Network, len(held), cnisim.FormatLinks(links))
	return nil
}

// report runs CHECK and tries TCP from the pod to each gateway the
// plugins reported, listening on it in the node namespace.
func report(ctx context.Context, node *cnisim.Node, pod *cnisim.Pod, att *cnisim.Attachment) {
	if err := att.Check(ctx); err != nil {
		fmt.Printf("\nCHECK: %v\n", err)
	} else {
		fmt.Printf("\nCHECK: passed\n")
	}
	for _, ipc := range att.Result.IPs {
		gw, ok := netip.AddrFromSlice(ipc.Gateway)
		if !ok {
			continue
		}
		gw = gw.Unmap()
		srv, err := node.ServeTCP(ctx, netip.AddrPortFrom(gw, 0))
		if err != nil {
			fmt.Printf("gateway %s: not usable in the node: %v\n", gw, err)
			continue
		}
		reply, err := pod.DialTCP(ctx, srv.Addr())
		srv.Close()
		if err != nil {
			fmt.Printf("gateway %s: %v\n", gw, err)
			continue
		}
		fmt.Printf("gateway %s: answers TCP from the pod's %s\n", gw, reply.Local.Addr())
	}
}

// macvlanMaster returns the uplink of a configuration whose plugin is
// macvlan, "" for any other.
func macvlanMaster(conf []byte) string {
	var list struct {
		Plugins []struct {
			Type   string `json:"type"`
			Master string `json:"master"`
		} `json:"plugins"`
	}
	if json.Unmarshal(conf, &list) != nil || len(list.Plugins) != 1 || list.Plugins[0].Type != "macvlan" {
		return ""
	}
	return list.Plugins[0].Master
}

// runSpanning is run for a Macvlan Network: two nodes on a switch, their
// uplinks named master, a pod on each; it shows what each pod gets and
// that they reach each other, then detaches and removes everything.
func runSpanning(ctx context.Context, stop func(), conf []byte, master string, o options) error {
	if o.kubeconfig == "" {
		return errors.New("a Macvlan Network's whereabouts needs the cluster: give --kubeconfig")
	}
	sw, err := cnisim.NewSwitch()
	if err != nil {
		return err
	}
	var nodes []*cnisim.Node
	cleanup := func(err error) error {
		stop()
		footprints := []cnisim.Footprint{sw.Footprint()}
		for _, n := range nodes {
			footprints = append(footprints, n.Footprint())
			err = errors.Join(err, n.Close())
		}
		err = errors.Join(err, sw.Close())
		for _, f := range footprints {
			err = errors.Join(err, f.Leftovers())
		}
		if err == nil {
			fmt.Printf("\nremoved the switch's and the nodes' namespaces and directories; nothing is left\n")
		}
		return err
	}
	for range 2 {
		n, err := cnisim.New(cnisim.Options{PluginsDir: o.pluginsDir, Stderr: os.Stderr})
		if err != nil {
			return cleanup(err)
		}
		nodes = append(nodes, n)
		if err := sw.Plug(n, master, 0); err != nil {
			return cleanup(err)
		}
		if err := n.UseWhereabouts(ctx, o.kubeconfig, o.ipamNamespace); err != nil {
			return cleanup(err)
		}
	}
	return cleanup(demoSpanning(ctx, nodes, conf, o))
}

// demoSpanning attaches conf to pod demo-a on the first node and demo-b on
// the second, shows them, tries TCP both ways over the Network, and
// detaches.
func demoSpanning(ctx context.Context, nodes []*cnisim.Node, conf []byte, o options) error {
	type attached struct {
		pod *cnisim.Pod
		att *cnisim.Attachment
	}
	var pods []attached
	defer func() {
		// DEL runs even after Ctrl-C, as a runtime's would; whereabouts
		// frees the addresses in the cluster.
		delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, p := range pods {
			if err := p.att.Detach(delCtx); err != nil {
				fmt.Printf("DEL on %s: %v\n", p.pod.PodName, err)
			} else {
				fmt.Printf("DEL %s on %s: whereabouts freed %v\n", p.att.Network, p.pod.PodName, p.att.Addrs())
			}
		}
	}()
	for i, n := range nodes {
		pod, err := n.NewPod(ctx, fmt.Sprintf("demo-%c", 'a'+i))
		if err != nil {
			return err
		}
		att, err := pod.Attach(ctx, o.ifName, conf)
		if err != nil {
			return fmt.Errorf("%w (does the cluster have whereabouts' CRDs? kubectl create -f \"$(dirname \"$%s\")/whereabouts-crds\")", err, cnisim.PluginsDirEnv)
		}
		pods = append(pods, attached{pod, att})
		fmt.Printf("\nnode %s, pod %s: ADD %s on %s: %v\n%s\n", n.Name, pod.PodName, att.Network, o.ifName, att.Addrs(), strings.TrimSpace(pod.Describe()))
	}
	for i, p := range pods {
		peer := pods[1-i]
		addrs := peer.att.Addrs()
		if len(addrs) == 0 {
			continue
		}
		srv, err := peer.pod.ServeTCP(ctx, netip.AddrPortFrom(addrs[0].Addr(), 0))
		if err != nil {
			return err
		}
		reply, err := p.pod.DialTCP(ctx, srv.Addr())
		srv.Close()
		if err != nil {
			fmt.Printf("%s -> %s: %v\n", p.pod.PodName, srv.Addr(), err)
			continue
		}
		fmt.Printf("%s -> %s, on the other node: answers TCP from %s\n", p.pod.PodName, srv.Addr(), reply.Local.Addr())
	}
	if o.hold {
		fmt.Printf("\nattached; look around with  ip -n %s addr  (Ctrl-C detaches and cleans up)\n", pods[0].pod.Name)
		<-ctx.Done()
	}
	return nil
}
