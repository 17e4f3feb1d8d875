package main

import (
	"net/netip"

	"k8s.io/client-go/tools/cache"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/netspec"
	"github.com/samplecrd/network-controller/pkg/overlap"
)

// findBlocker returns the oldest Network that overlaps subnet and is older
// than network, looked up in the informer's CIDR index.
func (c *Controller) findBlocker(network *samplecrdv1.Network, subnet netip.Prefix) (overlap.Claim, bool) {
	self := overlap.Claim{
		Key:     cache.MetaObjectToName(network).String(),
		Created: network.CreationTimestamp.Time,
		Prefix:  subnet,
	}
	var holding []overlap.Claim
	for _, claim := range c.overlappingClaims(subnet) {
		if c.holdsClaim(claim) {
			holding = append(holding, claim)
		}
	}
	return overlap.Blocker(self, holding)
}

// overlappingClaims returns the claims of all cached Networks whose CIDR
// overlaps subnet, oldest first. The index lookups return a superset, which
// overlap.Overlapping narrows down.
func (c *Controller) overlappingClaims(subnet netip.Prefix) []overlap.Claim {
	var candidates []overlap.Claim
	for _, indexKey := range overlap.QueryKeys(subnet) {
		objs, err := c.networksIndexer.ByIndex(cidrIndex, indexKey)
		if err != nil {
			// Only an unknown index name fails, and NewController adds it.
			continue
		}
		for _, obj := range objs {
			if claim, ok := claimOf(obj); ok {
				candidates = append(candidates, claim)
			}
		}
	}
	return overlap.Overlapping(subnet, candidates)
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
