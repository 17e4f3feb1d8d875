package usage

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"testing"

	wbk8s "github.com/k8snetworkplumbingwg/whereabouts/pkg/storage/kubernetes"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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

// ippool returns a whereabouts IPPool as the dynamic client reads it.
// allocs are offset, podref, ifname triples.
func ippool(namespace, name, rng string, allocs ...string) *unstructured.Unstructured {
	m := map[string]any{}
	for i := 0; i+2 < len(allocs); i += 3 {
		m[allocs[i]] = map[string]any{"id": "c0ffee" + allocs[i], "podref": allocs[i+1], "ifname": allocs[i+2]}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "whereabouts.cni.cncf.io/v1alpha1", "kind": "IPPool",
		"metadata": map[string]any{"namespace": namespace, "name": name},
		"spec":     map[string]any{"range": rng, "allocations": m},
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

func TestAllocations(t *testing.T) {
	tests := []struct {
		name  string
		pool  *unstructured.Unstructured
		want  []Allocation
		valid bool
	}{
		{"offsets count from the range's first address", ippool("kube-system", "p", "198.18.0.0/24", "5", "pods/a", "net1", "255", "pods/b", "net2"),
			[]Allocation{{netip.MustParseAddr("198.18.0.5"), "pods/a", "net1", "c0ffee5"}, {netip.MustParseAddr("198.18.0.255"), "pods/b", "net2", "c0ffee255"}}, true},
		{"IPv6 offsets too", ippool("kube-system", "p", "fd00:10::/64", "4294967297", "pods/a", "net1"),
			[]Allocation{{netip.MustParseAddr("fd00:10::1:0:1"), "pods/a", "net1", "c0ffee4294967297"}}, true},
		{"offsets whereabouts skips, and those outside the range, are left out", ippool("kube-system", "p", "198.18.0.0/24", "x", "pods/a", "net1", "256", "pods/b", "net1", "-1", "pods/c", "net1", "9223372036854775808", "pods/d", "net1"),
			nil, true},
		{"a pool without allocations has none", ippool("kube-system", "p", "198.18.0.0/24"), nil, true},
		{"a pool without a valid range is not read", ippool("kube-system", "p", "198.18.0.0"), nil, false},
		{"an object without a spec is not read", &unstructured.Unstructured{Object: map[string]any{}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Allocations(tt.pool)
			slices.SortFunc(got, func(a, b Allocation) int { return a.Addr.Compare(b.Addr) })
			if ok != tt.valid || !slices.Equal(got, tt.want) {
				t.Fatalf("Allocations() = %+v, %v; want %+v, %v", got, ok, tt.want, tt.valid)
			}
		})
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
		pools  []*unstructured.Unstructured
		exists func(string) bool
		want   Addresses
	}{
		// 256 less the network address, the gateway and the 16 excluded
		// (which hold the broadcast address).
		{"no pool yet: nothing allocated", blue, nil, alive(), Addresses{Total: 238, Free: 238}},
		{"two pods attached", blue, []*unstructured.Unstructured{ippool("kube-system", name, "198.18.0.0/24", "2", "pods/a", "net1", "3", "pods/b", "net1")},
			alive("pods/a", "pods/b"), Addresses{Total: 238, Allocated: 2, Free: 236}},
		{"an address held for a deleted pod is leaked", blue, []*unstructured.Unstructured{ippool("kube-system", name, "198.18.0.0/24", "2", "pods/a", "net1", "3", "pods/b", "net1")},
			alive("pods/a"), Addresses{Total: 238, Allocated: 2, Leaked: 1, Free: 236}},
		{"pools of other Networks and other ranges are not this one's", blue, []*unstructured.Unstructured{
			ippool("kube-system", "cni0123456789ab-198.18.0.0-24", "198.18.0.0/24", "2", "pods/x", "net1"),
			ippool("kube-system", name, "198.18.0.0/25", "2", "pods/y", "net1"),
			ippool("kube-system", name, "198.18.0.0/24", "4", "pods/a", "net1"),
		}, alive("pods/a"), Addresses{Total: 238, Allocated: 1, Free: 237}},
		{"a pool in another namespace counts, each address once", blue, []*unstructured.Unstructured{
			ippool("kube-system", name, "198.18.0.0/24", "4", "pods/a", "net1", "5", "pods/gone", "net1"),
			ippool("whereabouts", name, "198.18.0.0/24", "4", "pods/gone", "net1", "6", "pods/c", "net1"),
		}, alive("pods/a", "pods/c"), Addresses{Total: 238, Allocated: 3, Leaked: 1, Free: 235}},
		{"an address an existing pod holds is not leaked, whichever pool names it first", blue, []*unstructured.Unstructured{
			ippool("kube-system", name, "198.18.0.0/24", "4", "pods/gone", "net1", "5", "pods/a", "net1"),
			ippool("whereabouts", name, "198.18.0.0/24", "4", "pods/a", "net1", "5", "pods/gone", "net1"),
		}, alive("pods/a"), Addresses{Total: 238, Allocated: 2, Free: 236}},
		{"an address taken outside the addresses for pods is allocated, not taken from them", blue, []*unstructured.Unstructured{
			ippool("kube-system", name, "198.18.0.0/24", "1", "pods/a", "net1", "241", "pods/b", "net1", "7", "pods/c", "net1"),
		}, alive("pods/a", "pods/b", "pods/c"), Addresses{Total: 238, Allocated: 3, Free: 237}},
		{"an IPv6 /64 saturates the total and the free count", macvlan("fd00:10::/64", "fd00:10::1"), []*unstructured.Unstructured{
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
		a := Count(n, []*unstructured.Unstructured{ippool("kube-system", PoolName(n), "198.18.0.0/29", allocs...)}, func(string) bool { return true })
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
