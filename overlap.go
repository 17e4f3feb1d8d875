package main

import (
	"net/netip"

	"k8s.io/client-go/tools/cache"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/netspec"
	"github.com/samplecrd/network-controller/pkg/overlap"
)

// cidrIndex is the Network informer index that pkg/overlap's keys live in;
// overlap lookups use it instead of listing every Network.
const cidrIndex = "cidr"

// findBlocker returns the oldest cached Network that overlaps subnet and is
// older than network: overlap.Blocker over every cached claim, looked up in
// the informer's CIDR index.
//
// It runs on every sync, and when N Networks share a CIDR every one of them
// is a candidate of every other, so it keeps only the best claim found so
// far and builds a claim (which parses the CIDR) only for a candidate that
// is older than that. Most candidates lose on their creation time alone;
// nothing is sorted and no list of claims is built.
func (c *Controller) findBlocker(network *samplecrdv1.Network, subnet netip.Prefix) (overlap.Claim, bool) {
	self := overlap.Claim{
		Key:     cache.MetaObjectToName(network).String(),
		Created: network.CreationTimestamp.Time,
		Prefix:  subnet,
	}
	best, found := self, false
	c.eachCandidate(subnet, func(candidate *samplecrdv1.Network) {
		if !overlap.Precedes(candidate.CreationTimestamp.Time, candidate.Namespace, candidate.Name, best) {
			return
		}
		claim, ok := claimOf(candidate)
		if !ok || claim.Key == self.Key || !claim.Prefix.Overlaps(subnet) || !c.holdsClaim(claim) {
			return
		}
		best, found = claim, true
	})
	if !found {
		return overlap.Claim{}, false
	}
	return best, true
}

// eachCandidate calls f with every cached Network the CIDR index holds
// under the query keys of subnet: a superset of the Networks whose CIDR
// overlaps it, in which a Network may come more than once. Callers filter
// with netip.Prefix.Overlaps. Walking the index results, rather than
// collecting them, lets a caller that wants one answer pay only for what it
// looks at.
func (c *Controller) eachCandidate(subnet netip.Prefix, f func(*samplecrdv1.Network)) {
	for _, indexKey := range overlap.QueryKeys(subnet) {
		objs, err := c.networksIndexer.ByIndex(cidrIndex, indexKey)
		if err != nil {
			// Only an unknown index name fails, and NewController adds it.
			continue
		}
		for _, obj := range objs {
			if network, ok := obj.(*samplecrdv1.Network); ok {
				f(network)
			}
		}
	}
}

// claimOf turns a cached Network into its claim on a subnet. A Network
// claims its CIDR as soon as the CIDR itself is valid, even when its gateway
// is not, so fixing a gateway never takes a subnet from another Network.
func claimOf(obj interface{}) (overlap.Claim, bool) {
	network, ok := obj.(*samplecrdv1.Network)
	if !ok {
		return overlap.Claim{}, false
	}
	prefix, ok := netspec.ParseCIDR(network.Spec.CIDR)
	if !ok {
		return overlap.Claim{}, false
	}
	return overlap.Claim{
		Key:     cache.MetaObjectToName(network).String(),
		Created: network.CreationTimestamp.Time,
		Prefix:  prefix,
	}, true
}

// cidrIndexFunc indexes a Network under pkg/overlap's keys for its CIDR.
func cidrIndexFunc(obj interface{}) ([]string, error) {
	claim, ok := claimOf(obj)
	if !ok {
		return nil, nil
	}
	return overlap.Keys(claim.Prefix), nil
}
