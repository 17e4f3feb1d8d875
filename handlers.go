package main

import (
	"fmt"
	"slices"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/netspec"
	"github.com/samplecrd/network-controller/pkg/overlap"
)

// addNetwork enqueues a new Network and, unless it comes from the
// informer's first list, the younger Networks whose CIDR it overlaps: a new
// Network can only block younger ones, which exist when creation times tie
// or the cache learns late of an older Network (after a relist, say).
//
// For the first list there is nothing more to do: every Network in it gets
// its own add event, and Run starts syncing only once the cache holds the
// whole list, so no sync ever sees the cache without this Network. Looking
// for younger Networks there cost each add a walk of its CIDR's candidates
// and enqueued them all again: quadratic in the Networks sharing a CIDR,
// and it held up every other event until the list was through.
func (c *Controller) addNetwork(obj interface{}, isInInitialList bool) {
	c.enqueueNetwork(obj)
	if !isInInitialList {
		c.enqueueYoungerOverlapping(obj)
	}
}

// updateNetwork enqueues a changed Network. Periodic resyncs deliver updates
// with the same ResourceVersion; nothing changed, so they are dropped, which
// is what keeps a resync free of API writes. So is the controller's own
// status write coming back: the sync that wrote it has seen that state,
// unless a sync was skipped meanwhile waiting for it. A CIDR change can
// settle or start conflicts, so the younger Networks overlapping the old
// or the new CIDR are enqueued too.
func (c *Controller) updateNetwork(oldObj, newObj interface{}) {
	oldNetwork, newNetwork := oldObj.(*samplecrdv1.Network), newObj.(*samplecrdv1.Network)
	if oldNetwork.ResourceVersion == newNetwork.ResourceVersion {
		return
	}
	if key := cache.MetaObjectToName(newNetwork); c.expectations.EchoOfStatus(key, newNetwork.ResourceVersion) {
		// Unless a sync was skipped waiting for it (skipBehind).
		if _, skipped := c.skippedBehind.LoadAndDelete(key); skipped {
			c.enqueueNetwork(newNetwork)
		}
		return
	}
	if onlyProtectionAdded(oldNetwork, newNetwork) {
		// The controller's finalizer patch coming back: the sync that made
		// it went on with the patched Network, and a sync that fails after
		// it is queued again by the worker. Syncing again on the echo cost
		// every new Network a second sync, racing the first one's writes.
		return
	}
	c.enqueueNetwork(newNetwork)
	if oldNetwork.Spec.CIDR != newNetwork.Spec.CIDR {
		c.enqueueYoungerOverlapping(oldNetwork)
		c.enqueueYoungerOverlapping(newNetwork)
	}
}

// deleteNetwork enqueues a deleted Network and the younger Networks it may
// have been blocking, which may now become Ready. When the informer missed
// the deletion it hands over a tombstone holding the last known state.
func (c *Controller) deleteNetwork(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	if _, ok := obj.(*samplecrdv1.Network); !ok {
		utilruntime.HandleError(errUnexpectedObject(obj))
		return
	}
	c.enqueueNetwork(obj)
	c.enqueueYoungerOverlapping(obj)
}

