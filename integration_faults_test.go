package main

// Integration tests of the faults issue #13 names, against the real API
// server: each failed on the controller before the fix.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// TestIntegrationDemotedNetworkKeepsNoAttachment: X holds 10.x/16 and
// blocks Z (10.x.0/24); Y (172.x/12) is oldest. Editing X into Y's range
// demotes X: its attachment must go before Z, now free, gets its own, so
// two live configurations never serve one range.
func TestIntegrationDemotedNetworkKeepsNoAttachment(t *testing.T) {
	e := newEnv(t)
	e.startController(Options{})
	e.create("y", "172.16.0.0/12", "172.16.0.1")
	e.waitForReady("y", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	time.Sleep(1100 * time.Millisecond)
	e.create("x", "10.80.0.0/16", "10.80.0.1")
	e.waitForReady("x", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	time.Sleep(1100 * time.Millisecond)
	e.create("z", "10.80.0.0/24", "10.80.0.1")
	e.waitForReady("z", metav1.ConditionFalse, samplecrdv1.ReasonCIDRConflict)

	x, err := e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, "x", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x.Spec.CIDR, x.Spec.Gateway = "172.16.1.0/24", "172.16.1.1"
	if _, err := e.networks.SamplecrdV1().Networks(e.namespace).Update(e.ctx, x, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	demoted := e.waitForReady("x", metav1.ConditionFalse, samplecrdv1.ReasonCIDRConflict)
	if demoted.Status.AttachmentName != "" {
		t.Errorf("the demoted Network's status still names attachment %q", demoted.Status.AttachmentName)
	}
	e.waitForNoAttachment("x")
	e.waitForEvent("x", "Warning", AttachmentRemoved, `"x"`)
	e.waitForReady("z", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	e.waitForAttachmentConfig("z", "10.80.0.0/24")
}

// TestIntegrationForegroundDeletionRecreatesNothing: a Network deleted in
// the foreground keeps existing, with a deletionTimestamp, until the
// garbage collector has deleted its attachment (this control plane has no
// garbage collector, so the test deletes it as the collector would). The
// controller must not create it again.
func TestIntegrationForegroundDeletionRecreatesNothing(t *testing.T) {
	e := newEnv(t)
	ctrl := e.startController(Options{})
	e.create("doomed", "10.81.0.0/16", "10.81.0.1")
	e.waitForReady("doomed", metav1.ConditionTrue, samplecrdv1.ReasonSynced)

	foreground := metav1.DeletePropagationForeground
	if err := e.networks.SamplecrdV1().Networks(e.namespace).Delete(e.ctx, "doomed", metav1.DeleteOptions{PropagationPolicy: &foreground}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the Network to be marked for deletion in the controller's cache", func() (bool, string) {
		n, err := ctrl.controller.networksLister.Networks(e.namespace).Get("doomed")
		return err == nil && n.DeletionTimestamp != nil, fmt.Sprint(err)
	})
	if err := e.nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(e.namespace).Delete(e.ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if nad, err := e.attachment("doomed"); !apierrors.IsNotFound(err) {
		t.Errorf("the attachment of a Network being deleted was created again: %v %v", nad.GetUID(), err)
	}
	// Let the test's cleanup delete the Network for good.
	n, err := e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, "doomed", metav1.GetOptions{})
	if err == nil {
		n.Finalizers = nil
		_, _ = e.networks.SamplecrdV1().Networks(e.namespace).Update(e.ctx, n, metav1.UpdateOptions{})
	}
}

// TestIntegrationBurstMakesOneStatusWriteEach: creating the attachment
// re-queues the Network before the cache shows its status write; that
// stale second sync used to write the status again and fail with 409
// Conflict for about half the Networks of a burst.
func TestIntegrationBurstMakesOneStatusWriteEach(t *testing.T) {
	e := newEnv(t)
	ctrl := e.startController(Options{})
	const n = 60
	for i := range n {
		e.create(fmt.Sprintf("net-%d", i), fmt.Sprintf("10.83.%d.0/24", i), fmt.Sprintf("10.83.%d.1", i))
	}
	for i := range n {
		e.waitForReady(fmt.Sprintf("net-%d", i), metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	}
	time.Sleep(time.Second)
	statusWrites, attachmentWrites := 0, 0
	for _, w := range ctrl.writes.get() {
		switch {
		case strings.HasSuffix(w, "/status"):
			statusWrites++
		case strings.Contains(w, "/network-attachment-definitions"):
			attachmentWrites++
		}
	}
	if statusWrites != n || attachmentWrites != n {
		t.Errorf("%d Networks took %d status writes and %d attachment writes; want %d of each", n, statusWrites, attachmentWrites, n)
	}
	if got := ctrl.writes.conflicts.Load(); got != 0 {
		t.Errorf("%d writes failed with 409 Conflict; want none", got)
	}
}

// TestIntegrationWaitsForTheAttachmentCRD: in a cluster without the
// NetworkAttachmentDefinition CRD the controller writes nothing and is not
// ready; once the CRD is installed it starts working, without a restart.
func TestIntegrationWaitsForTheAttachmentCRD(t *testing.T) {
	e := newEnv(t)
	reinstall := e.deleteAttachmentCRD()

	ctrl := e.startController(Options{})
	e.create("waiting", "10.84.0.0/16", "10.84.0.1")
	time.Sleep(2 * time.Second)
	if ctrl.controller.HasSynced() {
		t.Error("the controller reports ready without the NetworkAttachmentDefinition API")
	}
	if writes := ctrl.writes.get(); len(writes) != 0 {
		t.Errorf("the controller wrote without the NetworkAttachmentDefinition API: %v", writes)
	}

	reinstall()
	e.waitForReady("waiting", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	e.waitForAttachmentConfig("waiting", "10.84.0.0/16")
}
