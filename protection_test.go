package main

import (
	"fmt"
	"slices"
	"testing"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/podrefs"
)

// deleted returns a copy of n, protected, that is being deleted, with
// the other finalizers given after the controller's.
func deleted(n *samplecrdv1.Network, others ...string) *samplecrdv1.Network {
	n = n.DeepCopy()
	n.DeletionTimestamp = &metav1.Time{Time: now}
	n.Generation++ // as the API server does for a custom resource
	n.Finalizers = append([]string{samplecrdv1.FinalizerInUseProtection}, others...)
	return n
}

// unprotected returns a copy of n without the controller's finalizer, with
// the finalizers given: a Network created before in-use protection.
func unprotected(n *samplecrdv1.Network, finalizers ...string) *samplecrdv1.Network {
	n = n.DeepCopy()
	n.Finalizers = finalizers
	return n
}

// waitingFor returns n with the Deleting condition a sync at now writes
// for the pods described ("1 pod: default/web").
func waitingFor(n *samplecrdv1.Network, pods string) *samplecrdv1.Network {
	n = n.DeepCopy()
	meta.SetStatusCondition(&n.Status.Conditions, metav1.Condition{
		Type: samplecrdv1.ConditionDeleting, Status: metav1.ConditionTrue, Reason: samplecrdv1.ReasonInUse,
		Message: fmt.Sprintf(MessageInUse, pods), ObservedGeneration: n.Generation, LastTransitionTime: metav1.NewTime(now),
	})
	n.Status.ObservedGeneration = n.Generation
	return n
}

// patchFinalizers is the patch that sets n's finalizers, conditional on
// its resourceVersion.
func patchFinalizers(n *samplecrdv1.Network, finalizers ...string) action {
	return action{verb: "patch", resource: "networks", name: n.Name, object: &metav1.PartialObjectMetadata{
		ObjectMeta: metav1.ObjectMeta{ResourceVersion: n.ResourceVersion, Finalizers: finalizers},
	}}
}

