package usage

import (
	"math"
	"math/big"
	"net/netip"

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

// Count returns the address usage of the Macvlan Network n from the
// whereabouts IPPools the caller has (any of them; Count reads those named
// PoolName(n) whose range is n's CIDR, in any namespace). podExists
// reports whether a pod whereabouts names by its podref exists; an
// address whose holders all fail it is leaked.
func Count(n cni.Network, pools []*IPPool, podExists func(podRef string) bool) Addresses {
	total := new(big.Int)
	ranges := cni.Pool(n)
	for _, r := range ranges {
		total.Add(total, rangeSize(r))
	}
	name, subnet := PoolName(n), n.Subnet.Masked()
	leaked := map[netip.Addr]bool{}
	inPool := 0
	for _, p := range pools {
		if p.Name != name || p.Range != subnet {
			continue
		}
		for _, a := range p.Allocations {
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
