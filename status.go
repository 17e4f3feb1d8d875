package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/fastjson"
	samplescheme "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned/scheme"
)

// reportInvalid reports an invalid spec. The Network's existing attachment
// is left as it was when it still serves the range the Network holds (see
// holdsRange: a valid spec.cidr that its namespace may use, not reserved,
// that no older Network claims), so that a bad edit of the gateway does not
// cut new pods off a working network; otherwise the range may go to another
// Network and the attachment is removed.
func (c *Controller) reportInvalid(ctx context.Context, network *samplecrdv1.Network, invalid error, v rangeVerdict) error {
	msg := fmt.Sprintf(MessageInvalidSpec, invalid)
	if v.Holds && c.attachmentServes(network, v.Prefix) {
		return c.reportProblem(ctx, network, samplecrdv1.ReasonInvalidSpec, samplecrdv1.ReasonInvalidSpec, msg, network.Name)
	}
	return c.reportLostRange(ctx, network, samplecrdv1.ReasonInvalidSpec, msg)
}

// reportLostRange reports a Network that does not hold the range of its
// attachment (it lost the overlap, or its spec no longer names that range)
// and removes the attachment it controls: a Network never keeps a live
// configuration for a range that another Network may now be given.
func (c *Controller) reportLostRange(ctx context.Context, network *samplecrdv1.Network, reason, msg string) error {
	if err := c.removeLostAttachment(ctx, network); err != nil {
		return err
	}
	return c.reportProblem(ctx, network, reason, reason, msg, "")
}

// removeLostAttachment removes the attachment the Network controls, if
// any, with a Warning Event saying why.
func (c *Controller) removeLostAttachment(ctx context.Context, network *samplecrdv1.Network) error {
	removed, err := c.removeAttachment(ctx, network)
	if err != nil {
		return err
	}
	if removed {
		c.recorder.Eventf(network, corev1.EventTypeWarning, AttachmentRemoved, MessageAttachmentRemoved, network.Name)
	}
	return nil
}

// reportReady records Ready=True for a Network whose attachment name holds
// its configuration, and a Normal Event when the sync changed the
// attachment or the status: a sync that changed nothing records nothing.
func (c *Controller) reportReady(ctx context.Context, network *samplecrdv1.Network, name string, attachmentChanged bool) error {
	ready := metav1.Condition{
		Type:    samplecrdv1.ConditionReady,
		Status:  metav1.ConditionTrue,
		Reason:  samplecrdv1.ReasonSynced,
		Message: fmt.Sprintf(MessageReady, name, name),
	}
	statusChanged, err := c.updateStatus(ctx, network, ready, name)
	if err != nil {
		return err
	}
	if attachmentChanged || statusChanged {
		c.recorder.Eventf(network, corev1.EventTypeNormal, SuccessSynced, MessageSynced, name, network.Spec.CIDR)
	}
	return nil
}

// reportProblem records a permanent problem as Ready=False with the given
// reason and, only when the status changes (so a restart does not repeat
// it), a Warning Event with eventReason. attachmentName is what the status
// keeps naming: an attachment that is still the Network's and still serves
// its range, or none.
func (c *Controller) reportProblem(ctx context.Context, network *samplecrdv1.Network, reason, eventReason, msg, attachmentName string) error {
	cond := metav1.Condition{
		Type:    samplecrdv1.ConditionReady,
		Status:  metav1.ConditionFalse,
		Reason:  reason,
		Message: msg,
	}
	changed, err := c.updateStatus(ctx, network, cond, attachmentName)
	if err != nil {
		return err
	}
	if changed {
		c.recorder.Event(network, corev1.EventTypeWarning, eventReason, msg)
	}
	return nil
}

// updateStatus sets the Ready condition, observedGeneration and
// attachmentName on a copy of the Network and writes the status only when
// it differs from what is stored, with the usage figures of the moment. It
// reports whether it wrote.
func (c *Controller) updateStatus(ctx context.Context, network *samplecrdv1.Network, ready metav1.Condition, attachmentName string) (bool, error) {
	updated := network.DeepCopy()
	updated.Status.ObservedGeneration = network.Generation
	updated.Status.AttachmentName = attachmentName
	ready.ObservedGeneration = network.Generation
	// SetStatusCondition keeps the old transition time when the status
	// (True/False) did not change, so an unchanged condition compares equal.
	ready.LastTransitionTime = metav1.NewTime(c.opts.Clock.Now())
	meta.SetStatusCondition(&updated.Status.Conditions, ready)
	return c.writeStatusIfChanged(ctx, network, updated)
}

