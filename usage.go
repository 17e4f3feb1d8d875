package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/metrics"
	"github.com/samplecrd/network-controller/pkg/netspec"
	"github.com/samplecrd/network-controller/pkg/podrefs"
	"github.com/samplecrd/network-controller/pkg/usage"
)

// A Network's usage (issue 22) is what its status says of the pods on it
// and, for a Macvlan Network, of its addresses: status.attachedPods,
// status.addresses and the AddressesExhausted condition (pkg/usage has
// the design). The figures come from the controller's caches only: the
// pods attached to the Network, from the pod cache's index of what Multus
// reports on each pod (network-status), and whereabouts' IPPool for the
// Network, from the IPPool cache (ippools.go).
//
// They change with every pod that starts or goes, so they are written
// apart from the rest of the status: a sync whose Ready condition or
// attachment changed writes them with it, in the same write; otherwise
// reportUsage writes them alone, only when one changed, and at most once
// per Options.UsageWriteInterval per Network (usage.Throttle): a change
// inside the window is written when it closes, with the figures of that
// moment, so a burst of pod starts costs one write per window however
// many pods it has.

// reportUsage writes the Network's usage figures when they changed and
// its window allows; when it does not, it queues the Network again for
// when it does. A sync that has just written the status wrote the figures
// with it: nothing to do. Nor for a Network being deleted: the sync may
// have just released it (its last finalizer), and a status write would
// find it gone; the pods it waits for are in its Deleting condition.
func (c *Controller) reportUsage(ctx context.Context, network *samplecrdv1.Network) error {
	key := cache.MetaObjectToName(network)
	if _, wrote := c.statusWritten.Load(key); wrote || network.DeletionTimestamp != nil {
		return nil
	}
	updated := network.DeepCopy()
	c.setUsage(&updated.Status, network)
	write, after := c.usageThrottle.Decide(key.String(), !equality.Semantic.DeepEqual(updated.Status, network.Status))
	if !write {
		if after > 0 {
			klog.FromContext(ctx).V(4).Info("Usage changed; writing it when its window closes", "after", after)
			c.workqueue.AddAfter(key, after)
		}
		return nil
	}
	if err := c.commitStatus(ctx, network, updated); err != nil {
		return fmt.Errorf("updating the usage in the status of Network %s: %w", klog.KObj(network), err)
	}
	klog.FromContext(ctx).V(2).Info("Updated usage", "attachedPods", ptr.Deref(updated.Status.AttachedPods, 0))
	return nil
}

// setUsage sets on status, a copy of network's, the usage figures the
// caches give: attachedPods, and for a Macvlan Network with a valid spec
// the addresses and AddressesExhausted once the IPPool cache has synced
// (until then they stay as they are). A Network of another mode has
// neither.
func (c *Controller) setUsage(status *samplecrdv1.NetworkStatus, network *samplecrdv1.Network) {
	key := cache.MetaObjectToName(network).String()
	if attached, err := c.podsIndexer.IndexKeys(podrefs.IndexAttached, key); err == nil {
		status.AttachedPods = ptr.To(int32(len(attached)))
	}
	if network.Spec.Mode != samplecrdv1.NetworkModeMacvlan {
		status.Addresses = nil
		meta.RemoveStatusCondition(&status.Conditions, samplecrdv1.ConditionAddressesExhausted)
		return
	}
	spec, err := netspec.ParseSpec(network.Spec)
	if err != nil || !c.ipPools.ready() {
		return
	}
	n := spec.Named(network.Namespace, network.Name)
	var pools []*usage.IPPool
	if p := c.ipPools.pool(usage.PoolName(n)); p != nil {
		pools = append(pools, p)
	}
	a := usage.Count(n, pools, c.podExists)
	status.Addresses = &samplecrdv1.NetworkAddresses{Total: a.Total, Allocated: a.Allocated, Leaked: a.Leaked}
	cond := exhaustionCondition(a)
	cond.ObservedGeneration = network.Generation
	// SetStatusCondition keeps the old transition time when the status
	// (True/False) did not change, so an unchanged condition compares equal.
	cond.LastTransitionTime = metav1.NewTime(c.opts.Clock.Now())
	meta.SetStatusCondition(&status.Conditions, cond)
}

// exhaustionCondition is the AddressesExhausted condition for a.
func exhaustionCondition(a usage.Addresses) metav1.Condition {
	switch a.Level() {
	case usage.Exhausted:
		return metav1.Condition{Type: samplecrdv1.ConditionAddressesExhausted, Status: metav1.ConditionTrue,
			Reason: samplecrdv1.ReasonNoFreeAddresses, Message: fmt.Sprintf(MessageNoFreeAddresses, a.Total, a.Leaked)}
	case usage.HighWater:
		return metav1.Condition{Type: samplecrdv1.ConditionAddressesExhausted, Status: metav1.ConditionFalse,
			Reason: samplecrdv1.ReasonHighWater, Message: fmt.Sprintf(MessageHighWater, a.Allocated, a.Total, a.Free, a.Leaked)}
	default:
		return metav1.Condition{Type: samplecrdv1.ConditionAddressesExhausted, Status: metav1.ConditionFalse,
			Reason: samplecrdv1.ReasonAddressesAvailable, Message: fmt.Sprintf(MessageAddressesAvailable, a.Allocated, a.Total, a.Leaked)}
	}
}

// podExists reports whether the pod whereabouts names by podRef
// ("namespace/name", the pod cache's key) is in the pod cache.
func (c *Controller) podExists(podRef string) bool {
	_, ok, err := c.podsIndexer.GetByKey(podRef)
	return ok || err != nil
}

// recordExhaustion records a Warning Event when a status write turned
// AddressesExhausted True: the next pod to attach fails.
func (c *Controller) recordExhaustion(network, written *samplecrdv1.Network) {
	if meta.IsStatusConditionTrue(network.Status.Conditions, samplecrdv1.ConditionAddressesExhausted) {
		return
	}
	if cond := meta.FindStatusCondition(written.Status.Conditions, samplecrdv1.ConditionAddressesExhausted); cond != nil && cond.Status == metav1.ConditionTrue {
		c.recorder.Event(network, corev1.EventTypeWarning, AddressesExhausted, cond.Message)
	}
}

// UsageTotals sums the usage of the cached Networks for the aggregate
// metrics (no series per Network): how many are AddressesExhausted, and
// how many leaked addresses they report in all.
func (c *Controller) UsageTotals() metrics.UsageTotals {
	var t metrics.UsageTotals
	for _, obj := range c.networksIndexer.List() {
		n, ok := obj.(*samplecrdv1.Network)
		if !ok {
			continue
		}
		if meta.IsStatusConditionTrue(n.Status.Conditions, samplecrdv1.ConditionAddressesExhausted) {
			t.Exhausted++
		}
		if n.Status.Addresses != nil {
			t.Leaked += n.Status.Addresses.Leaked
		}
	}
	return t
}
