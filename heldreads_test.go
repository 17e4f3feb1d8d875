package main

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2/ktesting"
)

// fakeServer is an API server that is away until it is told to come back:
// its round trips fail with connection refused, and its probe fails.
type fakeServer struct {
	up      atomic.Bool
	trips   atomic.Int64
	probes  atomic.Int64
	code    int // what it answers once up
	refused error
}

func newFakeServer(code int) *fakeServer {
	return &fakeServer{code: code, refused: &dialError{syscall.ECONNREFUSED}}
}

// dialError is the error a refused connection gives.
type dialError struct{ errno syscall.Errno }

func (e *dialError) Error() string { return "dial tcp 127.0.0.1:6443: " + e.errno.Error() }
func (e *dialError) Unwrap() error { return e.errno }

func (s *fakeServer) RoundTrip(req *http.Request) (*http.Response, error) {
	s.trips.Add(1)
	if !s.up.Load() {
		return nil, s.refused
	}
	return &http.Response{StatusCode: s.code, Body: http.NoBody, Request: req}, nil
}

func (s *fakeServer) probe(context.Context) bool {
	s.probes.Add(1)
	return s.up.Load()
}

// A read sent while the server is away waits for it and is sent again once
// it answers: the informer's reflector never sees the failure, so never
// backs off. Every waiting read shares one probe loop.
func TestHoldReadsWaitsForTheServer(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	h := newServerHealth(logger)
	server := newFakeServer(http.StatusOK)
	h.probe = server.probe
	held := h.holdReads(server)

	const reads = 10
	var wg sync.WaitGroup
	results := make(chan error, reads)
	for range reads {
		wg.Go(func() {
			resp, err := held.RoundTrip(request(http.MethodGet))
			if err == nil && resp.StatusCode != http.StatusOK {
				err = errors.New(resp.Status)
			}
			results <- err
		})
	}
	time.Sleep(4 * serverReadRetry)
	if trips := server.trips.Load(); trips != reads {
		t.Errorf("the reads were sent %d times while the server was away, want once each (%d)", trips, reads)
	}
	back := time.Now()
	server.up.Store(true)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Errorf("a held read failed: %v", err)
		}
	}
	if d := time.Since(back); d > 4*serverReadRetry {
		t.Errorf("the held reads took %v after the server came back, want at most %v", d, 4*serverReadRetry)
	}
	// One probe per serverReadRetry for all of them, not one per read.
	if probes := server.probes.Load(); probes > 7 {
		t.Errorf("%d probes in about %v, want one per %v shared by the %d reads", probes, 5*serverReadRetry, serverReadRetry, reads)
	}
}

// A held read ends with its context: a stopping informer is not kept.
func TestHoldReadsEndsWithTheRequest(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	h := newServerHealth(logger)
	server := newFakeServer(http.StatusOK)
	h.probe = server.probe
	ctx, cancel := context.WithTimeout(context.Background(), 3*serverReadRetry)
	defer cancel()
	_, err := h.holdReads(server).RoundTrip(request(http.MethodGet).WithContext(ctx))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a read held past its deadline returned %v, want the deadline", err)
	}
}

// Only a server that does not answer holds a read; any answer of its own,
// a refusal or 429 Too Many Requests (which client-go retries and the
// reflector backs off from, as a server shedding load wants), and every
// write, go back to the caller at once.
func TestHoldReadsPassesAnswersOn(t *testing.T) {
	tests := []struct {
		name   string
		method string
		code   int
		up     bool
	}{
		{"a read answered", http.MethodGet, http.StatusOK, true},
		{"a read refused with 403", http.MethodGet, http.StatusForbidden, true},
		{"a read told 429", http.MethodGet, http.StatusTooManyRequests, true},
		{"a write while the server is away", http.MethodPost, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			h := newServerHealth(logger)
			server := newFakeServer(tc.code)
			server.up.Store(tc.up)
			h.probe = server.probe
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := h.holdReads(server).RoundTrip(request(tc.method).WithContext(ctx))
			if tc.up && (err != nil || resp.StatusCode != tc.code) {
				t.Errorf("got %v %v, want %d at once", resp, err, tc.code)
			}
			if !tc.up && !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("got %v, want the refused connection at once", err)
			}
			if trips := server.trips.Load(); trips != 1 {
				t.Errorf("sent %d times, want once", trips)
			}
		})
	}
}

func TestServerAnswered(t *testing.T) {
	gr := schema.GroupResource{Resource: "readyz"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"success", nil, true},
		{"no response", syscall.ECONNREFUSED, false},
		{"not ready (500)", apierrors.NewInternalError(errors.New("[-]poststarthook/crd-informer-synced failed")), false},
		{"starting (503)", apierrors.NewServiceUnavailable("starting"), false},
		{"shedding load (429)", apierrors.NewTooManyRequests("busy", 1), false},
		{"forbidden (403): a server at work", apierrors.NewForbidden(gr, "", errors.New("no")), true},
		{"not found (404)", apierrors.NewNotFound(gr, ""), true},
	}
	for _, tc := range tests {
		if got := serverAnswered(tc.err); got != tc.want {
			t.Errorf("%s: serverAnswered = %v, want %v", tc.name, got, tc.want)
		}
	}
}