// writeStatusIfChanged writes the status of updated, a changed copy of
// network, unless it equals network's, and remembers the write (pkg/
// expectations). It reports whether it wrote.
func (c *Controller) writeStatusIfChanged(ctx context.Context, network, updated *samplecrdv1.Network) (bool, error) {
	if equality.Semantic.DeepEqual(updated.Status, network.Status) {
		return false, nil
	}
	// A write is due anyway: the usage figures go with it (usage.go).
	c.setUsage(&updated.Status, network)
	if err := c.commitStatus(ctx, network, updated); err != nil {
		return false, fmt.Errorf("updating status of Network %s: %w", klog.KObj(network), err)
	}
	c.statusWritten.Store(cache.MetaObjectToName(network), true)
	klog.FromContext(ctx).V(2).Info("Updated status", "conditions", conditionReasons(updated.Status.Conditions))
	return true, nil
}

// commitStatus writes the status of updated, a changed copy of network,
// remembers the write (pkg/expectations), and records the Warning Event
// of an AddressesExhausted condition it turned True.
func (c *Controller) commitStatus(ctx context.Context, network, updated *samplecrdv1.Network) error {
	rv, err := c.writeStatus(ctx, updated)
	if err != nil {
		return err
	}
	c.expectations.WroteStatus(cache.MetaObjectToName(network), rv)
	c.recordExhaustion(network, updated)
	return nil
}

// conditionReasons lists conditions as type=reason, for logs.
func conditionReasons(conditions []metav1.Condition) []string {
	out := make([]string, len(conditions))
	for i, c := range conditions {
		out[i] = c.Type + "=" + c.Reason
	}
	return out
}

// writeStatus writes the status of updated, as UpdateStatus does (a PUT of
// the status subresource, which fails on a resourceVersion conflict), and
// returns the resourceVersion written. That is all the controller reads of
// the answer, so it asks the API server for the object's metadata alone,
// in protobuf, rather than the whole Network in JSON, which would cost a
// decode per write for nothing. A fake clientset (unit tests) has no REST
// client, and gets UpdateStatus.
func (c *Controller) writeStatus(ctx context.Context, updated *samplecrdv1.Network) (string, error) {
	client := c.networkclientset.SamplecrdV1()
	opts := metav1.UpdateOptions{FieldManager: controllerAgentName}
	rc, ok := client.RESTClient().(*rest.RESTClient)
	if !ok || rc == nil {
		written, err := client.Networks(updated.Namespace).UpdateStatus(ctx, updated, opts)
		if err != nil {
			return "", err
		}
		return written.ResourceVersion, nil
	}
	raw, err := rc.Put().Namespace(updated.Namespace).Resource("networks").Name(updated.Name).SubResource("status").
		VersionedParams(&opts, samplescheme.ParameterCodec).
		SetHeader("Accept", fastjson.MetadataOnly).
		Body(updated).Do(ctx).Raw()
	if err != nil {
		return "", err
	}
	written, err := fastjson.DecodeMetadata(raw)
	if err != nil {
		return "", err
	}
	return written.ResourceVersion, nil
}

// NetworksByReadyStatus counts the cached Networks by the status of their
// Ready condition: "True", "False", or "Unknown" when not synced yet. The
// networks gauge asks for it when /metrics is scraped.
func (c *Controller) NetworksByReadyStatus() map[string]int {
	counts := map[string]int{}
	networks, err := c.networksLister.List(labels.Everything())
	if err != nil {
		return counts
	}
	for _, n := range networks {
		status := string(metav1.ConditionUnknown)
		if ready := meta.FindStatusCondition(n.Status.Conditions, samplecrdv1.ConditionReady); ready != nil {
			status = string(ready.Status)
		}
		counts[status]++
	}
	return counts
}
