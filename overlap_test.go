package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"k8s.io/klog/v2/ktesting"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/overlap"
)

func TestFindBlocker(t *testing.T) {
	type net = *samplecrdv1.Network
	at := func(ns, name, cidr string, sec int) net {
		return newNetwork(ns, name, cidr, "", time.Duration(sec)*time.Second)
	}
	tests := []struct {
		name   string
		self   net
		others []net
		want   string // the blocker's namespace/name, "" for none
	}{
		{"IPv4: alone means no blocker", at("a", "self", "10.1.0.0/16", 10), nil, ""},
		{"IPv4: an older parent blocks", at("a", "self", "10.1.0.0/16", 10), []net{at("b", "parent", "10.0.0.0/8", 5)}, "b/parent"},
		{"IPv4: an older child blocks", at("a", "self", "10.1.0.0/16", 10), []net{at("b", "child", "10.1.2.0/24", 5)}, "b/child"},
		{"IPv4: an older identical CIDR blocks", at("a", "self", "10.1.0.0/16", 10), []net{at("b", "same", "10.1.0.0/16", 5)}, "b/same"},
		{"IPv4: a younger overlapping Network does not block", at("a", "self", "10.1.0.0/16", 10), []net{at("b", "young", "10.1.0.0/16", 20)}, ""},
		{
			// 10.0.0.128/25 shares the index bucket of 10.0.0.0/25 without
			// overlapping it: a candidate that must be filtered out.
			"IPv4: an older neighbour in the same index bucket does not block",
			at("a", "self", "10.0.0.0/25", 10), []net{at("b", "neighbour", "10.0.0.128/25", 5)}, "",
		},
		{"IPv4: an older Network of the other family does not block", at("a", "self", "10.1.0.0/16", 10), []net{at("b", "v6", "fd00::/8", 5)}, ""},
		{"IPv4: an older Network with an invalid CIDR does not block", at("a", "self", "10.1.0.0/16", 10), []net{at("b", "bad", "10.1.0.1/16", 5)}, ""},
		{
			"IPv4: the oldest of several older overlapping Networks is the blocker",
			at("a", "self", "10.1.0.0/16", 10),
			[]net{at("b", "old", "10.1.0.0/24", 5), at("b", "oldest", "10.0.0.0/8", 1), at("b", "ancient-disjoint", "10.2.0.0/16", 0), at("b", "young", "10.1.0.0/16", 20)},
			"b/oldest",
		},
		{
			"IPv4: on equal creation times the smaller namespace/name blocks",
			at("b", "self", "10.0.0.0/24", 10),
			[]net{at("c", "net", "10.0.0.0/24", 10), at("a-z", "net", "10.0.0.0/24", 10), at("a", "net", "10.0.0.0/24", 10)},
			"a-z/net", // "a-z/net" < "a/net": '-' sorts before '/'
		},
		{
			"IPv4: on equal creation times the larger namespace/name does not block",
			at("a", "self", "10.0.0.0/24", 10), []net{at("b", "net", "10.0.0.0/24", 10)}, "",
		},
		{"IPv6: alone means no blocker", at("a", "self", "fd00:1::/64", 10), nil, ""},
		{"IPv6: an older parent blocks", at("a", "self", "fd00:1::/64", 10), []net{at("b", "parent", "fd00::/16", 5)}, "b/parent"},
		{"IPv6: an older child blocks", at("a", "self", "fd00:1::/64", 10), []net{at("b", "child", "fd00:1::ff00/120", 5)}, "b/child"},
		{"IPv6: an older identical CIDR blocks", at("a", "self", "fd00:1::/64", 10), []net{at("b", "same", "fd00:1::/64", 5)}, "b/same"},
		{"IPv6: a younger overlapping Network does not block", at("a", "self", "fd00:1::/64", 10), []net{at("b", "young", "fd00::/16", 20)}, ""},
		{
			"IPv6: an older neighbour in the same index bucket does not block",
			at("a", "self", "fd00:1::/65", 10), []net{at("b", "neighbour", "fd00:1:0:0:8000::/65", 5)}, "",
		},
		{"IPv6: an older Network of the other family does not block", at("a", "self", "::/0", 10), []net{at("b", "v4", "0.0.0.0/0", 5)}, ""},
		{
			"IPv6: the oldest of several older overlapping Networks is the blocker",
			at("a", "self", "fd00:1::/64", 10),
			[]net{at("b", "old", "fd00:1::/96", 5), at("b", "oldest", "fd00::/8", 1), at("b", "ancient-disjoint", "fd00:2::/64", 0)},
			"b/oldest",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range append([]net{tt.self}, tt.others...) {
				if _, ok := claimOf(n); !ok && n.Name != "bad" {
					t.Fatalf("test case broken: %s/%s has an invalid CIDR %q", n.Namespace, n.Name, n.Spec.CIDR)
				}
			}
			_, ctx := ktesting.NewTestContext(t)
			c, _, _ := indexedController(t, ctx, append([]net{tt.self}, tt.others...))
			var want overlap.Claim
			for _, other := range tt.others {
				if claim, ok := claimOf(other); ok && claim.Key == tt.want {
					want = claim
				}
			}
			got, found := c.findBlocker(tt.self, netip.MustParsePrefix(tt.self.Spec.CIDR))
			if found != (tt.want != "") || got != want {
				t.Fatalf("findBlocker() = %+v, %v, want %+v", got, found, want)
			}
		})
	}
}

