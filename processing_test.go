package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/serverhealth"
)

// tripServerHealth makes h count the API server as away, as an outage does:
// writes in a row that get no answer.
func tripServerHealth(t *testing.T, h *serverhealth.Health) {
	t.Helper()
	unanswered := h.Wrap(roundTripperFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
	}))
	for range 10 {
		_, _ = unanswered.RoundTrip(httptest.NewRequest(http.MethodPut, "https://apiserver/apis/samplecrd.k8s.io/v1/namespaces/default/networks/blue/status", nil))
	}
	if h.Up() {
		t.Fatal("the server still counts as up after ten unanswered writes")
	}
}

// TestServerErrorsBackOffPerKeyOnlyWhileTheServerAnswers: a key that gets
// 503s while the server otherwise answers backs off on its own; while the
// server is away, keys wait with the workers and their backoff stays.
func TestServerErrorsBackOffPerKeyOnlyWhileTheServerAnswers(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	key := cache.MetaObjectToName(blue)
	for _, tc := range []struct {
		name         string
		away         bool
		wantRequeues int
	}{
		{"the server answers others: the key backs off", false, 1},
		{"the server is away: the key waits with the workers", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
			f.nadclient.PrependReactor("create", attachmentResource, func(core.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewServiceUnavailable("busy")
			})
			if tc.away {
				tripServerHealth(t, f.controller.serverHealth)
			}
			f.controller.workqueue.Add(key)
			f.controller.processNextWorkItem(ctx, ctx)
			if got := f.controller.workqueue.NumRequeues(key); got != tc.wantRequeues {
				t.Errorf("NumRequeues = %d, want %d", got, tc.wantRequeues)
			}
			if tc.away && f.controller.workqueue.Len() != 1 {
				t.Errorf("queue length %d, want the key back at once", f.controller.workqueue.Len())
			}
		})
	}
}
