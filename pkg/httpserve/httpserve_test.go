package httpserve

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/klog/v2/ktesting"
)

// notReady is what a controller's readiness says while it waits for an API.
var notReady = errors.New("the API server does not serve widgets: kubectl create -f widgets-crd.yaml")

func TestProbes(t *testing.T) {
	tests := []struct {
		name     string
		ready    error
		path     string
		wantCode int
		wantBody string
	}{
		{"readyz fails, saying why, until the controller is ready", notReady, "/readyz", http.StatusServiceUnavailable, "kubectl create -f"},
		{"readyz succeeds once it is", nil, "/readyz", http.StatusOK, "ok"},
		{"healthz succeeds without leader election, ready or not", notReady, "/healthz", http.StatusOK, "ok"},
		{"unknown paths are not found", nil, "/debug", http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Probes(func() error { return tc.ready }, nil).ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != tc.wantCode || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("GET %s = %d %q, want %d with %q", tc.path, rec.Code, rec.Body.String(), tc.wantCode, tc.wantBody)
			}
		})
	}
	t.Run("healthz fails with the check, naming its error", func(t *testing.T) {
		check := &failingCheck{}
		handler := Probes(func() error { return nil }, check)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("before: GET /healthz = %d %q, want 200", rec.Code, rec.Body.String())
		}
		check.err = errors.New("leader election lost")
		rec = httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), check.err.Error()) {
			t.Errorf("after the failure: GET /healthz = %d %q, want 500 naming it", rec.Code, rec.Body.String())
		}
	})
	t.Run("healthz includes the leader election watchdog", func(t *testing.T) {
		// An adaptor not yet attached to an elector reports healthy; the
		// e2e test covers a real elector.
		watchdog := leaderelection.NewLeaderHealthzAdaptor(time.Second)
		rec := httptest.NewRecorder()
		Probes(func() error { return nil }, watchdog).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET /healthz = %d %q", rec.Code, rec.Body.String())
		}
	})
}

func TestServeHTTP(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	t.Run("0 disables the server", func(t *testing.T) {
		stop, err := Serve(ctx, "test", "0", http.NotFoundHandler())
		if err != nil {
			t.Fatal(err)
		}
		stop()
	})
	t.Run("a busy address fails at once with the server's name", func(t *testing.T) {
		busy := httptest.NewServer(http.NotFoundHandler())
		defer busy.Close()
		_, err := Serve(ctx, "metrics", strings.TrimPrefix(busy.URL, "http://"), http.NotFoundHandler())
		if err == nil || !strings.Contains(err.Error(), "metrics server") {
			t.Errorf("err = %v, want a metrics server error", err)
		}
	})

}

// failingCheck is a /healthz check that fails with err once it is set.
type failingCheck struct{ err error }

func (c *failingCheck) Name() string                { return "failing" }
func (c *failingCheck) Check(_ *http.Request) error { return c.err }
