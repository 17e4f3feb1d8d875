package main

// An API server outage in the middle of a burst, against the real API
// server: envtest's, killed and started again.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/samplecrd/network-controller/internal/apiserverproc"
	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// Sizes and bounds of the outage test. They are correctness bounds with
// a wide margin, not a benchmark (make bench measures the drain rate):
// with client-go's default rate limiter the backlog left when the server
// came back drained at about 10 Networks per second, so 500 of them took
// about a minute; now they take a few seconds after the server's own
// start-up.
const (
	// outageNetworks is the burst; the server goes away once
	// outageReadyFirst of them are Ready.
	outageNetworks   = 600
	outageReadyFirst = 60
	// outageLength is how long the server stays away.
	outageLength = 10 * time.Second
	// outageDrainBound is how long after the server is started again
	// every Network must be Ready; it includes the server's own start-up
	// (a few seconds).
	outageDrainBound = 30 * time.Second
	// outageRequestBound bounds the requests the controller may send while
	// the server is away: its probes (one sync per half second at most),
	// its informers' and Event writers' own retries, and the syncs in
	// flight when it went. A retry per failing key, 10 per second shared as
	// client-go's default limiter allows, sends more.
	outageRequestBound = 150
	// outageWorkers is the binary's default.
	outageWorkers = 32
)

// TestIntegrationBacklogDrainsOnceTheServerIsBack kills the API server in
// the middle of a burst, keeps it away for outageLength and starts it
// again: every Network must be Ready within outageDrainBound of that, and
// the controller must not have hammered the server while it was away.
func TestIntegrationBacklogDrainsOnceTheServerIsBack(t *testing.T) {
	e := newEnv(t)
	t.Cleanup(func() {
		// Tests after this one want the admission policy enforced again.
		if err := waitForPolicy(apiserver); err != nil {
			t.Error(err)
		}
	})
	for i := range outageNetworks {
		e.create(fmt.Sprintf("net-%03d", i), fmt.Sprintf("10.90.%d.%d/30", i/64, i%64*4), fmt.Sprintf("10.90.%d.%d", i/64, i%64*4+1))
	}
	ctrl := e.startControllerWithWorkers(Options{}, outageWorkers)
	e.waitFor(fmt.Sprintf("%d Networks to be Ready", outageReadyFirst), func() (bool, string) {
		ready, err := e.readyNetworks()
		return ready >= outageReadyFirst, fmt.Sprint(ready, err)
	})

	if err := apiserverproc.KillByCertDir(apiserverCertDir); err != nil {
		t.Fatal(err)
	}
	if err := controlPlane.ControlPlane.APIServer.Stop(); err != nil {
		t.Fatal(err)
	}
	before := ctrl.requests.Load()
	time.Sleep(outageLength)
	sent := ctrl.requests.Load() - before
	restarted := time.Now()
	if err := controlPlane.ControlPlane.APIServer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("the API server was away for %v and took %v to start; the controller sent %d requests meanwhile",
		outageLength, time.Since(restarted).Round(time.Millisecond), sent)
	if sent > outageRequestBound {
		t.Errorf("the controller sent %d requests to the API server while it was away, want at most %d", sent, outageRequestBound)
	}

	deadline := restarted.Add(outageDrainBound)
	for {
		ready, err := e.readyNetworks()
		if err == nil && ready == outageNetworks {
			t.Logf("all %d Networks Ready %v after the API server was started again", outageNetworks, time.Since(restarted).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Networks Ready %v after the API server was started again (err %v); want all", ready, outageNetworks, outageDrainBound, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readyNetworks counts the Ready Networks in the test's namespace.
func (e *env) readyNetworks() (int, error) {
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	list, err := e.networks.SamplecrdV1().Networks(e.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	ready := 0
	for _, n := range list.Items {
		if meta.IsStatusConditionTrue(n.Status.Conditions, samplecrdv1.ConditionReady) {
			ready++
		}
	}
	return ready, nil
}
