package usage

import (
	"math"
	"math/big"
	"net/netip"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/samplecrd/network-controller/pkg/cni"
)

// Addresses is the address usage of a Network with cluster-wide addresses
// (Macvlan: whereabouts). Counts too large for an int64 are math.MaxInt64,
// which reads "at least this many" (see the package documentation).
type Addresses struct {
	// Total is how many addresses the Network has for pods: its CIDR less
	// the network, broadcast (last) and gateway addresses and the excluded
	// ranges, as cni.Pool gives them.
	Total int64
	// Allocated is how many distinct addresses of the CIDR whereabouts
	// has allocated.
	Allocated int64
	// Leaked is how many of the allocated addresses are held for a pod
	// that does not exist.
	Leaked int64
	// Free is how many of Total are not allocated.
	Free int64
}

// HighWaterPercent is the share of Total in use at which a Network is
// nearly exhausted.
const HighWaterPercent = 90

// Level is how close a Network is to running out of addresses.
type Level int

const (
	// Available: fewer than HighWaterPercent of the addresses are in use.
	Available Level = iota
	// HighWater: at least HighWaterPercent are in use, some are free.
	HighWater
	// Exhausted: no address is free; the next pod's ADD fails.
	Exhausted
)

// Level returns a's level. A Network with no address for pods is
// exhausted.
func (a Addresses) Level() Level {
	used := a.Total - a.Free
	switch {
	case a.Free <= 0:
		return Exhausted
	case used >= a.Total-spare(a.Total):
		return HighWater
	default:
		return Available
	}
}

// spare is ⌊(100 − HighWaterPercent)% of total⌋, without overflow: total
// less it is the first count of used addresses at the high-water mark.
func spare(total int64) int64 {
	const p = 100 - HighWaterPercent
	return total/100*p + total%100*p/100
}

// Allocation is one address whereabouts holds for a pod's interface.
type Allocation struct {
	Addr netip.Addr
	// PodRef is the pod as whereabouts names it, "namespace/name".
	PodRef string
	// IfName is the pod's interface; ContainerID its sandbox.
	IfName, ContainerID string
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

// Allocations returns the allocations of a whereabouts IPPool, given as an
// unstructured object: spec.range is the CIDR, spec.allocations maps the
// offset of each address from the CIDR's first one (a decimal string) to
// {id, podref, ifname}. Entries whereabouts itself skips (an offset that
// is not a decimal int64) and those outside the range are left out; ok
// is false when the object has no valid spec.range.
func Allocations(pool *unstructured.Unstructured) (allocs []Allocation, ok bool) {
	_, allocs, ok = readPool(pool)
	return allocs, ok
}

// readPool returns the range and allocations of pool; see Allocations.
func readPool(pool *unstructured.Unstructured) (prefix netip.Prefix, allocs []Allocation, ok bool) {
	spec, _ := pool.Object["spec"].(map[string]any)
	rng, _ := spec["range"].(string)
	prefix, err := netip.ParsePrefix(rng)
	if err != nil {
		return netip.Prefix{}, nil, false
	}
	// Offsets count from the address spec.range is written with, as
	// whereabouts counts them; whereabouts writes it masked.
	first := new(big.Int).SetBytes(prefix.Addr().AsSlice())
	prefix = prefix.Masked()
	lo := new(big.Int).SetBytes(prefix.Addr().AsSlice())
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
		a.ContainerID, _ = e["id"].(string)
		allocs = append(allocs, a)
	}
	return prefix, allocs, true
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

// Count returns the address usage of the Macvlan Network n from the
// whereabouts IPPools the caller has (any of them; Count reads those named
// PoolName(n) whose range is n's CIDR, in any namespace). podExists
// reports whether a pod whereabouts names by its podref exists; an
// address whose holders all fail it is leaked.
func Count(n cni.Network, pools []*unstructured.Unstructured, podExists func(podRef string) bool) Addresses {
	total := new(big.Int)
	ranges := cni.Pool(n)
	for _, r := range ranges {
		total.Add(total, rangeSize(r))
	}
	name, subnet := PoolName(n), n.Subnet.Masked()
	leaked := map[netip.Addr]bool{}
	inPool := 0
	for _, p := range pools {
		if p.GetName() != name {
			continue
		}
		r, allocs, ok := readPool(p)
		if !ok || r != subnet {
			continue
		}
		for _, a := range allocs {
			alive := podExists(a.PodRef)
			was, seen := leaked[a.Addr]
			switch {
			case !seen:
				leaked[a.Addr] = !alive
				if inRanges(ranges, a.Addr) {
					inPool++
				}
			case was && alive:
				leaked[a.Addr] = false
			}
		}
	}
	out := Addresses{Total: saturate(total), Allocated: int64(len(leaked))}
	for _, l := range leaked {
		if l {
			out.Leaked++
		}
	}
	out.Free = saturate(total.Sub(total, big.NewInt(int64(inPool))))
	return out
}

// rangeSize is how many addresses r holds.
func rangeSize(r cni.AddrRange) *big.Int {
	last := new(big.Int).SetBytes(r.Last.AsSlice())
	first := new(big.Int).SetBytes(r.First.AsSlice())
	return last.Sub(last, first).Add(last, big.NewInt(1))
}

func inRanges(rs []cni.AddrRange, a netip.Addr) bool {
	for _, r := range rs {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// saturate returns n, or math.MaxInt64 when n does not fit an int64.
func saturate(n *big.Int) int64 {
	if !n.IsInt64() {
		return math.MaxInt64
	}
	return n.Int64()
}
