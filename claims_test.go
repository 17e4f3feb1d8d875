package main

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// TestHoldsRange is the one rule for "does this Network hold its range":
// a valid CIDR, permitted by its namespace's allowance, not reserved, and
// no older overlapping Network that itself claims it.
func TestHoldsRange(t *testing.T) {
	at := func(ns, name, cidr, gateway string, sec int) *samplecrdv1.Network {
		return newNetwork(ns, name, cidr, gateway, time.Duration(sec)*time.Second)
	}
	self := at("team-a", "self", "198.18.8.0/24", "198.18.8.1", 10)
	teamA := allowingNamespace("team-a", "198.18.0.0/16")
	tests := []struct {
		name       string
		self       *samplecrdv1.Network
		others     []*samplecrdv1.Network
		namespaces []*corev1.Namespace
		// uncached are Networks whose namespace the cache does not hold.
		uncached          []*samplecrdv1.Network
		reserved          []netip.Prefix
		allowUnannotated  bool
		wantHolds         bool
		wantReason        string
		wantMessage       string // a part of the message
		wantNotCachedYet  bool
		selfNotCachedYet  bool
		wantPrefixInvalid bool
	}{
		{name: "a permitted Network alone holds its range", self: self, namespaces: []*corev1.Namespace{teamA}, wantHolds: true},
		{name: "an invalid CIDR holds nothing, and the spec's error says why", self: at("team-a", "self", "198.18.8.1/24", "198.18.8.2", 10),
			namespaces: []*corev1.Namespace{teamA}, wantPrefixInvalid: true},
		{name: "the rest of the spec does not decide: excludeRanges that leave no address keep the range held",
			self: exhausted(at("team-a", "self", "198.18.8.0/30", "198.18.8.1", 10)), namespaces: []*corev1.Namespace{teamA}, wantHolds: true},
		{name: "outside the namespace's allowance: NotPermitted", self: self,
			namespaces: []*corev1.Namespace{allowingNamespace("team-a", "198.19.0.0/16")},
			wantReason: samplecrdv1.ReasonNotPermitted, wantMessage: "spec.cidr 198.18.8.0/24 is not inside"},
		{name: "a namespace without an allowance permits nothing", self: self,
			namespaces: []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}}, wantReason: samplecrdv1.ReasonNotPermitted},
		{name: "a namespace without an allowance permits everything with --allow-unannotated-namespaces", self: self,
			namespaces: []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}}, allowUnannotated: true, wantHolds: true},
		{name: "overlapping a reserved range: ReservedRange", self: self, namespaces: []*corev1.Namespace{teamA},
			reserved: []netip.Prefix{netip.MustParsePrefix("198.18.8.128/25")}, wantReason: samplecrdv1.ReasonReservedRange, wantMessage: "198.18.8.128/25"},
		{name: "an older overlapping Network that holds its claim: CIDRConflict naming it", self: self,
			others: []*samplecrdv1.Network{at("team-b", "older", "198.18.0.0/16", "198.18.0.1", 5)}, namespaces: []*corev1.Namespace{teamA},
			wantReason: samplecrdv1.ReasonCIDRConflict, wantMessage: "of Network team-b/older"},
		{name: "an older overlapping Network with an invalid gateway still claims its CIDR", self: self,
			others:     []*samplecrdv1.Network{at("team-b", "older", "198.18.8.0/24", "10.0.0.1", 5)},
			namespaces: []*corev1.Namespace{teamA}, wantReason: samplecrdv1.ReasonCIDRConflict},
		{name: "an older overlapping Network being deleted still claims its CIDR", self: self,
			others:     []*samplecrdv1.Network{terminating(at("team-b", "older", "198.18.8.0/24", "198.18.8.1", 5))},
			namespaces: []*corev1.Namespace{teamA}, wantReason: samplecrdv1.ReasonCIDRConflict},
		{name: "an older overlapping Network its namespace does not permit claims nothing", self: self,
			others:     []*samplecrdv1.Network{at("team-b", "older", "198.18.0.0/16", "198.18.0.1", 5)},
			namespaces: []*corev1.Namespace{teamA, allowingNamespace("team-b", "198.19.0.0/16")}, wantHolds: true},
		{name: "an older overlapping Network that overlaps a reserved range claims nothing", self: self,
			others:     []*samplecrdv1.Network{at("team-b", "older", "198.18.0.0/16", "198.18.0.1", 5)},
			namespaces: []*corev1.Namespace{teamA}, reserved: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/28")}, wantHolds: true},
		{name: "an older overlapping Network whose namespace is not cached yet counts", self: self,
			uncached:   []*samplecrdv1.Network{at("team-c", "older", "198.18.0.0/16", "198.18.0.1", 5)},
			namespaces: []*corev1.Namespace{teamA}, wantReason: samplecrdv1.ReasonCIDRConflict},
		{name: "a younger overlapping Network does not block", self: self,
			others: []*samplecrdv1.Network{at("team-b", "younger", "198.18.0.0/16", "198.18.0.1", 20)}, namespaces: []*corev1.Namespace{teamA}, wantHolds: true},
		{name: "the Network's own namespace not cached yet leaves the answer open", self: self, selfNotCachedYet: true, wantNotCachedYet: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			networks := tc.others
			if !tc.selfNotCachedYet {
				networks = append(networks, tc.self)
			}
			f := newFixture(t, ctx, fixtureObjects{networks: networks, namespaces: tc.namespaces, reserved: tc.reserved})
			f.controller.opts.AllowUnannotatedNamespaces = tc.allowUnannotated
			for _, n := range tc.uncached {
				if err := f.controller.networksIndexer.Add(n); err != nil {
					t.Fatal(err)
				}
			}
			if tc.selfNotCachedYet {
				if err := f.controller.networksIndexer.Add(tc.self); err != nil {
					t.Fatal(err)
				}
			}

			v, err := f.controller.holdsRange(tc.self)
			if tc.wantNotCachedYet {
				if !errors.Is(err, errNamespaceNotCached) {
					t.Fatalf("err = %v, want errNamespaceNotCached", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Holds != tc.wantHolds || v.Reason != tc.wantReason || !strings.Contains(v.Message, tc.wantMessage) {
				t.Errorf("verdict %+v, want holds %v, reason %q, message containing %q", v, tc.wantHolds, tc.wantReason, tc.wantMessage)
			}
			if v.Prefix.IsValid() == tc.wantPrefixInvalid {
				t.Errorf("prefix %v, want valid %v", v.Prefix, !tc.wantPrefixInvalid)
			}
			if !v.Holds && tc.wantReason != "" && v.Message == "" {
				t.Error("a Network that does not hold its range gets no message")
			}
		})
	}
}
