package main

import (
	"slices"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/samplecrd/network-controller/pkg/podrefs"
)

// The pod cache holds a *podrefs.Pod per pod (podrefs.Transform), indexed
// by the Networks each pod holds and is attached to (podrefs.Indexers). A
// pod matters to the Networks it refers to or is attached to: it keeps a
// terminating Network from going (in-use protection) and is counted in its
// usage. The handlers below queue those Networks whenever what the cache
// keeps of a pod changes, for both the old and the new state of the pod,
// so that a pod that finished, was deleted or stopped referring to a
// Network queues the Network it released.

// addPod queues the Networks a new pod refers to or is attached to.
func (c *Controller) addPod(obj interface{}) {
	c.enqueueCachedPod(obj)
}

// updatePod queues the Networks of the pod's old and new state when what
// the cache keeps of it changed. Periodic resyncs deliver updates with the
// same resourceVersion, and most pod updates (container statuses, probes,
// conditions) change nothing the transform keeps: both are dropped, so a
// busy cluster's pod churn does not turn into syncs.
func (c *Controller) updatePod(oldObj, newObj interface{}) {
	oldPod, ok1 := podrefs.FromCache(oldObj)
	newPod, ok2 := podrefs.FromCache(newObj)
	if !ok1 || !ok2 {
		utilruntime.HandleError(errUnexpectedObject(newObj))
		return
	}
	if oldPod.ResourceVersion == newPod.ResourceVersion || samePod(oldPod, newPod) {
		return
	}
	c.enqueuePodNetworks(oldPod, newPod)
}

// deletePod queues the Networks a deleted pod held or was attached to:
// its deletion may release them. When the informer missed the deletion it
// hands over a tombstone holding the last known state.
func (c *Controller) deletePod(obj interface{}) {
	c.enqueueCachedPod(obj)
}

// enqueueCachedPod queues the Networks of the pod (or the tombstone of
// one) the informer handed over.
func (c *Controller) enqueueCachedPod(obj interface{}) {
	p, ok := podrefs.FromCache(obj)
	if !ok {
		utilruntime.HandleError(errUnexpectedObject(obj))
		return
	}
	c.enqueuePodNetworks(p)
}

// samePod reports whether two cached states of a pod differ in nothing
// the controller reads: phase, deletion, references, attachments. A field
// the controller comes to read of podrefs.Pod belongs here too.
func samePod(a, b *podrefs.Pod) bool {
	return a.UID == b.UID && a.Phase == b.Phase && a.Problem == b.Problem &&
		a.DeletionTimestamp.Equal(b.DeletionTimestamp) &&
		slices.Equal(a.References(), b.References()) &&
		slices.EqualFunc(a.Attachments, b.Attachments, func(x, y podrefs.Attachment) bool {
			return x.Network == y.Network && x.Interface == y.Interface && slices.Equal(x.IPs, y.IPs)
		})
}

// enqueuePodNetworks queues, once each, the Networks that pods hold or are
// attached to. A pod holds nothing once it finished,
// so the keys it is attached to are queued too: those are the Networks a
// finished pod released. Keys of Networks not in the cache are skipped:
// pods also refer to NetworkAttachmentDefinitions of other origins, which
// are none of this controller's business.
func (c *Controller) enqueuePodNetworks(pods ...*podrefs.Pod) {
	var keys []string
	for _, p := range pods {
		for _, k := range append(p.Held(), p.Attached()...) {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	for _, k := range keys {
		name, err := cache.ParseObjectName(k)
		if err != nil {
			utilruntime.HandleError(err)
			continue
		}
		if _, err := c.networksLister.Networks(name.Namespace).Get(name.Name); err != nil {
			continue
		}
		c.workqueue.Add(name)
	}
}
