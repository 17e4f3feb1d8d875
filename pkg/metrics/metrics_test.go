package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/component-base/metrics/testutil"
)

func TestObserveSyncCountsResults(t *testing.T) {
	syncsTotal.Reset()
	for _, r := range []string{ResultSuccess, ResultSuccess, ResultError, ResultInvalid, ResultConflict, ResultConflict, ResultStale} {
		ObserveSync(r, time.Millisecond)
	}
	want := `
# HELP network_controller_syncs_total [ALPHA] Syncs of a Network by result: success, error (retried), stale (the cache lagged behind the controller's own write: skipped, or a 409 Conflict; retried), invalid (InvalidSpec), conflict (CIDRConflict or AttachmentConflict).
# TYPE network_controller_syncs_total counter
network_controller_syncs_total{result="conflict"} 2
network_controller_syncs_total{result="error"} 1
network_controller_syncs_total{result="invalid"} 1
network_controller_syncs_total{result="stale"} 1
network_controller_syncs_total{result="success"} 2
`
	if err := testutil.CollectAndCompare(syncsTotal, strings.NewReader(want), "network_controller_syncs_total"); err != nil {
		t.Error(err)
	}
}

// The gauge exports every status, at zero when count has none of it, so
// that a dashboard never shows an absent series for "no Network is False".
func TestNetworkCountsExportEveryStatus(t *testing.T) {
	collector := &networksCollector{count: func() map[string]int { return map[string]int{"True": 3, "Unknown": 1} }}
	want := `
# HELP network_controller_networks [ALPHA] Networks in the controller's cache by the status of their Ready condition (Unknown: not synced yet).
# TYPE network_controller_networks gauge
network_controller_networks{ready="False"} 0
network_controller_networks{ready="True"} 3
network_controller_networks{ready="Unknown"} 1
`
	if err := testutil.CustomCollectAndCompare(collector, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestUsageTotalsAreTwoGaugesWithoutLabels(t *testing.T) {
	collector := &usageCollector{totals: func() UsageTotals { return UsageTotals{Exhausted: 2, Leaked: 17} }}
	// The names as the code spells them, so that a fork renames both alike.
	leaked, exhausted := Subsystem+"_leaked_addresses", Subsystem+"_networks_addresses_exhausted"
	want := `
# HELP ` + leaked + ` [ALPHA] Addresses the Networks' status reports leaked, in all: allocated by whereabouts for pods that no longer exist.
# TYPE ` + leaked + ` gauge
` + leaked + ` 17
# HELP ` + exhausted + ` [ALPHA] Networks whose AddressesExhausted condition is True: no address left for pods.
# TYPE ` + exhausted + ` gauge
` + exhausted + ` 2
`
	if err := testutil.CustomCollectAndCompare(collector, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestSetLeader(t *testing.T) {
	SetLeader(true)
	if v, err := testutil.GetGaugeMetricValue(leader); err != nil || v != 1 || !Leading() {
		t.Errorf("after SetLeader(true): gauge %v (%v), Leading %v; want 1, true", v, err, Leading())
	}
	SetLeader(false)
	if v, err := testutil.GetGaugeMetricValue(leader); err != nil || v != 0 || Leading() {
		t.Errorf("after SetLeader(false): gauge %v (%v), Leading %v; want 0, false", v, err, Leading())
	}
}

func TestHandler(t *testing.T) {
	t.Run("metrics are served in the Prometheus text format", func(t *testing.T) {
		rec := httptest.NewRecorder()
		Handler(false).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
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
				Handler(profiling).ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				if rec.Code != want {
					t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
				}
			}
		})
	}
}