// protectionCases are the sync table's rows for in-use protection
// (protection.go).
func protectionCases(t *testing.T) []syncHandlerCase {
	blue := newNetwork("default", "blue", "198.18.0.0/24", "198.18.0.1", 0)
	ready := synced(blue)
	attachment := ownedAttachment(t, blue)
	const other = "example.test/keep"

	web := newPod("default", "web", corev1.PodRunning, "blue", attachedTo("default/blue"))
	pending := newPod("default", "web-1", corev1.PodPending, "blue@net1", "")
	crossJSON := newPod("apps", "api", corev1.PodRunning, `[{"name":"blue","namespace":"default","interface":"net1"}]`, "")
	crossComma := newPod("apps", "job", corev1.PodPending, "default/blue", "")
	// A bare name refers to the pod's own namespace: apps/blue, not
	// default/blue.
	ownNamespace := newPod("apps", "own", corev1.PodRunning, "blue", "")
	succeeded := newPod("default", "done", corev1.PodSucceeded, "blue", attachedTo("default/blue"))
	failed := newPod("default", "crashed", corev1.PodFailed, `[{"name":"blue"}]`, "")
	leaving := newPod("default", "leaving", corev1.PodRunning, "blue", attachedTo("default/blue"))
	leaving.DeletionTimestamp = &metav1.Time{Time: now}
	many := []*corev1.Pod{web, pending, crossJSON, crossComma, leaving}

	held := deleted(ready)
	owned := []*nadv1.NetworkAttachmentDefinition{attachment}

	return []syncHandlerCase{
		{
			name: "a Network without the finalizer (created before protection) gets it, other finalizers kept, and nothing else",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{unprotected(ready, other)},
				attachments: owned,
			},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNetwork: []action{patchFinalizers(blue, other, samplecrdv1.FinalizerInUseProtection)},
		},
		{
			name:        "a new Network gets the finalizer before its attachment and status, written at the resourceVersion the patch left",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{unprotected(blue)}},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{createAttachment(attachment)} },
			wantNetwork: []action{patchFinalizers(blue, samplecrdv1.FinalizerInUseProtection), updateStatus(after(blue, synced(blue)))},
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name:        "a Network being deleted before the controller protected it gets no finalizer",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{unprotected(held, other)}, attachments: owned, pods: []*corev1.Pod{web}},
			key:         blue,
			wantOutcome: outcomeDeleted,
		},
		{
			name:        "a deleted Network no pod refers to is released at once, other finalizers kept",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{deleted(ready, other)}, attachments: owned},
			key:         blue,
			wantOutcome: outcomeDeleted,
			wantNetwork: []action{patchFinalizers(blue, other)},
		},
		{
			name: "a deleted Network a running pod refers to waits, keeps its attachment, and says why once",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{held}, attachments: owned, pods: []*corev1.Pod{web},
			},
			key:         blue,
			wantOutcome: outcomeDeleted,
			wantNetwork: []action{updateStatus(withPods(waitingFor(held, "1 pod: default/web"), 1))},
			wantEvents:  []string{"Warning InUse|in use by 1 pod: default/web"},
		},
		{
			name: "a Network already reported waiting for the same pods makes no API calls and no Events",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{waitingFor(held, "1 pod: default/web")}, attachments: owned, pods: []*corev1.Pod{web},
			},
			key:         blue,
			wantOutcome: outcomeDeleted,
		},
		{
			name: "a change in the pods holding it updates the count and names, without another Event",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{waitingFor(held, "1 pod: default/web")}, attachments: owned, pods: many,
			},
			key:         blue,
			wantOutcome: outcomeDeleted,
			wantNetwork: []action{updateStatus(withPods(waitingFor(held, "5 pods: apps/api, apps/job, default/leaving and 2 more"), 2))},
		},
		{
			name: "pods in other namespaces hold it by namespace/name, in both annotation forms; a pending pod holds it too",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{held}, attachments: owned, pods: []*corev1.Pod{crossJSON, crossComma, pending},
			},
			key:         blue,
			wantOutcome: outcomeDeleted,
			wantNetwork: []action{updateStatus(waitingFor(held, "3 pods: apps/api, apps/job, default/web-1"))},
			wantEvents:  []string{"Warning InUse|3 pods"},
		},
		{
			name: "finished pods (Succeeded, Failed) and a bare name in another namespace release it",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{waitingFor(held, "1 pod: default/web")}, attachments: owned,
				pods: []*corev1.Pod{succeeded, failed, ownNamespace},
			},
			key:         blue,
			wantOutcome: outcomeDeleted,
			wantNetwork: []action{patchFinalizers(blue)},
		},
		{
			name: "a pod being deleted still holds it: its sandbox is torn down only when it is gone",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{held}, attachments: owned, pods: []*corev1.Pod{leaving},
			},
			key:         blue,
			wantOutcome: outcomeDeleted,
			wantNetwork: []action{updateStatus(withPods(waitingFor(held, "1 pod: default/leaving"), 1))},
			wantEvents:  []string{"Warning InUse|default/leaving"},
		},
		{
			name: "an uninstall (the Network CRD being deleted) releases a Network in use, with a Warning",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{waitingFor(held, "1 pod: default/web")}, attachments: owned, pods: []*corev1.Pod{web},
				uninstalling: true,
			},
			key:         blue,
			wantOutcome: outcomeDeleted,
			wantNetwork: []action{patchFinalizers(blue)},
			wantEvents:  []string{"Warning ProtectionReleased|in use by 1 pod: default/web"},
		},
	}
}

