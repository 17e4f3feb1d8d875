package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/samplecrd/network-controller/pkg/serverhealth"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
)

// fakeDiscovery serves the NetworkAttachmentDefinition API or not, with
// the verbs given.
type fakeDiscovery struct {
	mu    sync.Mutex
	verbs []string // nil: not served
	calls int
}

func (d *fakeDiscovery) set(verbs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.verbs = verbs
}

func (d *fakeDiscovery) ServerResourcesForGroupVersionWithContext(_ context.Context, gv string) (*metav1.APIResourceList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.verbs == nil || gv != nadv1.SchemeGroupVersion.String() {
		return nil, apierrors.NewNotFound(schema.GroupResource{}, "")
	}
	return &metav1.APIResourceList{GroupVersion: gv, APIResources: []metav1.APIResource{{Name: attachmentResource, Verbs: d.verbs}}}, nil
}

func (d *fakeDiscovery) ServerGroupsAndResourcesWithContext(context.Context) ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	return nil, nil, errors.New("not used")
}

func (d *fakeDiscovery) ServerPreferredResourcesWithContext(context.Context) ([]*metav1.APIResourceList, error) {
	return nil, errors.New("not used")
}

func (d *fakeDiscovery) ServerPreferredNamespacedResourcesWithContext(context.Context) ([]*metav1.APIResourceList, error) {
	return nil, errors.New("not used")
}

// The attachment API is followed for the controller's whole life: missing
// at the start, served, deleted (first terminating: listed without
// create), served again. Each loss is said once in the log, readiness
// follows, the informer starts once and every Network is queued again
// after a loss.
func TestAttachmentAPIFollowsTheCRD(t *testing.T) {
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.BufferLogs(true)))
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
	defer cancel()
	d := &fakeDiscovery{}
	a := newAttachmentAPI(d, serverhealth.New(logger), 10*time.Millisecond)
	var starts, backs atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.watchDiscovery(ctx, func() { starts.Add(1) }, func() { backs.Add(1) })
	}()
	defer func() { cancel(); <-done }()
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	said := func() int {
		return strings.Count(logger.GetSink().(ktesting.Underlier).GetBuffer().String(), msgAttachmentAPIMissing)
	}

	eventually("the missing API to be said", func() bool { return said() == 1 })
	time.Sleep(50 * time.Millisecond)
	if err := a.ready(); !errors.Is(err, errAttachmentAPIMissing) {
		t.Errorf("ready() = %v while the API is missing, want %v", err, errAttachmentAPIMissing)
	}
	d.set("create", "get", "list", "watch", "patch", "delete")
	eventually("the API to be served", func() bool { return a.ready() == nil })
	if starts.Load() != 1 || backs.Load() != 0 {
		t.Errorf("started %d times, queued everything %d times; want 1, 0", starts.Load(), backs.Load())
	}

	d.set("delete", "deletecollection", "get", "list", "watch") // terminating
	eventually("the loss to be noticed", func() bool { return a.ready() != nil })
	d.set()
	time.Sleep(50 * time.Millisecond)
	d.set("create", "get", "list", "watch", "patch", "delete")
	eventually("the API to be served again", func() bool { return a.ready() == nil })
	if starts.Load() != 1 || backs.Load() != 1 {
		t.Errorf("started %d times, queued everything %d times; want 1, 1", starts.Load(), backs.Load())
	}
	if n := said(); n != 2 {
		t.Errorf("the log said %d times that the API is missing, want once per loss (2)", n)
	}
}

// A write that fails because the CRD is being deleted makes the API count
// as gone at once; one that fails for a reason of its own does not.
func TestAttachmentAPIGoneWith(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	d := &fakeDiscovery{}
	a := newAttachmentAPI(d, serverhealth.New(logger), time.Hour)
	d.set("create", "get", "list", "watch", "patch", "delete")
	a.setServed(logger, func() {}, func() {})
	gr := schema.GroupResource{Group: nadv1.SchemeGroupVersion.Group, Resource: attachmentResource}
	forbidden := apierrors.NewForbidden(gr, "blue", errors.New("create not allowed while custom resource definition is terminating"))

	if a.goneWith(ctx, apierrors.NewConflict(gr, "blue", errors.New("changed"))) {
		t.Error("a conflict counted as the API gone")
	}
	if calls := d.calls; calls != 0 {
		t.Errorf("a conflict made %d discovery calls, want none", calls)
	}
	if a.goneWith(ctx, forbidden) || a.ready() != nil {
		t.Error("a 403 while discovery lists create counted as the API gone")
	}
	d.set("delete", "get", "list", "watch")
	if !a.goneWith(ctx, forbidden) || a.ready() == nil {
		t.Error("a 403 while the CRD is terminating did not count as the API gone")
	}
}
