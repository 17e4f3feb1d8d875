package apiserved

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samplecrd/network-controller/pkg/serverhealth"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
)

// gizmos is the resource of the tests: a CRD some other project ships.
var gizmos = Config{
	GroupVersion: schema.GroupVersion{Group: "gizmo.test", Version: "v1"},
	Resource:     "gizmos",
	Kinds:        "Gizmos",
	CRD:          "gizmos.gizmo.test",
	Hint:         "install the gizmo operator",
	Missing:      "The API server does not serve Gizmos: the controller waits",
}

// newGizmos returns an API following gizmos, looking every period.
func newGizmos(d *fakeDiscovery, health *serverhealth.Health, period time.Duration) *API {
	cfg := gizmos
	cfg.Period = period
	return New(d, health, cfg)
}

// fakeDiscovery serves the gizmos or not, with the verbs given.
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
	if d.verbs == nil || gv != gizmos.GroupVersion.String() {
		return nil, apierrors.NewNotFound(schema.GroupResource{}, "")
	}
	return &metav1.APIResourceList{GroupVersion: gv, APIResources: []metav1.APIResource{{Name: gizmos.Resource, Verbs: d.verbs}}}, nil
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

// The resource is followed for the controller's whole life: missing at
// the start, served, deleted (first terminating: listed without create),
// served again. Each loss is said once in the log, readiness follows, start
// is called once and back after each loss.
func TestAPIFollowsTheCRD(t *testing.T) {
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.BufferLogs(true)))
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
	defer cancel()
	d := &fakeDiscovery{}
	a := newGizmos(d, serverhealth.New(logger), 10*time.Millisecond)
	var starts, backs atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Watch(ctx, func() { starts.Add(1) }, func() { backs.Add(1) })
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
		return strings.Count(logger.GetSink().(ktesting.Underlier).GetBuffer().String(), gizmos.Missing)
	}

	eventually("the missing API to be said", func() bool { return said() == 1 })
	time.Sleep(50 * time.Millisecond)
	var notServed *NotServedError
	if err := a.Ready(); !errors.As(err, &notServed) || !strings.Contains(err.Error(), gizmos.Hint) {
		t.Errorf("Ready() = %v while the resource is missing, want a NotServedError with the hint", err)
	}
	d.set("create", "get", "list", "watch", "patch", "delete")
	eventually("the API to be served", func() bool { return a.Ready() == nil })
	if starts.Load() != 1 || backs.Load() != 0 {
		t.Errorf("started %d times, queued everything %d times; want 1, 0", starts.Load(), backs.Load())
	}

	d.set("delete", "deletecollection", "get", "list", "watch") // terminating
	eventually("the loss to be noticed", func() bool { return a.Ready() != nil })
	d.set()
	time.Sleep(50 * time.Millisecond)
	d.set("create", "get", "list", "watch", "patch", "delete")
	eventually("the API to be served again", func() bool { return a.Ready() == nil })
	if starts.Load() != 1 || backs.Load() != 1 {
		t.Errorf("started %d times, queued everything %d times; want 1, 1", starts.Load(), backs.Load())
	}
	if n := said(); n != 2 {
		t.Errorf("the log said %d times that the API is missing, want once per loss (2)", n)
	}
}

// A write that fails because the CRD is being deleted makes the resource
// count as gone at once; one that fails for a reason of its own does not.
func TestGoneWith(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	d := &fakeDiscovery{}
	a := newGizmos(d, serverhealth.New(logger), time.Hour)
	d.set("create", "get", "list", "watch", "patch", "delete")
	a.setServed(logger, func() {}, func() {})
	gr := schema.GroupResource{Group: gizmos.GroupVersion.Group, Resource: gizmos.Resource}
	forbidden := apierrors.NewForbidden(gr, "blue", errors.New("create not allowed while custom resource definition is terminating"))

	if a.GoneWith(ctx, apierrors.NewConflict(gr, "blue", errors.New("changed"))) {
		t.Error("a conflict counted as the API gone")
	}
	if calls := d.calls; calls != 0 {
		t.Errorf("a conflict made %d discovery calls, want none", calls)
	}
	if a.GoneWith(ctx, forbidden) || a.Ready() != nil {
		t.Error("a 403 while discovery lists create counted as the API gone")
	}
	d.set("delete", "get", "list", "watch")
	if !a.GoneWith(ctx, forbidden) || a.Ready() == nil {
		t.Error("a 403 while the CRD is terminating did not count as the API gone")
	}
}

// A nil API counts the resource as served: unit tests on fake clientsets
// pass none.
func TestNilAPIIsServed(t *testing.T) {
	var a *API
	if err := a.Ready(); err != nil {
		t.Errorf("Ready() = %v, want nil", err)
	}
	if err := a.Wait(context.Background()); err != nil {
		t.Errorf("Wait() = %v, want nil", err)
	}
	if a.GoneWith(context.Background(), apierrors.NewNotFound(schema.GroupResource{}, "x")) {
		t.Error("GoneWith() = true, want false")
	}
}

// statusRoundTripper answers every request with the next of its codes
// (the last one over and over), counting the requests.
type statusRoundTripper struct {
	mu    sync.Mutex
	codes []int
	calls int
}

func (s *statusRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := s.codes[min(s.calls, len(s.codes)-1)]
	s.calls++
	return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

// An informer's list answered 404 while the CRD is gone waits for the
// resource to be served again and is sent again, rather than failing; a
// write answered 404 fails at once (the caller's GoneWith decides).
func TestHoldWhileMissingWaitsForTheResource(t *testing.T) {
	logger, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &fakeDiscovery{}
	a := newGizmos(d, serverhealth.New(logger), 10*time.Millisecond)
	go a.Watch(ctx, func() {}, func() {})

	rt := &statusRoundTripper{codes: []int{http.StatusNotFound, http.StatusOK}}
	post, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://server/apis/gizmo.test/v1/gizmos", nil)
	if resp, err := a.HoldWhileMissing(rt).RoundTrip(post); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a create got %v, %v; want the 404 at once", resp, err)
	}

	rt = &statusRoundTripper{codes: []int{http.StatusNotFound, http.StatusOK}}
	got := make(chan int, 1)
	go func() {
		get, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://server/apis/gizmo.test/v1/gizmos", nil)
		resp, err := a.HoldWhileMissing(rt).RoundTrip(get)
		if err != nil {
			got <- -1
			return
		}
		got <- resp.StatusCode
	}()
	select {
	case code := <-got:
		t.Fatalf("a list returned %d while the resource is missing, want it held", code)
	case <-time.After(300 * time.Millisecond):
	}
	d.set("create", "get", "list", "watch")
	select {
	case code := <-got:
		if code != http.StatusOK || rt.calls != 2 {
			t.Errorf("the list got %d after %d requests, want 200 after 2", code, rt.calls)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the list was still held 5 s after the resource was served")
	}
}