// TestPodList: the count and the first names, sorted by the caller.
func TestPodList(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{1, "1 pod: ns/p0"},
		{3, "3 pods: ns/p0, ns/p1, ns/p2"},
		{4, "4 pods: ns/p0, ns/p1, ns/p2 and 1 more"},
	} {
		var pods []*podrefs.Pod
		for i := range tc.n {
			pods = append(pods, cached(t, newPod("ns", fmt.Sprintf("p%d", i), corev1.PodRunning, "x", "")))
		}
		if got := podList(pods); got != tc.want {
			t.Errorf("podList of %d = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestFinalizerEchoIsNotASecondSync: the finalizer patch is a sync's first
// write, and the sync goes on with the patched Network, so the patch's echo
// queues nothing (a second sync per new Network would race the first one's
// writes). When a later step fails (here the attachment create, the API
// server going away), the worker queues the Network again itself, and the
// cache showing the patch is not taken to be behind.
func TestFinalizerEchoIsNotASecondSync(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	blue := unprotected(newNetwork("default", "blue", "198.18.0.0/24", "198.18.0.1", 0))
	key := cache.MetaObjectToName(blue)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
	f.nadclient.PrependReactor("create", attachmentResource, func(core.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("the API server is going away")
	})
	// The API server applies the patch at a new resourceVersion.
	echo := blue.DeepCopy()
	echo.Finalizers, echo.ResourceVersion = []string{samplecrdv1.FinalizerInUseProtection}, "2"
	f.client.PrependReactor("patch", "networks", func(core.Action) (bool, runtime.Object, error) {
		return true, echo.DeepCopy(), nil
	})
	f.controller.workqueue.Add(key)
	if !f.controller.processNextWorkItem(ctx, ctx) {
		t.Fatal("queue shut down")
	}
	if acts := recorded(f.client.Actions()); len(acts) != 1 || acts[0].verb != "patch" {
		t.Fatalf("network actions %v, want the finalizer patch alone", acts)
	}
	if got := f.controller.workqueue.Len() + f.controller.workqueue.NumRequeues(key); got == 0 {
		t.Error("the failed sync was not queued again")
	}

	// A fresh controller, whose queue holds no retry: the echo alone.
	f = newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
	f.controller.updateNetwork(blue, echo)
	if got := queued(f.controller); len(got) != 0 {
		t.Errorf("the finalizer's echo queued %v, want nothing", got)
	}
	if f.controller.cacheIsBehind(key, echo) {
		t.Error("a cache showing the finalizer patch is taken to be behind")
	}
	edited := echo.DeepCopy()
	edited.ResourceVersion, edited.Finalizers = "3", nil
	f.controller.updateNetwork(echo, edited)
	if got := queued(f.controller); !slices.Equal(got, []string{"default/blue"}) {
		t.Errorf("the finalizer removed by someone else queued %v, want [default/blue]", got)
	}
}

// TestCRDEventHandlers: the Network CRD marked for deletion (an uninstall)
// queues the Networks being deleted, which may be waiting for pods and get
// no event of their own; nothing else about the CRD queues anything.
func TestCRDEventHandlers(t *testing.T) {
	waiting := deleted(newNetwork("default", "waiting", "198.18.0.0/24", "198.18.0.1", 0))
	live := newNetwork("other", "live", "198.18.1.0/24", "198.18.1.1", 0)
	installed, uninstalling := networkCRD(false), networkCRD(true)
	uninstalling.ResourceVersion = "2"
	otherCRD := networkCRD(true)
	otherCRD.Name = "widgets.example.test"
	for _, tc := range []struct {
		name string
		fire func(c *Controller)
		want []string
	}{
		{"the CRD marked for deletion queues the Networks being deleted", func(c *Controller) { c.updateCRD(installed, uninstalling) }, []string{"default/waiting"}},
		{"a controller started during an uninstall queues them at once", func(c *Controller) { c.addCRD(uninstalling) }, []string{"default/waiting"}},
		{"the CRD as installed queues nothing", func(c *Controller) { c.addCRD(installed) }, nil},
		{"a resync (same resourceVersion) queues nothing", func(c *Controller) { c.updateCRD(uninstalling, uninstalling) }, nil},
		{"another CRD queues nothing", func(c *Controller) { c.addCRD(otherCRD) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{waiting, live}})
			tc.fire(f.controller)
			if got := queued(f.controller); !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
}
