package usage

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"testing"

	wbk8s "github.com/k8snetworkplumbingwg/whereabouts/pkg/storage/kubernetes"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/cni"
)

// macvlan returns the Macvlan Network net/blue on cidr with gateway gw.
func macvlan(cidr, gw string, exclude ...string) cni.Network {
	n := cni.Network{
		Namespace: "net", Name: "blue", Mode: samplecrdv1.NetworkModeMacvlan, Uplink: "eth1",
		Subnet: netip.MustParsePrefix(cidr), Gateway: netip.MustParseAddr(gw),
	}
	for _, e := range exclude {
		n.Exclude = append(n.Exclude, netip.MustParsePrefix(e))
	}
	return n
}

// ippool returns a whereabouts IPPool as the cache keeps it. allocs are
// offset, podref, ifname triples.
func ippool(namespace, name, rng string, allocs ...string) *IPPool {
	p, _ := TransformIPPool(ippoolObject(namespace, name, rng, allocs...))
	return p.(*IPPool)
}

// ippoolObject returns a whereabouts IPPool as a dynamic client reads it.
func ippoolObject(namespace, name, rng string, allocs ...string) *unstructured.Unstructured {
	m := map[string]any{}
	for i := 0; i+2 < len(allocs); i += 3 {
		m[allocs[i]] = map[string]any{"id": "c0ffee" + allocs[i], "podref": allocs[i+1], "ifname": allocs[i+2]}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "whereabouts.cni.cncf.io/v1alpha1", "kind": "IPPool",
		"metadata": map[string]any{"namespace": namespace, "name": name, "uid": "u-" + name, "resourceVersion": "7",
			"managedFields": []any{map[string]any{"manager": "whereabouts"}}},
		"spec": map[string]any{"range": rng, "allocations": m},
	}}
}

// whereabouts names the IPPool of a Network's range as its own code does.
func TestPoolNameIsWhereabouts(t *testing.T) {
	for _, n := range []cni.Network{
		macvlan("198.18.0.0/24", "198.18.0.1"),
		macvlan("198.19.128.0/17", "198.19.128.1"),
		macvlan("fd00:10::/64", "fd00:10::1"),
		macvlan("2001:db8:0:ff00::/120", "2001:db8:0:ff00::1"),
		macvlan("fd00::/8", "fd00::1"),
	} {
		// whereabouts reads the range as net.IPNet prints it, which is
		// the canonical text pkg/cni renders.
		want := wbk8s.IPPoolName(wbk8s.PoolIdentifier{IpRange: n.Subnet.String(), NetworkName: cni.NetworkName(n.Namespace, n.Name)})
		if got := PoolName(n); got != want {
			t.Errorf("PoolName(%s) = %q; whereabouts names it %q", n.Subnet, got, want)
		}
	}
}

func TestTransformIPPool(t *testing.T) {
	addr := netip.MustParseAddr
	tests := []struct {
		name      string
		obj       *unstructured.Unstructured
		wantRange string
		want      []Allocation
	}{
		{"offsets count from the range's first address, in address order", ippoolObject("kube-system", "p", "198.18.0.0/24", "255", "pods/b", "net2", "5", "pods/a", "net1"),
			"198.18.0.0/24", []Allocation{{addr("198.18.0.5"), "pods/a", "net1"}, {addr("198.18.0.255"), "pods/b", "net2"}}},
		{"IPv6 offsets too", ippoolObject("kube-system", "p", "fd00:10::/64", "4294967297", "pods/a", "net1"),
			"fd00:10::/64", []Allocation{{addr("fd00:10::1:0:1"), "pods/a", "net1"}}},
		{"offsets count from the address the range is written with, as whereabouts counts", ippoolObject("kube-system", "p", "198.18.0.4/24", "1", "pods/a", "net1"),
			"198.18.0.0/24", []Allocation{{addr("198.18.0.5"), "pods/a", "net1"}}},
		{"offsets whereabouts skips, and those outside the range, are left out", ippoolObject("kube-system", "p", "198.18.0.0/24", "x", "pods/a", "net1", "256", "pods/b", "net1", "-1", "pods/c", "net1", "9223372036854775808", "pods/d", "net1"),
			"198.18.0.0/24", nil},
		{"a pool without allocations has none", ippoolObject("kube-system", "p", "198.18.0.0/24"), "198.18.0.0/24", nil},
		{"a pool without a valid range has no range and no allocations", ippoolObject("kube-system", "p", "198.18.0.0", "1", "pods/a", "net1"), "invalid Prefix", nil},
		{"an object without a spec has neither", &unstructured.Unstructured{Object: map[string]any{}}, "invalid Prefix", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := TransformIPPool(tt.obj)
			p, ok := IPPoolFromCache(obj)
			if err != nil || !ok {
				t.Fatalf("TransformIPPool() = %T, %v", obj, err)
			}
			if p.Range.String() != tt.wantRange || !slices.Equal(p.Allocations, tt.want) {
				t.Fatalf("TransformIPPool() = range %s, %+v; want %s, %+v", p.Range, p.Allocations, tt.wantRange, tt.want)
			}
			if p.Name != tt.obj.GetName() || p.Namespace != tt.obj.GetNamespace() || p.UID != tt.obj.GetUID() ||
				p.ResourceVersion != tt.obj.GetResourceVersion() || p.ManagedFields != nil {
				t.Fatalf("TransformIPPool() kept metadata %+v", p.ObjectMeta)
			}
		})
	}
}