// randomNetworks returns n Networks of both families whose CIDRs nest and
// overlap often, with creation times that often tie and names whose
// namespace/name order differs from their namespace-then-name order; a
// few have invalid CIDRs, which claim nothing.
func randomNetworks(r *rand.Rand, n int) []*samplecrdv1.Network {
	bases := []netip.Addr{netip.MustParseAddr("10.20.30.0"), netip.MustParseAddr("fd00:20:30::")}
	namespaces := []string{"a", "a-b", "ab", "b"}
	networks := make([]*samplecrdv1.Network, n)
	for i := range networks {
		base := bases[r.IntN(len(bases))]
		// Lengths from 8 to 2 bits short of the address, so that the
		// CIDR is valid, and every address bit below 8 randomised.
		bits := 8 + r.IntN(base.BitLen()-9)
		b := base.AsSlice()
		for bit := 8 + r.IntN(base.BitLen()-8); bit < base.BitLen(); bit++ {
			if r.IntN(2) == 1 {
				b[bit/8] ^= 0x80 >> (bit % 8)
			}
		}
		addr, _ := netip.AddrFromSlice(b)
		cidr := netip.PrefixFrom(addr, bits).Masked().String()
		if r.IntN(20) == 0 {
			cidr = netip.PrefixFrom(addr.Next(), bits).String() // host bits set: invalid
		}
		networks[i] = newNetwork(namespaces[r.IntN(len(namespaces))], fmt.Sprintf("net-%d", i), cidr, "", time.Duration(r.IntN(n/10+1))*time.Second)
	}
	return networks
}

func TestFindBlockerAgreesWithBlocker(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 13))
	_, ctx := ktesting.NewTestContext(t)
	networks := randomNetworks(r, 600)
	c, _, _ := indexedController(t, ctx, networks)
	var all []overlap.Claim
	for _, n := range networks {
		if claim, ok := claimOf(n); ok {
			all = append(all, claim)
		}
	}
	blocked := 0
	for _, n := range networks {
		self, ok := claimOf(n)
		if !ok {
			continue
		}
		want, wantFound := overlap.Blocker(self, all)
		got, found := c.findBlocker(n, self.Prefix)
		if got != want || found != wantFound {
			t.Fatalf("findBlocker(%s %s) = %q %v, overlap.Blocker over the whole cache says %q %v", self.Key, self.Prefix, got.Key, found, want.Key, wantFound)
		}
		if found {
			blocked++
		}
	}
	// Guard the test itself: the data must hold winners and losers.
	if blocked == 0 || blocked == len(all) {
		t.Fatalf("random data too tame: %d of %d Networks blocked", blocked, len(all))
	}
	t.Logf("%d of %d Networks blocked", blocked, len(all))
}

// TestFindBlockerBuildsNoClaimPerCandidate states the cost of a sync's
// blocker search where it hurts, N Networks sharing one CIDR: it reads
// every candidate once but allocates only for its index keys and for the
// few candidates that beat the best so far, not for each of the N.
// (Building a claim for each, to sort them, allocated several times per
// candidate.)
func TestFindBlockerBuildsNoClaimPerCandidate(t *testing.T) {
	const n = 4000
	for _, family := range []struct{ name, cidr string }{{"IPv4", "10.0.0.0/24"}, {"IPv6", "fd00:10::/64"}} {
		t.Run(family.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			networks := sharedCIDRNetworks(n, family.cidr, "")
			c, _, indexer := indexedController(t, ctx, networks)
			subnet := netip.MustParsePrefix(family.cidr)
			youngest := networks[youngestOf(networks)]
			indexer.examined.Store(0)
			allocs := testing.AllocsPerRun(20, func() { c.findBlocker(youngest, subnet) })
			if examined := indexer.examined.Load() / 21; examined != n {
				t.Fatalf("a sync examined %d candidates, want all %d", examined, n)
			}
			if allocs > n/10 {
				t.Fatalf("a sync allocates %v times among %d candidates: it builds something per candidate", allocs, n)
			}
			t.Logf("%v allocations per sync among %d candidates", allocs, n)
		})
	}
}

// youngestOf returns the index of the youngest of networks by the winner
// rule: the one with the most older Networks to look through.
func youngestOf(networks []*samplecrdv1.Network) int {
	youngest := 0
	for i, n := range networks {
		if overlap.Older(claim(networks[youngest]), claim(n)) {
			youngest = i
		}
	}
	return youngest
}
