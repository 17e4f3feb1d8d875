package cnisim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// PodNamespace is the Kubernetes namespace the pods claim to be in
// (K8S_POD_NAMESPACE in CNI_ARGS, as the kubelet passes it).
const PodNamespace = "cnisim"

// ClusterNetwork names the stand-in cluster network: every pod's eth0,
// dual-stack, owning both default routes, like a node's primary CNI.
const ClusterNetwork = "cnisim-cluster"

// ClusterSubnets are the cluster network's ranges, test ranges that
// Networks in tests must not use.
var ClusterSubnets = []netip.Prefix{netip.MustParsePrefix("198.19.0.0/24"), netip.MustParsePrefix("fd00:99::/64")}

// clusterConfList configures ptp with host-local for ClusterSubnets and a
// default route in both families.
var clusterConfList = `{
  "cniVersion": "1.0.0",
  "name": "` + ClusterNetwork + `",
  "plugins": [{
    "type": "ptp",
    "ipMasq": false,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": "` + ClusterSubnets[0].String() + `"}], [{"subnet": "` + ClusterSubnets[1].String() + `"}]],
      "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
    }
  }]
}`

// loopbackConfList is what container runtimes run on every sandbox's lo.
const loopbackConfList = `{"cniVersion": "1.0.0", "name": "cni-loopback", "plugins": [{"type": "loopback"}]}`

// Pod is a network namespace set up as a runtime sets up a pod sandbox.
type Pod struct {
	*Namespace
	// PodName is the name given to NewPod (K8S_POD_NAME).
	PodName string
	// ContainerID identifies the sandbox to the plugins (CNI_CONTAINERID).
	ContainerID string
	// Cluster is the stand-in cluster network's attachment on eth0.
	Cluster *Attachment

	node        *Node
	mu          sync.Mutex
	attachments []*Attachment
}

// Attachment is one configuration list ADDed to a pod on one interface.
type Attachment struct {
	Pod *Pod
	// IfName is the pod's interface (CNI_IFNAME).
	IfName string
	// Network is the configuration list's name.
	Network string
	// Result is what the plugins returned for ADD.
	Result *current.Result

	list *libcni.NetworkConfigList
	rt   *libcni.RuntimeConf
}

// Attach ADDs the configuration list conflist (or a single network
// configuration) to the pod on ifName through libcni, with the plugins
// running in the node namespace. The only change to the configuration is
// host-local's dataDir (see WithDataDir). As a runtime does, a failed ADD
// is followed by DEL, so that the plugins release what they took.
func (p *Pod) Attach(ctx context.Context, ifName string, conflist []byte) (*Attachment, error) {
	list, err := p.node.confList(conflist)
	if err != nil {
		return nil, err
	}
	rt := &libcni.RuntimeConf{
		ContainerID: p.ContainerID,
		NetNS:       p.Path,
		IfName:      ifName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", PodNamespace},
			{"K8S_POD_NAME", p.PodName},
			{"K8S_POD_INFRA_CONTAINER_ID", p.ContainerID},
		},
	}
	res, err := p.node.cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		err = fmt.Errorf("ADD %s on %s of pod %s: %w", list.Name, ifName, p.PodName, err)
		if delErr := p.node.cni.DelNetworkList(context.WithoutCancel(ctx), list, rt); delErr != nil {
			err = errors.Join(err, fmt.Errorf("DEL after the failed ADD: %w", delErr))
		}
		return nil, err
	}
	result, err := current.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: reading the result: %w", list.Name, err)
	}
	a := &Attachment{Pod: p, IfName: ifName, Network: list.Name, Result: result, list: list, rt: rt}
	p.mu.Lock()
	p.attachments = append(p.attachments, a)
	p.mu.Unlock()
	return a, nil
}

// Addrs returns the addresses the plugins reported on the pod's interface.
func (a *Attachment) Addrs() []netip.Prefix {
	var out []netip.Prefix
	for _, ipc := range a.Result.IPs {
		if ipc.Interface == nil || *ipc.Interface < 0 || *ipc.Interface >= len(a.Result.Interfaces) {
			continue
		}
		if a.Result.Interfaces[*ipc.Interface].Sandbox == "" {
			continue // an address on the node's side
		}
		ip, ok := netip.AddrFromSlice(ipc.Address.IP)
		if !ok {
			continue
		}
		bits, _ := ipc.Address.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), bits))
	}
	return out
}

// Check runs CHECK for the attachment, as a runtime does periodically.
func (a *Attachment) Check(ctx context.Context) error {
	if err := a.Pod.node.cni.CheckNetworkList(ctx, a.list, a.rt); err != nil {
		return fmt.Errorf("CHECK %s on %s of pod %s: %w", a.Network, a.IfName, a.Pod.PodName, err)
	}
	return nil
}

// Detach runs DEL for the attachment, as a runtime does when the pod goes.
func (a *Attachment) Detach(ctx context.Context) error {
	if err := a.Pod.node.cni.DelNetworkList(ctx, a.list, a.rt); err != nil {
		return fmt.Errorf("DEL %s on %s of pod %s: %w", a.Network, a.IfName, a.Pod.PodName, err)
	}
	p := a.Pod
	p.mu.Lock()
	p.attachments = slices.DeleteFunc(p.attachments, func(b *Attachment) bool { return b == a })
	p.mu.Unlock()
	return nil
}

// Delete tears the pod down as a runtime does: DEL for every attachment,
// the last one first, then the namespace goes.
func (p *Pod) Delete(ctx context.Context) error {
	p.mu.Lock()
	attachments := slices.Clone(p.attachments)
	p.mu.Unlock()
	var errs []error
	for _, a := range slices.Backward(attachments) {
		errs = append(errs, a.Detach(ctx))
	}
	errs = append(errs, p.remove())
	p.node.forget(p)
	return errors.Join(errs...)
}
