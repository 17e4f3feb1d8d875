package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/klog/v2/ktesting"
)

func TestProbes(t *testing.T) {
	tests := []struct {
		name     string
		ready    error
		path     string
		wantCode int
		wantBody string
	}{
		{"readyz fails, saying why, until the controller is ready", errAttachmentAPIMissing, "/readyz", http.StatusServiceUnavailable, "kubectl create -f"},
		{"readyz succeeds once it is", nil, "/readyz", http.StatusOK, "ok"},
		{"healthz succeeds without leader election, ready or not", errAttachmentAPIMissing, "/healthz", http.StatusOK, "ok"},
		{"unknown paths are not found", nil, "/debug", http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			probeHandler(func() error { return tc.ready }, nil).ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != tc.wantCode || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("GET %s = %d %q, want %d with %q", tc.path, rec.Code, rec.Body.String(), tc.wantCode, tc.wantBody)
			}
		})
	}
	t.Run("healthz fails for good once the Lease was lost", func(t *testing.T) {
		health := newLeaderHealth()
		handler := probeHandler(func() error { return nil }, health)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("before: GET /healthz = %d %q, want 200", rec.Code, rec.Body.String())
		}
		health.lost.Store(true)
		rec = httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), errLeaseLost.Error()) {
			t.Errorf("after the loss: GET /healthz = %d %q, want 500 naming the loss", rec.Code, rec.Body.String())
		}
	})
	t.Run("healthz includes the leader election watchdog", func(t *testing.T) {
		// An adaptor not yet attached to an elector reports healthy; the
		// e2e test covers a real elector.
		watchdog := leaderelection.NewLeaderHealthzAdaptor(time.Second)
		rec := httptest.NewRecorder()
		probeHandler(func() error { return nil }, watchdog).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET /healthz = %d %q", rec.Code, rec.Body.String())
		}
	})
}

func TestServeHTTP(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	t.Run("0 disables the server", func(t *testing.T) {
		stop, err := serveHTTP(ctx, "test", "0", http.NotFoundHandler())
		if err != nil {
			t.Fatal(err)
		}
		stop()
	})
	t.Run("a busy address fails at once with the server's name", func(t *testing.T) {
		busy := httptest.NewServer(http.NotFoundHandler())
		defer busy.Close()
		_, err := serveHTTP(ctx, "metrics", strings.TrimPrefix(busy.URL, "http://"), http.NotFoundHandler())
		if err == nil || !strings.Contains(err.Error(), "metrics server") {
			t.Errorf("err = %v, want a metrics server error", err)
		}
	})
	t.Run("metrics are served in the Prometheus text format", func(t *testing.T) {
		rec := httptest.NewRecorder()
		metricsHandler(false).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "# TYPE network_controller_syncs_total counter") {
			t.Errorf("GET /metrics = %d, body lacks network_controller_syncs_total:\n%.500s", rec.Code, rec.Body.String())
		}
	})
	for _, profiling := range []bool{false, true} {
		t.Run(fmt.Sprintf("pprof is served only with --profiling=%v", profiling), func(t *testing.T) {
			want := http.StatusNotFound
			if profiling {
				want = http.StatusOK
			}
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
				rec := httptest.NewRecorder()
				metricsHandler(profiling).ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				if rec.Code != want {
					t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
				}
			}
		})
	}
}
