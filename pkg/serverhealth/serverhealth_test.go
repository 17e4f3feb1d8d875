package serverhealth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	testclock "k8s.io/utils/clock/testing"
)

// request returns a request with method, as the controller's clients send.
// now is when the tests' fake clocks start.
var now = time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)

func request(method string) *http.Request {
	return httptest.NewRequest(method, "https://apiserver/apis/samplecrd.k8s.io/v1/namespaces/default/networks/blue/status", nil)
}

func TestOutcomeOf(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		req  *http.Request
		code int
		err  error
		want requestOutcome
	}{
		{"a write answered with 200", request(http.MethodPut), http.StatusOK, nil, answered},
		{"a write refused with 409", request(http.MethodPut), http.StatusConflict, nil, answered},
		{"a write refused with 403", request(http.MethodPost), http.StatusForbidden, nil, answered},
		{"a write without a response", request(http.MethodPost), 0, errors.New("connection refused"), unanswered},
		{"a write throttled with 429", request(http.MethodPatch), http.StatusTooManyRequests, nil, unanswered},
		{"a write with 503", request(http.MethodPut), http.StatusServiceUnavailable, nil, unanswered},
		{"a write with 504", request(http.MethodDelete), http.StatusGatewayTimeout, nil, unanswered},
		{"a write failing with 500 may be the request's own", request(http.MethodPut), http.StatusInternalServerError, nil, neutral},
		{"a read says nothing, answered or not", request(http.MethodGet), 0, errors.New("connection refused"), neutral},
		{"a read throttled says nothing", request(http.MethodGet), http.StatusTooManyRequests, nil, neutral},
		{"a cancelled write says nothing", request(http.MethodPut).WithContext(cancelled), 0, context.Canceled, neutral},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if tc.err == nil {
				resp = &http.Response{StatusCode: tc.code}
			}
			if got := outcomeOf(tc.req, resp, tc.err); got != tc.want {
				t.Errorf("outcomeOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestServerUnavailable(t *testing.T) {
	gr := schema.GroupResource{Group: "samplecrd.k8s.io", Resource: "networks"}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"no response", errors.New("dial tcp: connect: connection refused"), true},
		{"429", apierrors.NewTooManyRequests("slow down", 1), true},
		{"503", apierrors.NewServiceUnavailable("starting"), true},
		{"504", apierrors.NewTimeoutError("etcd", 1), true},
		{"500", apierrors.NewInternalError(errors.New("webhook failed")), false},
		{"409", apierrors.NewConflict(gr, "blue", errors.New("stale")), false},
		{"403", apierrors.NewForbidden(gr, "blue", errors.New("quota")), false},
		{"cancelled", context.Canceled, false},
		{"wrapped", errors.Join(errors.New("updating status"), apierrors.NewServiceUnavailable("x")), true},
	} {
		if got := Unavailable(tc.err); got != tc.want {
			t.Errorf("%s: Unavailable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestServerHealthTripsOnFailedWritesInARowOnly(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	h := New(klog.FromContext(ctx))
	for range 10 {
		for range serverTripFailures - 1 {
			h.observe(unanswered)
		}
		if !h.Up() {
			t.Fatalf("the server counts as away after %d failed writes", serverTripFailures-1)
		}
		h.observe(answered)
	}
	for range serverTripFailures {
		h.observe(unanswered)
	}
	if h.Up() {
		t.Fatalf("the server still counts as up after %d failed writes in a row", serverTripFailures)
	}
	h.observe(answered)
	if !h.Up() {
		t.Fatal("an answer did not bring the server back")
	}
}

func TestServerHealthLetsOneProbeThroughPerDelay(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	clk := testclock.NewFakeClock(now)
	h := newWithClock(klog.FromContext(ctx), clk)
	for range serverTripFailures {
		h.observe(unanswered)
	}
	const workers = 8
	probes := make(chan struct{}, 100)
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var running sync.WaitGroup
	for range workers {
		running.Go(func() {
			for {
				probed, err := h.Wait(waitCtx)
				if err != nil {
					return
				}
				h.observe(unanswered) // the probe's write fails
				probed()
				probes <- struct{}{}
			}
		})
	}
	// Ten seconds away: delays of 100, 200, 400 ms and then 500 ms, give or
	// take a fifth, are about 20 probes, not a retry per worker and step.
	for range 1000 {
		waitForWaiters(t, clk)
		clk.Step(10 * time.Millisecond)
	}
	waitForWaiters(t, clk)
	if n := len(probes); n < 16 || n > 26 {
		t.Errorf("%d probes in 10 s while the server was away, want about 20", n)
	}
	// Stop the probing workers first: their failing writes would count
	// as the server gone again right after it answered.
	cancel()
	running.Wait()
	h.observe(answered)
	released := make(chan struct{})
	go func() {
		defer close(released)
		for range workers {
			if _, err := h.Wait(ctx); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Error("workers still wait after the server answered")
	}
}

// waitForWaiters waits until the workers are all waiting on clk again.
func waitForWaiters(t *testing.T, clk *testclock.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("no worker waits on the clock")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestServerHealthHandsOnATurnThatAskedNothing(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	clk := testclock.NewFakeClock(now)
	h := newWithClock(klog.FromContext(ctx), clk)
	for range serverTripFailures {
		h.observe(unanswered)
	}
	clk.Step(2 * serverProbeFirstDelay)
	probed, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	probed() // the sync found nothing to do and asked the server nothing
	// The next worker probes without the clock moving on.
	next := make(chan error, 1)
	go func() { _, err := h.Wait(ctx); next <- err }()
	select {
	case err := <-next:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next worker waits for a turn after a probe that asked nothing")
	}
}
