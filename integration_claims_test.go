package main

// Integration tests of who holds a range, and of the attachments of
// Networks that hold none, against the real API server (issue 19, items 1,
// 3 and 4). Each failed on the controller before its fix.

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/tenancy"
)

// sibling returns an env for a second namespace of the test, named after
// the test's with suffix and allowed allowance; its Networks and
// attachments are deleted when the test ends, as newEnv's are.
func (e *env) sibling(suffix, allowance string) *env {
	e.t.Helper()
	s := *e
	s.namespace = e.namespace + "-" + suffix
	_, err := e.kube.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        s.namespace,
		Annotations: map[string]string{tenancy.AllowedCIDRsAnnotation: allowance},
	}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.deleteNetworksAndAttachments(e.t, s.namespace) })
	return &s
}

// allow sets the allowance of the env's namespace.
func (e *env) allow(allowance string) {
	e.t.Helper()
	patch := fmt.Sprintf(`{"metadata": {"annotations": {%q: %q}}}`, tenancy.AllowedCIDRsAnnotation, allowance)
	if _, err := e.kube.CoreV1().Namespaces().Patch(e.ctx, e.namespace, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// readyNetwork starts a test whose namespace may use rng alone, and a
// controller, and makes the Network "net" Ready for rng there.
func readyNetwork(t *testing.T, rng, gateway string) (*env, *runningController, *nadv1.NetworkAttachmentDefinition) {
	t.Helper()
	e := newEnv(t)
	e.allow(rng)
	ctrl := e.startController(Options{})
	e.create("net", rng, gateway)
	e.waitForReady("net", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	return e, ctrl, e.waitForAttachmentConfig("net", rng)
}

// onlyLiveAttachment checks, for a while, that of the given envs' Networks
// named name only want's still has an attachment: one range, one live
// configuration, and nothing brings another back.
func onlyLiveAttachment(t *testing.T, want *env, others ...*env) {
	t.Helper()
	want.waitForAttachmentConfig("net", "")
	for _, o := range others {
		o.waitForNoAttachment("net")
	}
	time.Sleep(2 * time.Second)
	for _, o := range others {
		if nad, err := o.attachment("net"); !apierrors.IsNotFound(err) {
			t.Errorf("%s/net has an attachment again (%v): %+v", o.namespace, err, nad)
		}
	}
}

// TestIntegrationInvalidSpecKeepsNoRangeItIsNotPermitted is item 1 of the
// issue: team-a's Network is Ready for a range; while the controller is
// down its spec is made invalid in a way only the controller detects
// (excludeRanges that leave no address) and its namespace's allowance is
// moved off the range, which team-b is given. The restarted controller
// sees both at once: team-a's attachment must go, and team-b's Network
// becomes Ready.
func TestIntegrationInvalidSpecKeepsNoRangeItIsNotPermitted(t *testing.T) {
	const rng, gateway = "198.18.190.0/30", "198.18.190.1"
	teamA, first, _ := readyNetwork(t, rng, gateway)
	first.stop()

	n, err := teamA.networks.SamplecrdV1().Networks(teamA.namespace).Get(teamA.ctx, "net", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.ExcludeRanges = []string{"198.18.190.2/32"} // the /30's one address for pods
	if _, err := teamA.networks.SamplecrdV1().Networks(teamA.namespace).Update(teamA.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("the API server refused excludeRanges that leave no address (only the controller checks that): %v", err)
	}
	teamA.allow("198.18.191.0/24")
	time.Sleep(1100 * time.Millisecond) // team-b's Network is younger
	teamB := teamA.sibling("b", rng)
	teamB.create("net", rng, gateway)

	teamA.startController(Options{})
	invalid := teamA.waitForReady("net", metav1.ConditionFalse, samplecrdv1.ReasonInvalidSpec)
	if invalid.Status.AttachmentName != "" {
		t.Errorf("status.attachmentName = %q, want none", invalid.Status.AttachmentName)
	}
	teamB.waitForReady("net", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	onlyLiveAttachment(t, teamB, teamA)
	teamA.waitForEvent("net", corev1.EventTypeWarning, AttachmentRemoved, `"net"`)
}

// TestIntegrationTerminatingNetworkLosesARangeItNoLongerHolds is item 3:
// a tenant adds a finalizer nobody removes and deletes its Network, which
// stays terminating; the admin then revokes the namespace's allowance and
// gives the range to another namespace. The terminating Network must lose
// its attachment, and the other become Ready.
func TestIntegrationTerminatingNetworkLosesARangeItNoLongerHolds(t *testing.T) {
	const rng, gateway = "198.18.192.0/30", "198.18.192.1"
	teamA, ctrl, before := readyNetwork(t, rng, gateway)

	networks := teamA.networks.SamplecrdV1().Networks(teamA.namespace)
	t.Cleanup(func() {
		// Let the test's cleanup delete the Network for good.
		patch := []byte(`{"metadata": {"finalizers": null}}`)
		if _, err := networks.Patch(context.Background(), "net", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("removing the test finalizer: %v", err)
		}
	})
	patch := fmt.Sprintf(`{"metadata": {"finalizers": [%q]}}`, testFinalizer)
	if _, err := networks.Patch(teamA.ctx, "net", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := networks.Delete(teamA.ctx, "net", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	teamA.waitFor("the Network to be terminating in the controller's cache", func() (bool, string) {
		n, err := ctrl.controller.networksLister.Networks(teamA.namespace).Get("net")
		return err == nil && n.DeletionTimestamp != nil, fmt.Sprint(err)
	})
	// Nothing happens to a terminating Network that still holds its range
	// (this control plane has no garbage collector to remove it).
	time.Sleep(500 * time.Millisecond)
	if nad, err := teamA.attachment("net"); err != nil || nad.UID != before.UID {
		t.Fatalf("the attachment of a terminating Network that holds its range changed: %v", err)
	}

	teamA.allow("198.18.193.0/24")
	teamB := teamA.sibling("b", rng)
	teamB.create("net", rng, gateway)
	teamB.waitForReady("net", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	onlyLiveAttachment(t, teamB, teamA)
	teamA.waitForEvent("net", corev1.EventTypeWarning, AttachmentRemoved, `"net"`)
	if n, err := networks.Get(teamA.ctx, "net", metav1.GetOptions{}); err != nil || n.DeletionTimestamp == nil {
		t.Errorf("the Network is no longer terminating (%v)", err)
	}
}

// TestIntegrationOrphanedAttachmentsAreRemoved is item 4, without a
// garbage collector (test/e2e has the one with kubectl delete
// --cascade=orphan): managed attachments that no Network controls,
// present when the controller starts or orphaned while it runs, are
// removed; what is not the controller's is left alone.
func TestIntegrationOrphanedAttachmentsAreRemoved(t *testing.T) {
	e := newEnv(t)
	nads := e.nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(e.namespace)
	config := `{"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "bridge", "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.194.0/24"}]]}}]}`
	managed := map[string]string{managedByLabel: managedByValue}
	mk := func(name string, labels map[string]string, owners []metav1.OwnerReference) *nadv1.NetworkAttachmentDefinition {
		t.Helper()
		nad, err := nads.Create(e.ctx, &nadv1.NetworkAttachmentDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owners},
			Spec:       nadv1.NetworkAttachmentDefinitionSpec{Config: config},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return nad
	}
	goneNetwork := []metav1.OwnerReference{{APIVersion: samplecrdv1.SchemeGroupVersion.String(), Kind: "Network", Name: "gone", UID: "no-such-uid", Controller: ptr.To(true)}}
	deployment := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "someone", UID: "someone-uid", Controller: ptr.To(true)}}
	mk("orphan", managed, nil)
	mk("gone", managed, goneNetwork)
	kept := []*nadv1.NetworkAttachmentDefinition{
		mk("unlabelled", nil, nil),
		mk("unlabelled-gone", nil, goneNetwork),
		mk("someone-elses", managed, deployment),
	}

	e.startController(Options{})
	e.waitForNoAttachment("orphan")
	e.waitForNoAttachment("gone")

	t.Run("an attachment whose owner reference is removed while it runs is replaced by the Network's own", func(t *testing.T) {
		n := e.create("net", "198.18.195.0/24", "198.18.195.1")
		e.waitForReady("net", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
		first := e.waitForAttachmentConfig("net", "198.18.195.0/24")
		patch := []byte(`[{"op": "remove", "path": "/metadata/ownerReferences"}]`)
		if _, err := nads.Patch(e.ctx, "net", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("the orphan replaced by an attachment the Network controls", func() (bool, string) {
			nad, err := e.attachment("net")
			if err != nil {
				return false, err.Error()
			}
			return nad.UID != first.UID && metav1.IsControlledBy(nad, n), fmt.Sprintf("UID %s, owners %v", nad.UID, nad.OwnerReferences)
		})
		e.waitForReady("net", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	})
	t.Run("an attachment handed to another controller is left to it, and the Network says so at once", func(t *testing.T) {
		patch := []byte(`{"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "someone", "uid": "someone-uid", "controller": true}]}}`)
		if _, err := nads.Patch(e.ctx, "net", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitForReady("net", metav1.ConditionFalse, samplecrdv1.ReasonAttachmentConflict)
	})

	for _, want := range kept {
		got, err := e.attachment(want.Name)
		if err != nil || got.ResourceVersion != want.ResourceVersion {
			t.Errorf("%s, which is not an orphan of the controller's, was touched: %v", want.Name, err)
		}
	}
}
