package main

import (
	"maps"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

func TestNetworksByReadyStatus(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ready := synced(newNetwork("a", "ready", "10.0.0.0/8", "10.0.0.1", 0))
	conflicted := withStatus(newNetwork("b", "conflicted", "10.1.0.0/16", "10.1.0.1", time.Minute),
		metav1.ConditionFalse, samplecrdv1.ReasonCIDRConflict, "", "")
	fresh := newNetwork("c", "fresh", "172.16.0.0/12", "172.16.0.1", 0)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{ready, conflicted, fresh}})

	want := map[string]int{"True": 1, "False": 1, "Unknown": 1}
	if got := f.controller.NetworksByReadyStatus(); !maps.Equal(got, want) {
		t.Errorf("NetworksByReadyStatus() = %v, want %v", got, want)
	}
}