func TestTransformIPPoolPassesOthersThrough(t *testing.T) {
	p := ippool("kube-system", "p", "198.18.0.0/24", "5", "pods/a", "net1")
	if again, err := TransformIPPool(p); err != nil || again != any(p) {
		t.Fatalf("TransformIPPool(*IPPool) = %v, %v; want it unchanged", again, err)
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "kube-system/p", Obj: p}
	if got, ok := IPPoolFromCache(tomb); !ok || got != p {
		t.Fatalf("IPPoolFromCache(tombstone) = %v, %v", got, ok)
	}
	c := p.DeepCopyObject().(*IPPool)
	c.Allocations[0].PodRef = "pods/other"
	if p.Allocations[0].PodRef != "pods/a" {
		t.Fatalf("changing a copy changed the cached IPPool")
	}
}

func TestCount(t *testing.T) {
	blue := macvlan("198.18.0.0/24", "198.18.0.1", "198.18.0.240/28")
	name := PoolName(blue)
	alive := func(refs ...string) func(string) bool {
		return func(r string) bool { return slices.Contains(refs, r) }
	}
	tests := []struct {
		name   string
		n      cni.Network
		pools  []*IPPool
		exists func(string) bool
		want   Addresses
	}{
		// 256 less the network address, the gateway and the 16 excluded
		// (which hold the broadcast address).
		{"no pool yet: nothing allocated", blue, nil, alive(), Addresses{Total: 238, Free: 238}},
		{"two pods attached", blue, []*IPPool{ippool("kube-system", name, "198.18.0.0/24", "2", "pods/a", "net1", "3", "pods/b", "net1")},
			alive("pods/a", "pods/b"), Addresses{Total: 238, Allocated: 2, Free: 236}},
		{"an address held for a deleted pod is leaked", blue, []*IPPool{ippool("kube-system", name, "198.18.0.0/24", "2", "pods/a", "net1", "3", "pods/b", "net1")},
			alive("pods/a"), Addresses{Total: 238, Allocated: 2, Leaked: 1, Free: 236}},
		{"pools of other Networks and other ranges are not this one's", blue, []*IPPool{
			ippool("kube-system", "cni0123456789ab-198.18.0.0-24", "198.18.0.0/24", "2", "pods/x", "net1"),
			ippool("kube-system", name, "198.18.0.0/25", "2", "pods/y", "net1"),
			ippool("kube-system", name, "198.18.0.0/24", "4", "pods/a", "net1"),
		}, alive("pods/a"), Addresses{Total: 238, Allocated: 1, Free: 237}},
		{"a pool in another namespace counts, each address once", blue, []*IPPool{
			ippool("kube-system", name, "198.18.0.0/24", "4", "pods/a", "net1", "5", "pods/gone", "net1"),
			ippool("whereabouts", name, "198.18.0.0/24", "4", "pods/gone", "net1", "6", "pods/c", "net1"),
		}, alive("pods/a", "pods/c"), Addresses{Total: 238, Allocated: 3, Leaked: 1, Free: 235}},
		{"an address an existing pod holds is not leaked, whichever pool names it first", blue, []*IPPool{
			ippool("kube-system", name, "198.18.0.0/24", "4", "pods/gone", "net1", "5", "pods/a", "net1"),
			ippool("whereabouts", name, "198.18.0.0/24", "4", "pods/a", "net1", "5", "pods/gone", "net1"),
		}, alive("pods/a"), Addresses{Total: 238, Allocated: 2, Free: 236}},
		{"an address taken outside the addresses for pods is allocated, not taken from them", blue, []*IPPool{
			ippool("kube-system", name, "198.18.0.0/24", "1", "pods/a", "net1", "241", "pods/b", "net1", "7", "pods/c", "net1"),
		}, alive("pods/a", "pods/b", "pods/c"), Addresses{Total: 238, Allocated: 3, Free: 237}},
		{"an IPv6 /64 saturates the total and the free count", macvlan("fd00:10::/64", "fd00:10::1"), []*IPPool{
			ippool("kube-system", PoolName(macvlan("fd00:10::/64", "fd00:10::1")), "fd00:10::/64", "2", "pods/a", "net1"),
		}, alive("pods/a"), Addresses{Total: math.MaxInt64, Allocated: 1, Free: math.MaxInt64}},
		{"an IPv6 /66 is exact", macvlan("fd00:10::/66", "fd00:10::1"), nil, alive(),
			Addresses{Total: 1<<62 - 3, Free: 1<<62 - 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Count(tt.n, tt.pools, tt.exists); got != tt.want {
				t.Fatalf("Count() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A tiny range filled: available until its last address goes (90 % of 5
// rounds up to all 5), then exhausted.
func TestCountFillsATinyRange(t *testing.T) {
	n := macvlan("198.18.0.0/29", "198.18.0.1") // .2 to .6 for pods
	var allocs []string
	levels := []Level{}
	for off := 2; off <= 6; off++ {
		allocs = append(allocs, strconv.Itoa(off), "pods/p"+strconv.Itoa(off), "net1")
		a := Count(n, []*IPPool{ippool("kube-system", PoolName(n), "198.18.0.0/29", allocs...)}, func(string) bool { return true })
		levels = append(levels, a.Level())
	}
	// 1..4 of 5 are 20..80 %; 5 of 5 leave none.
	if want := []Level{Available, Available, Available, Available, Exhausted}; !slices.Equal(levels, want) {
		t.Fatalf("levels while filling = %v, want %v", levels, want)
	}
}

func TestLevel(t *testing.T) {
	tests := []struct {
		name string
		a    Addresses
		want Level
	}{
		{"nothing used", Addresses{Total: 253, Free: 253}, Available},
		{"just under 90 %", Addresses{Total: 100, Allocated: 89, Free: 11}, Available},
		{"90 % is the high-water mark", Addresses{Total: 100, Allocated: 90, Free: 10}, HighWater},
		{"90 % rounds up: 14 of 15", Addresses{Total: 15, Allocated: 14, Free: 1}, HighWater},
		{"13 of 15 is under 90 %", Addresses{Total: 15, Allocated: 13, Free: 2}, Available},
		{"the last free address", Addresses{Total: 253, Allocated: 252, Free: 1}, HighWater},
		{"none free is exhausted", Addresses{Total: 253, Allocated: 253, Free: 0}, Exhausted},
		{"a Network without addresses for pods is exhausted", Addresses{}, Exhausted},
		{"allocations outside the pool do not make it exhausted", Addresses{Total: 5, Allocated: 7, Free: 5}, Available},
		{"a saturated total is never high", Addresses{Total: math.MaxInt64, Allocated: 1e6, Free: math.MaxInt64}, Available},
		{"a huge exact total does not overflow the rule", Addresses{Total: math.MaxInt64 - 1, Allocated: 1, Free: 9}, HighWater},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Level(); got != tt.want {
				t.Fatalf("%+v.Level() = %v, want %v", tt.a, got, tt.want)
			}
		})
	}
}
