package main

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2/ktesting"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

func TestRecordSyncCountsOutcomes(t *testing.T) {
	syncsTotal.Reset()
	for _, o := range []syncOutcome{outcomeSuccess, outcomeDeleted, outcomeError, outcomeInvalid, outcomeConflict, outcomeConflict, outcomeStale} {
		recordSync(o, time.Millisecond)
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

func TestNetworksCollectorCountsByReadyStatus(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ready := synced(newNetwork("a", "ready", "10.0.0.0/8", "10.0.0.1", 0))
	conflicted := withStatus(newNetwork("b", "conflicted", "10.1.0.0/16", "10.1.0.1", time.Minute),
		metav1.ConditionFalse, samplecrdv1.ReasonCIDRConflict, "", "")
	fresh := newNetwork("c", "fresh", "172.16.0.0/12", "172.16.0.1", 0)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{ready, conflicted, fresh}})

	want := `
# HELP network_controller_networks [ALPHA] Networks in the controller's cache by the status of their Ready condition (Unknown: not synced yet).
# TYPE network_controller_networks gauge
network_controller_networks{ready="False"} 1
network_controller_networks{ready="True"} 1
network_controller_networks{ready="Unknown"} 1
`
	if err := testutil.CustomCollectAndCompare(&networksCollector{lister: f.controller.networksLister}, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
