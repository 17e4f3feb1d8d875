package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// reportProblem records a permanent problem as Ready=False with the given
// reason and, only when the status changes (so a restart does not repeat
// it), a Warning Event with eventReason. configMapName is what the status
// keeps naming: the existing ConfigMap of an invalid or conflicting Network
// is deliberately left alone, while a foreign ConfigMap is not the
// Network's to name.
func (c *Controller) reportProblem(ctx context.Context, network *samplecrdv1.Network, reason, eventReason, msg, configMapName string) error {
	cond := metav1.Condition{
		Type:    samplecrdv1.ConditionReady,
		Status:  metav1.ConditionFalse,
		Reason:  reason,
		Message: msg,
	}
	changed, err := c.updateStatus(ctx, network, cond, configMapName)
	if err != nil {
		return err
	}
	if changed {
		c.recorder.Event(network, corev1.EventTypeWarning, eventReason, msg)
	}
	return nil
}

// updateStatus sets the Ready condition, observedGeneration and
// configMapName on a copy of the Network and writes the status only when it
// differs from what is stored. It reports whether it wrote.
func (c *Controller) updateStatus(ctx context.Context, network *samplecrdv1.Network, ready metav1.Condition, configMapName string) (bool, error) {
	updated := network.DeepCopy()
	updated.Status.ObservedGeneration = network.Generation
	updated.Status.ConfigMapName = configMapName
	ready.ObservedGeneration = network.Generation
	// SetStatusCondition keeps the old transition time when the status
	// (True/False) did not change, so an unchanged condition compares equal.
	ready.LastTransitionTime = metav1.NewTime(c.opts.Clock.Now())
	meta.SetStatusCondition(&updated.Status.Conditions, ready)
	if equality.Semantic.DeepEqual(updated.Status, network.Status) {
		return false, nil
	}
	_, err := c.networkclientset.SamplecrdV1().Networks(network.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{FieldManager: controllerAgentName})
	if err != nil {
		return false, fmt.Errorf("updating status of Network %s: %w", klog.KObj(network), err)
	}
	klog.FromContext(ctx).V(2).Info("Updated status", "reason", ready.Reason)
	return true, nil
}
