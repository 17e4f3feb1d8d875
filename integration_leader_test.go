package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/samplecrd/network-controller/pkg/leadership"
	"github.com/samplecrd/network-controller/pkg/metrics"
)

// holdingProxy stands between a controller and the API server. It passes
// every request through except the writes a sync makes (any write that is
// not to a Lease or an Event), which it holds until the controller cancels
// them: they never reach the API server.
type holdingProxy struct {
	*httptest.Server
	closing chan struct{}

	mu        sync.Mutex
	held      int
	arrived   chan struct{} // closed when the first sync write arrives
	cancelled chan struct{} // closed when the controller cancels it
}

func newHoldingProxy(t *testing.T, cfg *rest.Config) *holdingProxy {
	t.Helper()
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	forward := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     transport,
		FlushInterval: -1, // watches stream
	}
	p := &holdingProxy{closing: make(chan struct{}), arrived: make(chan struct{}), cancelled: make(chan struct{})}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isSyncWrite(r) {
			forward.ServeHTTP(w, r)
			return
		}
		// Read the body: only then does the server notice the client
		// going away and cancel r's context.
		_, _ = io.Copy(io.Discard, r.Body)
		p.mu.Lock()
		p.held++
		first := p.held == 1
		p.mu.Unlock()
		if first {
			close(p.arrived)
		}
		select {
		case <-r.Context().Done():
			if first {
				close(p.cancelled)
			}
		case <-p.closing:
		}
	}))
	t.Cleanup(func() {
		close(p.closing)
		p.CloseClientConnections()
		p.Close()
	})
	return p
}

// isSyncWrite tells a sync's writes from leader election's and Events'.
func isSyncWrite(r *http.Request) bool {
	return r.Method != http.MethodGet && !strings.Contains(r.URL.Path, "/leases") && !strings.Contains(r.URL.Path, "/events")
}

// heldWrites is how many sync writes the proxy has held.
func (p *holdingProxy) heldWrites() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// writeKubeconfig writes a kubeconfig for server, which needs no
// credentials, and returns its path.
func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: server}
	cfg.AuthInfos["test"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	cfg.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestIntegrationLeaderThatLosesItsLeaseStopsWritingAndExits runs the
// binary's run() with leader election against a real API server, lets it
// start a sync whose first write hangs, then gives the Lease to another
// identity, as a replica that took over would. The leader must cancel the
// in-flight sync as soon as it sees the Lease gone, rather than let it keep
// writing beside the new leader for --shutdown-timeout, and run must return
// leadership.ErrLeaseLost, so the process exits non-zero and its pod restarts.
func TestIntegrationLeaderThatLosesItsLeaseStopsWritingAndExits(t *testing.T) {
	e := newEnv(t)
	const (
		leaseDuration = 6 * time.Second
		renewDeadline = 4 * time.Second
		retryPeriod   = time.Second
		// The leader notices at its first failed renewal attempt that runs
		// out of renewDeadline: at most one retry period after the rewrite
		// plus the deadline. Then it cancels its syncs at once (well before
		// the 30 s --shutdown-timeout), flushes Events and stops informers.
		noticeBound = renewDeadline + 2*retryPeriod + 5*time.Second
		exitBound   = noticeBound + eventFlushTimeout + 5*time.Second
	)
	proxy := newHoldingProxy(t, apiserver)
	f := flags{
		kubeconfig:      writeKubeconfig(t, proxy.URL),
		workers:         2,
		qps:             1000,
		burst:           2000,
		resyncPeriod:    time.Hour,
		metricsAddr:     "0",
		probeAddr:       "0",
		shutdownTimeout: 30 * time.Second,
		leaderElect:     true,
		leaderElection: leadership.Config{
			LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
			Name: "network-controller", Namespace: e.namespace,
		},
	}
	ctx, cancel := context.WithCancel(e.ctx)
	var runErr error
	done := make(chan struct{})
	go func() { runErr = run(ctx, f); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("run did not return even after its context was cancelled")
		}
	})

	e.waitFor("the controller to lead", func() (bool, string) {
		return metrics.Leading(), "network_controller_leader is not 1"
	})
	e.create("net", "10.80.0.0/16", "10.80.0.1")
	select {
	case <-proxy.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the sync's first write never reached the proxy")
	}

	leases := e.kube.CoordinationV1().Leases(e.namespace)
	lease, err := leases.Get(e.ctx, f.leaderElection.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	usurper, now, hour := "another-replica", metav1.NewMicroTime(time.Now()), int32(3600)
	lease.Spec.HolderIdentity, lease.Spec.RenewTime, lease.Spec.LeaseDurationSeconds = &usurper, &now, &hour
	if _, err := leases.Update(e.ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	lost := time.Now()

	select {
	case <-proxy.cancelled:
		t.Logf("in-flight sync cancelled %v after the Lease was taken", time.Since(lost).Round(100*time.Millisecond))
	case <-time.After(noticeBound):
		t.Errorf("the in-flight sync was still writing %v after the Lease was taken", noticeBound)
	}
	select {
	case <-done:
		t.Logf("run returned %v after the Lease was taken", time.Since(lost).Round(100*time.Millisecond))
		if !errors.Is(runErr, leadership.ErrLeaseLost) {
			t.Errorf("run returned %v, want leadership.ErrLeaseLost", runErr)
		}
	case <-time.After(time.Until(lost.Add(exitBound))):
		t.Errorf("run had not returned %v after the Lease was taken", exitBound)
	}
	if n := proxy.heldWrites(); n != 1 {
		t.Errorf("the controller tried %d sync writes, want only the one in flight when the Lease was taken", n)
	}
}
