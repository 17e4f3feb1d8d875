package usage

import (
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"github.com/samplecrd/network-controller/pkg/cni"
)

// IPPoolResource is the resource of whereabouts' IPPools, for a dynamic
// informer: the controller reads them without a whereabouts client.
var IPPoolResource = schema.GroupVersionResource{Group: "whereabouts.cni.cncf.io", Version: "v1alpha1", Resource: "ippools"}

// IPPool is what the controller's cache keeps of a whereabouts IPPool;
// TransformIPPool makes it of the unstructured object a dynamic informer
// reads. Nothing mutates a cached IPPool: DeepCopy one to change it.
type IPPool struct {
	// ObjectMeta holds only the namespace, name, UID and resourceVersion.
	metav1.ObjectMeta
	// Range is spec.range, masked; the zero Prefix if it is not a CIDR.
	Range netip.Prefix
	// Allocations are spec.allocations, in address order.
	Allocations []Allocation
}

// Allocation is one address whereabouts holds for a pod's interface.
type Allocation struct {
	Addr netip.Addr
	// PodRef is the pod as whereabouts names it, "namespace/name".
	PodRef string
	// IfName is the pod's interface.
	IfName string
}

// PoolName is the name of the whereabouts IPPool that holds the
// allocations of the Macvlan Network n: whereabouts names a pool by the
// network_name of the IPAM configuration (cni.NetworkName, which pkg/cni
// renders) and the range, with ':' and '/' turned into '-'. The pool lives
// in whichever namespace whereabouts is configured with on the nodes.
func PoolName(n cni.Network) string {
	r := strings.NewReplacer(":", "-", "/", "-").Replace(n.Subnet.Masked().String())
	return cni.NetworkName(n.Namespace, n.Name) + "-" + r
}

// TransformIPPool is the IPPool informer's transform: it turns an
// unstructured IPPool into an *IPPool and passes anything else (an
// *IPPool already, a tombstone) through. spec.range is the CIDR;
// spec.allocations maps the offset of each address from the address
// spec.range is written with (a decimal string) to {id, podref, ifname}.
// Entries whereabouts itself skips (an offset that is not a decimal
// int64) and those outside the range are left out, and so is the
// container ID (64 bytes an address that nothing here reads).
func TransformIPPool(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	p := &IPPool{ObjectMeta: metav1.ObjectMeta{
		Namespace: u.GetNamespace(), Name: u.GetName(), UID: u.GetUID(), ResourceVersion: u.GetResourceVersion(),
	}}
	spec, _ := u.Object["spec"].(map[string]any)
	rng, _ := spec["range"].(string)
	prefix, err := netip.ParsePrefix(rng)
	if err != nil {
		return p, nil
	}
	p.Range = prefix.Masked()
	first := new(big.Int).SetBytes(prefix.Addr().AsSlice())
	lo := new(big.Int).SetBytes(p.Range.Addr().AsSlice())
	hi := new(big.Int).Add(lo, new(big.Int).Lsh(big.NewInt(1), uint(prefix.Addr().BitLen()-prefix.Bits())))
	entries, _ := spec["allocations"].(map[string]any)
	for offset, v := range entries {
		off, err := strconv.ParseInt(offset, 10, 64)
		if err != nil {
			continue
		}
		n := new(big.Int).Add(first, big.NewInt(off))
		if n.Cmp(lo) < 0 || n.Cmp(hi) >= 0 {
			continue
		}
		e, _ := v.(map[string]any)
		a := Allocation{Addr: addrOf(n, prefix.Addr().Is4())}
		a.PodRef, _ = e["podref"].(string)
		a.IfName, _ = e["ifname"].(string)
		p.Allocations = append(p.Allocations, a)
	}
	slices.SortFunc(p.Allocations, func(a, b Allocation) int { return a.Addr.Compare(b.Addr) })
	p.Allocations = slices.Clip(p.Allocations)
	return p, nil
}

// addrOf is the address whose bits are n, which fits the family.
func addrOf(n *big.Int, is4 bool) netip.Addr {
	if is4 {
		var b [4]byte
		return netip.AddrFrom4([4]byte(n.FillBytes(b[:])))
	}
	var b [16]byte
	return netip.AddrFrom16([16]byte(n.FillBytes(b[:])))
}

// IPPoolFromCache returns the IPPool an informer handed over: the object
// itself or the last state a tombstone carries. ok is false for anything
// else.
func IPPoolFromCache(obj any) (p *IPPool, ok bool) {
	if t, isTombstone := obj.(cache.DeletedFinalStateUnknown); isTombstone {
		obj = t.Obj
	}
	p, ok = obj.(*IPPool)
	return p, ok
}

// GetObjectKind makes IPPool a runtime.Object; it carries no kind.
func (p *IPPool) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject returns a copy of p that shares nothing mutable with it.
func (p *IPPool) DeepCopyObject() runtime.Object { return p.DeepCopy() }

// DeepCopy returns a copy of p that shares nothing mutable with it.
func (p *IPPool) DeepCopy() *IPPool {
	if p == nil {
		return nil
	}
	c := *p
	p.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	c.Allocations = slices.Clone(p.Allocations)
	return &c
}
