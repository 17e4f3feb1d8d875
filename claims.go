package main

import (
	"fmt"
	"net/netip"

	"k8s.io/client-go/tools/cache"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/netspec"
	"github.com/samplecrd/network-controller/pkg/overlap"
	"github.com/samplecrd/network-controller/pkg/tenancy"
)

// A Network holds its range when its spec.cidr is a valid CIDR, its
// namespace's allowance permits it, it overlaps no reserved range, and no
// older overlapping Network claims it. That one rule decides whether a
// Network may have a live attachment, on every path of the sync: a valid
// spec, an invalid one (whose attachment is kept only if it still serves a
// range the Network holds) and a Network being deleted. Asking it in one
// place is what keeps a path from forgetting a part of it: an InvalidSpec
// Network used to keep its attachment for a range its namespace was no
// longer permitted, while the range went to another namespace.

// MessageReservedRange is the message of a ReservedRange Event and
// condition.
const MessageReservedRange = "spec.cidr %s overlaps %s, which the cluster reserves for itself (the controller's --reserved-cidrs: service, pod or node ranges); choose a CIDR outside it"

// errNamespaceNotCached means the Network's Namespace is not in the cache
// yet; its add event queues the Network again.
var errNamespaceNotCached = fmt.Errorf("namespace not in the cache yet")

// rangeVerdict says whether a Network holds the range its spec.cidr names
// and, when it does not, why.
type rangeVerdict struct {
	// Prefix is the range spec.cidr names; invalid when spec.cidr is not a
	// valid CIDR.
	Prefix netip.Prefix
	// Holds reports whether the Network holds Prefix.
	Holds bool
	// Reason and Message are the Ready condition's reason and message when
	// the Network does not hold it because of the namespace's allowance, a
	// reserved range or an older Network. Both are empty for an invalid
	// CIDR: the spec's own error says why.
	Reason, Message string
}

// holdsRange decides whether network holds its range. It fails with
// errNamespaceNotCached when the answer depends on a Namespace the cache
// does not hold yet.
func (c *Controller) holdsRange(network *samplecrdv1.Network) (rangeVerdict, error) {
	prefix, ok := netspec.ParseCIDR(network.Spec.CIDR)
	if !ok {
		return rangeVerdict{}, nil
	}
	v := rangeVerdict{Prefix: prefix}
	reason, msg, cached := c.claimPermitted(network.Namespace, prefix)
	if !cached {
		return v, errNamespaceNotCached
	}
	if reason != "" {
		v.Reason, v.Message = reason, msg
		return v, nil
	}
	if blocker, found := c.findBlocker(network, prefix); found {
		v.Reason = samplecrdv1.ReasonCIDRConflict
		v.Message = fmt.Sprintf(MessageCIDRConflict, network.Spec.CIDR, blocker.Prefix, blocker.Key, blocker.Key)
		return v, nil
	}
	v.Holds = true
	return v, nil
}

// holdsClaim reports whether a cached Network's claim counts in overlap
// resolution: a Network that is not permitted its range, or that overlaps
// a reserved range, claims nothing, so it never blocks another. A claim
// whose Namespace is not cached yet counts, so that a Network is never made
// Ready on the strength of a cache that has not filled.
func (c *Controller) holdsClaim(claim overlap.Claim) bool {
	key, err := cache.ParseObjectName(claim.Key)
	if err != nil {
		return false
	}
	reason, _, cached := c.claimPermitted(key.Namespace, claim.Prefix)
	return !cached || reason == ""
}

// claimPermitted decides whether a Network in namespace may use subnet:
// the namespace's allowance, then the reserved ranges. It returns the
// condition reason and message when it may not, and cached false when the
// Namespace is not in the cache, which leaves the answer open.
func (c *Controller) claimPermitted(namespace string, subnet netip.Prefix) (reason, msg string, cached bool) {
	ns, err := c.namespacesLister.Get(namespace)
	if err != nil {
		// A lister fails only with NotFound.
		return "", "", false
	}
	if v := tenancy.Check(namespace, ns.Annotations, subnet, c.opts.AllowUnannotatedNamespaces); !v.Permitted {
		return samplecrdv1.ReasonNotPermitted, v.Message, true
	}
	if r, ok := tenancy.Reserved(c.opts.ReservedCIDRs, subnet); ok {
		return samplecrdv1.ReasonReservedRange, fmt.Sprintf(MessageReservedRange, subnet, r), true
	}
	return "", "", true
}
