package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	nadclientset "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
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
	c.networksSynced = func() bool { return true }
	c.attachmentsSynced = func() bool { return true }
	c.namespacesSynced = func() bool { return true }
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
