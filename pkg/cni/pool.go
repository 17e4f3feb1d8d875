package cni

import (
	"net/netip"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// AddrRange is the addresses First through Last, both included.
type AddrRange struct {
	First, Last netip.Addr
}

// Contains reports whether a is in r.
func (r AddrRange) Contains(a netip.Addr) bool {
	return r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// Pool returns the addresses the Network's IPAM may hand to pods, in
// order: the ones it hands out from the subnet by default, without the
// excluded ranges and the gateway. Empty means every ADD would fail.
//
// The two IPAMs differ at the top of an IPv6 subnet: host-local hands out
// its all-ones address, whereabouts never does (it treats it like an IPv4
// broadcast address). Both keep the network address and the IPv4
// broadcast address back.
func Pool(n Network) []AddrRange {
	usable := hostLocalUsable(n.Subnet)
	if n.mode() == samplecrdv1.NetworkModeMacvlan {
		usable = whereaboutsUsable(n.Subnet)
	}
	if !usable.First.IsValid() {
		return nil
	}
	holes := append([]netip.Prefix{netip.PrefixFrom(n.Gateway, n.Gateway.BitLen())}, n.Exclude...)
	return subtract([]AddrRange{usable}, holes)
}

// hostLocalUsable is what host-local hands out of subnet when its range
// sets no rangeStart and rangeEnd: from the address after the network
// address to the last one, or to the one before the broadcast address for
// IPv4. The zero AddrRange when there is none.
func hostLocalUsable(subnet netip.Prefix) AddrRange {
	if subnet.Bits() > subnet.Addr().BitLen()-2 {
		return AddrRange{}
	}
	last := lastAddr(subnet)
	if subnet.Addr().Is4() {
		last = last.Prev()
	}
	return AddrRange{First: subnet.Masked().Addr().Next(), Last: last}
}

// whereaboutsUsable is what whereabouts hands out of subnet: everything but
// its first and its last address, in both families.
func whereaboutsUsable(subnet netip.Prefix) AddrRange {
	if subnet.Bits() > subnet.Addr().BitLen()-2 {
		return AddrRange{}
	}
	return AddrRange{First: subnet.Masked().Addr().Next(), Last: lastAddr(subnet).Prev()}
}

// lastAddr is the address of p with every host bit set.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// subtract returns rs without the addresses of holes, in order. rs must be
// sorted and disjoint; holes may overlap each other and rs in any way.
func subtract(rs []AddrRange, holes []netip.Prefix) []AddrRange {
	for _, h := range holes {
		hole := AddrRange{First: h.Masked().Addr(), Last: lastAddr(h)}
		var out []AddrRange
		for _, r := range rs {
			if hole.Last.Less(r.First) || r.Last.Less(hole.First) || r.First.Is4() != hole.First.Is4() {
				out = append(out, r)
				continue
			}
			if r.First.Less(hole.First) {
				out = append(out, AddrRange{First: r.First, Last: hole.First.Prev()})
			}
			if hole.Last.Less(r.Last) {
				out = append(out, AddrRange{First: hole.Last.Next(), Last: r.Last})
			}
		}
		rs = out
	}
	return rs
}
