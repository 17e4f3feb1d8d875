package main

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/overlap"
	"github.com/samplecrd/network-controller/pkg/tenancy"
)

// MessageReservedRange is the message of a ReservedRange Event and
// condition.
const MessageReservedRange = "spec.cidr %s overlaps %s, which the cluster reserves for itself (the controller's --reserved-cidrs: service, pod or node ranges); choose a CIDR outside it"

// errNamespaceNotCached means the Network's Namespace is not in the cache
// yet; its add event queues the Network again.
var errNamespaceNotCached = fmt.Errorf("namespace not in the cache yet")

// permission decides whether network may use subnet: its namespace's
// allowance, then the reserved ranges. It returns the condition reason and
// message when it may not.
func (c *Controller) permission(network *samplecrdv1.Network, subnet netip.Prefix) (reason, msg string, err error) {
	ns, err := c.namespacesLister.Get(network.Namespace)
	if apierrors.IsNotFound(err) {
		return "", "", errNamespaceNotCached
	}
	if err != nil {
		return "", "", err
	}
	if v := tenancy.Check(network.Namespace, ns.Annotations, subnet, c.opts.AllowUnannotatedNamespaces); !v.Permitted {
		return samplecrdv1.ReasonNotPermitted, v.Message, nil
	}
	if r, ok := tenancy.Reserved(c.opts.ReservedCIDRs, subnet); ok {
		return samplecrdv1.ReasonReservedRange, fmt.Sprintf(MessageReservedRange, subnet, r), nil
	}
	return "", "", nil
}

// holdsClaim reports whether a cached Network's claim counts in overlap
// resolution: a Network that is not permitted its range, or that overlaps
// a reserved range, claims nothing, so it never blocks another.
func (c *Controller) holdsClaim(claim overlap.Claim) bool {
	key, err := cache.ParseObjectName(claim.Key)
	if err != nil {
		return false
	}
	ns, err := c.namespacesLister.Get(key.Namespace)
	if err != nil {
		// Not cached yet: count the claim, so a Network is never made
		// Ready on the strength of a cache that has not filled.
		return true
	}
	if !tenancy.Check(key.Namespace, ns.Annotations, claim.Prefix, c.opts.AllowUnannotatedNamespaces).Permitted {
		return false
	}
	_, reserved := tenancy.Reserved(c.opts.ReservedCIDRs, claim.Prefix)
	return !reserved
}

// addNamespace queues the Networks of a namespace that appears in the
// cache: they may have been synced before it did.
func (c *Controller) addNamespace(obj interface{}) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		utilruntime.HandleError(errUnexpectedObject(obj))
		return
	}
	c.enqueueNamespace(ns.Name, false)
}

// updateNamespace re-evaluates a namespace's Networks when its allowance
// changed, and the Networks they overlap, whose verdict depends on whether
// these still claim their ranges.
func (c *Controller) updateNamespace(oldObj, newObj interface{}) {
	oldNS, ok1 := oldObj.(*corev1.Namespace)
	newNS, ok2 := newObj.(*corev1.Namespace)
	if !ok1 || !ok2 {
		utilruntime.HandleError(errUnexpectedObject(newObj))
		return
	}
	if oldNS.Annotations[tenancy.AllowedCIDRsAnnotation] == newNS.Annotations[tenancy.AllowedCIDRsAnnotation] &&
		hasAllowance(oldNS) == hasAllowance(newNS) {
		return
	}
	c.enqueueNamespace(newNS.Name, true)
}

// hasAllowance reports whether a Namespace carries the annotation at all.
func hasAllowance(ns *corev1.Namespace) bool {
	_, ok := ns.Annotations[tenancy.AllowedCIDRsAnnotation]
	return ok
}

// enqueueNamespace queues every cached Network of a namespace and, with
// overlapping, the younger Networks that overlap one of them: only those can
// have lost to a Network whose claim now comes or goes.
func (c *Controller) enqueueNamespace(namespace string, overlapping bool) {
	networks, err := c.networksLister.Networks(namespace).List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, n := range networks {
		c.enqueueNetwork(n)
		if overlapping {
			c.enqueueYoungerOverlapping(n)
		}
	}
}

// namespaceTransform keeps of a cached Namespace only its name and this
// controller's annotation: a cluster's namespaces carry labels, managed
// fields and other annotations the controller never reads.
func namespaceTransform(obj interface{}) (interface{}, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:            ns.Name,
		UID:             ns.UID,
		ResourceVersion: ns.ResourceVersion,
	}}
	if v, ok := ns.Annotations[tenancy.AllowedCIDRsAnnotation]; ok {
		slim.Annotations = map[string]string{tenancy.AllowedCIDRsAnnotation: v}
	}
	return slim, nil
}
