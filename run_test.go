package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	nadclientset "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/httpserve"
	"github.com/samplecrd/network-controller/pkg/leadership"
)

// slowAPIServer answers attachment creates after hold (or when the request is
// cancelled) and every other request at once, like an API server under load.
type slowAPIServer struct {
	*httptest.Server
	hold      time.Duration
	arrived   chan struct{} // closed when the first attachment create arrives
	completed atomic.Bool   // a attachment create was answered
	cancelled chan struct{} // closed when a attachment create was cancelled by the client
}

func newSlowAPIServer(t *testing.T, hold time.Duration) *slowAPIServer {
	s := &slowAPIServer{hold: hold, arrived: make(chan struct{}), cancelled: make(chan struct{})}
	var once atomic.Bool
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/network-attachment-definitions") {
			if once.CompareAndSwap(false, true) {
				close(s.arrived)
			}
			select {
			case <-time.After(s.hold):
				s.completed.Store(true)
			case <-r.Context().Done():
				close(s.cancelled)
				return
			}
		}
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// runUntilStopped starts Run with one Network queued, cancels it once the
// sync's attachment create reaches the server, and returns how long Run took
// to return after the cancel.
func runUntilStopped(t *testing.T, server *slowAPIServer, shutdownTimeout time.Duration) (*fixture, time.Duration) {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
	c := f.controller
	c.nadclientset = nadclientset.NewForConfigOrDie(&rest.Config{Host: server.URL})
	c.opts.ShutdownTimeout = shutdownTimeout
	c.cachesSynced = nil // nothing to wait for
	c.workqueue.Add(cache.MetaObjectToName(blue))

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx, 2) }()
	select {
	case <-server.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the sync never reached the API server")
	}
	cancel()
	stopped := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	return f, time.Since(stopped)
}

func TestRunLetsInFlightSyncsFinishOnShutdown(t *testing.T) {
	server := newSlowAPIServer(t, 500*time.Millisecond)
	f, _ := runUntilStopped(t, server, 10*time.Second)
	if !server.completed.Load() {
		t.Fatal("the in-flight attachment create was cut off")
	}
	// The sync went on to write the status: it was not abandoned half-way.
	checkActions(t, "network", []action{{verb: "update", resource: "networks", subresource: "status", name: "blue"}}, recorded(f.client.Actions()))
}

func TestRunCancelsInFlightSyncsAfterTheShutdownTimeout(t *testing.T) {
	server := newSlowAPIServer(t, time.Hour)
	_, took := runUntilStopped(t, server, 300*time.Millisecond)
	select {
	case <-server.cancelled:
	case <-time.After(5 * time.Second):
		t.Error("the hanging attachment create was not cancelled")
	}
	if took > 5*time.Second {
		t.Errorf("Run took %v to return with a 300ms shutdown timeout", took)
	}
}

// A lost Lease aborts: in-flight syncs are cancelled at once, even when a
// graceful stop with a long shutdown timeout has already begun.
func TestRunWithAbortCancelsInFlightSyncsAtOnceEvenWhenStoppingGracefully(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	server := newSlowAPIServer(t, time.Hour)
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
	c := f.controller
	c.nadclientset = nadclientset.NewForConfigOrDie(&rest.Config{Host: server.URL})
	c.opts.ShutdownTimeout = time.Hour
	c.cachesSynced = nil // nothing to wait for
	c.workqueue.Add(cache.MetaObjectToName(blue))

	runCtx, stop := context.WithCancel(ctx)
	abortCtx, abort := context.WithCancelCause(ctx)
	done := make(chan error, 1)
	go func() { done <- c.RunWithAbort(runCtx, abortCtx, 2) }()
	select {
	case <-server.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the sync never reached the API server")
	}
	stop()
	select {
	case <-server.cancelled:
		t.Fatal("a graceful stop cancelled the in-flight sync")
	case <-time.After(200 * time.Millisecond):
	}
	abort(leadership.ErrLeaseLost)
	select {
	case <-server.cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the in-flight sync was not cancelled by the abort")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunWithAbort: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("RunWithAbort did not return after the abort")
	}
}

// An Event recorded by the last sync before shutdown is written before Run
// returns: the flush must see Events on their way to the writers, not only
// those already queued. Repeated because the loss depends on scheduling.
func TestRunWritesTheEventOfTheLastSyncBeforeReturning(t *testing.T) {
	const runs = 100
	lost := 0
	for range runs {
		if !lastSyncEventWritten(t) {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("the Event of the last sync was lost in %d of %d runs", lost, runs)
	}
}

// lastSyncEventWritten runs a controller with its own Event recorder on
// fake clients, stops it as soon as its one sync (of an invalid Network,
// which records a Warning) has returned, and reports whether the Event was
// created by the time Run returned.
func lastSyncEventWritten(t *testing.T) bool {
	t.Helper()
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.BufferLogs(true)))
	ctx := klog.NewContext(context.Background(), logger)
	invalid := newNetwork("default", "bad", "banana", "192.168.0.1", 0)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{invalid}})
	c := f.controller
	c.recorder = f.events
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	c.opts.ObserveSync = func(syncOutcome, time.Duration) { stop() }
	c.cachesSynced = nil // nothing to wait for
	c.workqueue.Add(cache.MetaObjectToName(invalid))
	if err := c.Run(runCtx, 1); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, a := range f.kubeclient.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "events" {
			return true
		}
	}
	return false
}

// The Deployment's grace period covers the worst case of a graceful stop
// with the flags it passes, so the kubelet's SIGKILL never cuts it short.
func TestDeploymentGracePeriodCoversTheStopBudget(t *testing.T) {
	raw, err := os.ReadFile("artifacts/deploy/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	shutdownTimeout, renewDeadline := defaultShutdownTimeout, leadership.DefaultRenewDeadline
	for _, arg := range d.Spec.Template.Spec.Containers[0].Args {
		name, value, _ := strings.Cut(arg, "=")
		var target *time.Duration
		switch name {
		case "--shutdown-timeout":
			target = &shutdownTimeout
		case "--leader-elect-renew-deadline":
			target = &renewDeadline
		default:
			continue
		}
		if *target, err = time.ParseDuration(value); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
	}
	budget := shutdownTimeout + eventFlushTimeout + renewDeadline + 2*httpserve.ShutdownTimeout
	grace := time.Duration(ptr.Deref(d.Spec.Template.Spec.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds)) * time.Second
	if grace <= budget {
		t.Errorf("terminationGracePeriodSeconds %v does not cover the stop budget %v (syncs %v, Events %v, Lease release %v, HTTP servers 2×%v)",
			grace, budget, shutdownTimeout, eventFlushTimeout, renewDeadline, httpserve.ShutdownTimeout)
	}
}