// enqueueNetwork puts a Network's namespace/name key on the queue.
func (c *Controller) enqueueNetwork(obj interface{}) {
	key, err := cache.ObjectToName(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.workqueue.Add(key)
}

// enqueueYoungerOverlapping enqueues the Networks whose verdict may depend
// on obj: those that overlap its CIDR and are younger, since a Network only
// ever loses to older ones. It walks the index results once and parses the
// CIDR only of the younger candidates, which it is about to enqueue anyway.
func (c *Controller) enqueueYoungerOverlapping(obj interface{}) {
	changed, ok := claimOf(obj)
	if !ok {
		return
	}
	network := obj.(*samplecrdv1.Network)
	c.eachCandidate(changed.Prefix, func(other *samplecrdv1.Network) {
		if other.Namespace == network.Namespace && other.Name == network.Name ||
			overlap.Precedes(other.CreationTimestamp.Time, other.Namespace, other.Name, changed) {
			return
		}
		if prefix, ok := netspec.ParseCIDR(other.Spec.CIDR); ok && prefix.Overlaps(changed.Prefix) {
			c.workqueue.Add(cache.MetaObjectToName(other))
		}
	})
}

// updateAttachment handles a changed managed attachment. Periodic resyncs
// send updates with the same ResourceVersion; nothing changed, so there is
// nothing to repair. When the controller reference changed (someone
// orphaned the attachment or gave it another owner), the former controller
// is enqueued too: it no longer controls what its status says it does.
func (c *Controller) updateAttachment(oldObj, newObj interface{}) {
	oldNAD, newNAD := oldObj.(*nadv1.NetworkAttachmentDefinition), newObj.(*nadv1.NetworkAttachmentDefinition)
	if oldNAD.ResourceVersion == newNAD.ResourceVersion {
		return
	}
	oldOwner, newOwner := metav1.GetControllerOf(oldNAD), metav1.GetControllerOf(newNAD)
	if oldOwner != nil && (newOwner == nil || oldOwner.UID != newOwner.UID) {
		c.enqueueController(oldNAD.Namespace, oldOwner)
	}
	c.addAttachment(newNAD)
}

// addAttachment handles an attachment that appeared or changed, unless it
// is the controller's own write coming back: the sync that wrote it has
// seen that state. A managed attachment that no Network controls (an
// orphan, also one found by the informer's first list after a restart)
// queues the key of its own name, whose sync removes it (orphans.go).
func (c *Controller) addAttachment(obj interface{}) {
	nad, ok := obj.(*nadv1.NetworkAttachmentDefinition)
	if ok && c.expectations.EchoOfAttachment(cache.NewObjectName(nad.Namespace, nad.Name), nad.ResourceVersion) {
		return
	}
	c.handleAttachment(obj)
	if ok && c.orphanCandidate(nad) {
		c.workqueue.Add(cache.NewObjectName(nad.Namespace, nad.Name))
	}
}

// deleteAttachment handles a deleted managed attachment: its Network
// re-creates it. When the informer missed the deletion it hands over a
// tombstone holding the last known state.
func (c *Controller) deleteAttachment(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	c.handleAttachment(obj)
}

// handleAttachment enqueues the Network named as the attachment's
// controller, so that a deleted or edited attachment is repaired.
// Attachments controlled by anything else never enqueue anything.
func (c *Controller) handleAttachment(obj interface{}) {
	nad, ok := obj.(*nadv1.NetworkAttachmentDefinition)
	if !ok {
		utilruntime.HandleError(errUnexpectedObject(obj))
		return
	}
	if owner := metav1.GetControllerOf(nad); owner != nil {
		c.enqueueController(nad.Namespace, owner)
	}
}

// enqueueController enqueues the Network an owner reference names, if it
// is a Network. The Network is enqueued by name even when its UID differs
// from the reference's: that attachment is what keeps a recreated Network
// in AttachmentConflict, and its deletion by the garbage collector is the
// event that Network waits for.
func (c *Controller) enqueueController(namespace string, owner *metav1.OwnerReference) {
	if owner.Kind != "Network" || !isSamplecrdGroup(owner.APIVersion) {
		return
	}
	network, err := c.networksLister.Networks(namespace).Get(owner.Name)
	if err != nil {
		// The Network is gone; the garbage collector takes the attachment.
		return
	}
	c.enqueueNetwork(network)
}

// isSamplecrdGroup reports whether an owner reference's apiVersion belongs to
// this controller's API group, whatever the version.
func isSamplecrdGroup(apiVersion string) bool {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return err == nil && gv.Group == samplecrdv1.GroupName
}

// errUnexpectedObject reports an informer delivering an object of a type the
// handler was not registered for, which is a programming error.
func errUnexpectedObject(obj interface{}) error {
	return fmt.Errorf("unexpected object of type %T", obj)
}

// onlyProtectionAdded reports whether the only change from old to new is
// the in-use protection finalizer added (protection.go).
func onlyProtectionAdded(old, new *samplecrdv1.Network) bool {
	if slices.Contains(old.Finalizers, samplecrdv1.FinalizerInUseProtection) ||
		!slices.Contains(new.Finalizers, samplecrdv1.FinalizerInUseProtection) {
		return false
	}
	unchanged := new.DeepCopy()
	unchanged.Finalizers, unchanged.ResourceVersion, unchanged.ManagedFields = old.Finalizers, old.ResourceVersion, old.ManagedFields
	return equality.Semantic.DeepEqual(old, unchanged)
}
