package main

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/expectations"
	"github.com/samplecrd/network-controller/pkg/metrics"
	"github.com/samplecrd/network-controller/pkg/netspec"
	"github.com/samplecrd/network-controller/pkg/usage"
)

// newMacvlan returns a Macvlan Network on eth1 created at epoch.
func newMacvlan(namespace, name, cidr, gateway string) *samplecrdv1.Network {
	n := newNetwork(namespace, name, cidr, gateway, 0)
	n.Spec.Mode, n.Spec.Uplink = samplecrdv1.NetworkModeMacvlan, "eth1"
	return n
}

// poolFor returns whereabouts' IPPool of n, in its default namespace,
// with an allocation for each address, to the pod "namespace/name" given
// after it: poolFor(n, "198.18.20.10", "team-a/web-1", ...).
func poolFor(t *testing.T, n *samplecrdv1.Network, addrAndPodRef ...string) *usage.IPPool {
	t.Helper()
	spec, err := netspec.ParseSpec(n.Spec)
	if err != nil {
		t.Fatal(err)
	}
	p := &usage.IPPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: defaultWhereaboutsNamespace, Name: usage.PoolName(spec.Named(n.Namespace, n.Name)), ResourceVersion: "1"},
		Range:      spec.Subnet,
	}
	for i := 0; i+1 < len(addrAndPodRef); i += 2 {
		p.Allocations = append(p.Allocations, usage.Allocation{Addr: netip.MustParseAddr(addrAndPodRef[i]), PodRef: addrAndPodRef[i+1], IfName: "net1"})
	}
	return p
}

// withAddresses returns a copy of n whose status reports addresses and the
// AddressesExhausted condition of reason and message, which turned at
// transition.
func withAddresses(n *samplecrdv1.Network, a samplecrdv1.NetworkAddresses, reason, message string, transition metav1.Time) *samplecrdv1.Network {
	n = n.DeepCopy()
	n.Status.Addresses = &a
	status := metav1.ConditionFalse
	if reason == samplecrdv1.ReasonNoFreeAddresses {
		status = metav1.ConditionTrue
	}
	n.Status.Conditions = append(n.Status.Conditions, metav1.Condition{
		Type: samplecrdv1.ConditionAddressesExhausted, Status: status, Reason: reason, Message: message,
		ObservedGeneration: n.Generation, LastTransitionTime: transition,
	})
	return n
}

// withPods returns a copy of n whose status counts attached pods.
func withPods(n *samplecrdv1.Network, attached int32) *samplecrdv1.Network {
	n = n.DeepCopy()
	n.Status.AttachedPods = &attached
	return n
}

// runningOn returns a Running pod of namespace/name that Multus attached
// to the Network key.
func runningOn(namespace, name, key string) *corev1.Pod {
	return newPod(namespace, name, corev1.PodRunning, key, attachedTo(key))
}

// usageSyncCases are the rows of the sync table (syncHandlerCases) for
// the usage figures in status.
func usageSyncCases(t *testing.T) []syncHandlerCase {
	// A Bridge Network: pods attached, not addresses.
	blue := newNetwork("team-a", "blue", "198.18.24.0/24", "198.18.24.1", 0)
	bluePods := []*corev1.Pod{
		runningOn("team-a", "attached", "team-a/blue"),
		// Finished: it holds no sandbox, so no interface.
		newPod("team-a", "finished", corev1.PodSucceeded, "blue", attachedTo("team-a/blue")),
		// Asks for blue, but Multus has not attached it (yet).
		newPod("team-a", "starting", corev1.PodPending, "blue", ""),
		runningOn("team-a", "elsewhere", "team-a/other"),
		// Another namespace's pod, attached by namespace/name.
		runningOn("team-b", "visitor", "team-a/blue"),
	}
	// A /24 whose gateway is .1 has 253 addresses for pods.
	mv := newMacvlan("team-a", "mv", "198.18.20.0/24", "198.18.20.1")
	mvPods := []*corev1.Pod{runningOn("team-a", "web-1", "team-a/mv"), runningOn("team-a", "web-2", "team-a/mv")}
	mvPool := poolFor(t, mv, "198.18.20.10", "team-a/web-1", "198.18.20.11", "team-a/web-2")
	mvAvailable := fmt.Sprintf(MessageAddressesAvailable, 2, 253, 0)
	mvCounted := withAddresses(withPods(synced(mv), 2), samplecrdv1.NetworkAddresses{Total: 253, Allocated: 2}, samplecrdv1.ReasonAddressesAvailable, mvAvailable, metav1.NewTime(epoch))
	// A /30 whose gateway is .1 has one address for pods: .2.
	tiny := newMacvlan("team-a", "tiny", "198.18.21.0/30", "198.18.21.1")
	tinyFree := withAddresses(synced(tiny), samplecrdv1.NetworkAddresses{Total: 1}, samplecrdv1.ReasonAddressesAvailable, fmt.Sprintf(MessageAddressesAvailable, 0, 1, 0), metav1.NewTime(epoch))
	// A /28 whose gateway is .1 has 13; 12 in use is past 90 %. None of
	// the pods whereabouts allocated them for exists: all 12 are leaked.
	busy := newMacvlan("team-a", "busy", "198.18.22.0/28", "198.18.22.1")
	var busyAllocations []string
	for i := 2; i < 14; i++ {
		busyAllocations = append(busyAllocations, fmt.Sprintf("198.18.22.%d", i), fmt.Sprintf("team-a/busy-%d", i))
	}
	fresh := newMacvlan("team-a", "fresh", "198.18.23.0/24", "198.18.23.1")

	return []syncHandlerCase{
		{
			name:        "a Ready Network counts the pods Multus attached to it that have not finished, from any namespace",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{synced(blue)}, attachments: attachmentsOf(t, blue), pods: bluePods},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNetwork: []action{updateStatus(withPods(synced(blue), 2))},
		},
		{
			name:        "a Network whose status counts its pods already makes no write",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{withPods(synced(blue), 2)}, attachments: attachmentsOf(t, blue), pods: bluePods},
			key:         blue,
			wantOutcome: outcomeSuccess,
		},
		{
			name:        "a new Network gets Ready and its attached pods in one status write",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{blue}, pods: bluePods},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{createAttachment(ownedAttachment(t, blue))} },
			wantNetwork: []action{updateStatus(withPods(after(blue, synced(blue)), 2))},
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name:        "a Ready Macvlan Network gets its addresses in status: 2 of 253 allocated, AddressesAvailable",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{synced(mv)}, attachments: attachmentsOf(t, mv), pools: []*usage.IPPool{mvPool}, pods: mvPods},
			key:         mv,
			wantOutcome: outcomeSuccess,
			wantNetwork: []action{updateStatus(withAddresses(withPods(synced(mv), 2), samplecrdv1.NetworkAddresses{Total: 253, Allocated: 2}, samplecrdv1.ReasonAddressesAvailable, mvAvailable, metav1.NewTime(now)))},
		},
		{
			name:        "a Macvlan Network whose status has its figures already makes no write",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{mvCounted}, attachments: attachmentsOf(t, mv), pools: []*usage.IPPool{mvPool}, pods: mvPods},
			key:         mv,
			wantOutcome: outcomeSuccess,
		},
		{
			name:        "an address held for a pod that no longer exists is leaked",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{mvCounted}, attachments: attachmentsOf(t, mv), pools: []*usage.IPPool{mvPool}, pods: mvPods[:1]},
			key:         mv,
			wantOutcome: outcomeSuccess,
			wantNetwork: []action{updateStatus(withAddresses(withPods(synced(mv), 1), samplecrdv1.NetworkAddresses{Total: 253, Allocated: 2, Leaked: 1}, samplecrdv1.ReasonAddressesAvailable,
				fmt.Sprintf(MessageAddressesAvailable, 2, 253, 1), metav1.NewTime(epoch)))},
		},
		{
			name: "a Macvlan Network whose last address is allocated is AddressesExhausted, with a Warning Event",
			objects: fixtureObjects{networks: []*samplecrdv1.Network{tinyFree}, attachments: attachmentsOf(t, tiny), pools: []*usage.IPPool{poolFor(t, tiny, "198.18.21.2", "team-a/last")},
				pods: []*corev1.Pod{runningOn("team-a", "last", "team-a/tiny")}},
			key:         tiny,
			wantOutcome: outcomeSuccess,
			wantNetwork: []action{updateStatus(withAddresses(withPods(synced(tiny), 1), samplecrdv1.NetworkAddresses{Total: 1, Allocated: 1}, samplecrdv1.ReasonNoFreeAddresses, fmt.Sprintf(MessageNoFreeAddresses, 1, 0), metav1.NewTime(now)))},
			wantEvents:  []string{"Warning AddressesExhausted|No address for pods is free (1 in all"},
		},
		{
			name: "a Network that stays exhausted gets no second Event when its figures change",
			objects: fixtureObjects{networks: []*samplecrdv1.Network{withAddresses(withPods(synced(tiny), 1), samplecrdv1.NetworkAddresses{Total: 1, Allocated: 1}, samplecrdv1.ReasonNoFreeAddresses,
				fmt.Sprintf(MessageNoFreeAddresses, 1, 0), metav1.NewTime(epoch))}, attachments: attachmentsOf(t, tiny), pools: []*usage.IPPool{poolFor(t, tiny, "198.18.21.2", "team-a/last")}},
			key:         tiny,
			wantOutcome: outcomeSuccess,
			wantNetwork: []action{updateStatus(withAddresses(synced(tiny), samplecrdv1.NetworkAddresses{Total: 1, Allocated: 1, Leaked: 1}, samplecrdv1.ReasonNoFreeAddresses, fmt.Sprintf(MessageNoFreeAddresses, 1, 1), metav1.NewTime(epoch)))},
		},
		{
			name:        "a Macvlan Network with 12 of 13 addresses allocated is at the high-water mark, not exhausted",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{synced(busy)}, attachments: attachmentsOf(t, busy), pools: []*usage.IPPool{poolFor(t, busy, busyAllocations...)}},
			key:         busy,
			wantOutcome: outcomeSuccess,
			wantNetwork: []action{updateStatus(withAddresses(synced(busy), samplecrdv1.NetworkAddresses{Total: 13, Allocated: 12, Leaked: 12}, samplecrdv1.ReasonHighWater, fmt.Sprintf(MessageHighWater, 12, 13, 1, 12), metav1.NewTime(now)))},
		},
		{
			name:        "a new Macvlan Network gets Ready and its addresses in one status write",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{fresh}},
			key:         fresh,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{createAttachment(ownedAttachment(t, fresh))} },
			wantNetwork: []action{updateStatus(withAddresses(after(fresh, synced(fresh)), samplecrdv1.NetworkAddresses{Total: 253}, samplecrdv1.ReasonAddressesAvailable, fmt.Sprintf(MessageAddressesAvailable, 0, 253, 0), metav1.NewTime(now)))},
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name:        "without whereabouts' IPPools a new Macvlan Network is Ready and reports no addresses",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{fresh}, noPools: true},
			key:         fresh,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{createAttachment(ownedAttachment(t, fresh))} },
			wantNetwork: []action{updateStatus(after(fresh, synced(fresh)))},
			wantEvents:  []string{"Normal Synced"},
		},
	}
}

// attachmentsOf returns the attachment the controller made for n, as its
// cache holds it.
func attachmentsOf(t *testing.T, n *samplecrdv1.Network) []*nadv1.NetworkAttachmentDefinition {
	return []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, n)}
}

// TestUsageWritesAreThrottled: figures that change again inside the
// window are not written at once; the Network comes back when the window
// closes, and that sync writes the figures of its moment.
func TestUsageWritesAreThrottled(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	const window = 100 * time.Millisecond
	mv := newMacvlan("team-a", "mv", "198.18.20.0/24", "198.18.20.1")
	counted := withAddresses(synced(mv), samplecrdv1.NetworkAddresses{Total: 253, Allocated: 2}, samplecrdv1.ReasonAddressesAvailable,
		fmt.Sprintf(MessageAddressesAvailable, 2, 253, 0), metav1.NewTime(epoch))
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{counted}, attachments: attachmentsOf(t, mv),
		pools: []*usage.IPPool{poolFor(t, mv, "198.18.20.10", "team-a/a", "198.18.20.11", "team-a/b")}, usageWindow: window})
	key := cache.MetaObjectToName(mv)
	networks := f.controller.networksIndexer
	// allocate puts the pool with these allocations in the cache and syncs.
	allocate := func(addrAndPodRef ...string) {
		t.Helper()
		if err := f.controller.ipPools.informer.GetIndexer().Update(poolFor(t, mv, addrAndPodRef...)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.controller.syncHandler(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	// written returns the usage the status writes so far hold, and puts
	// the last one in the cache, as its watch event would.
	written := func() []int64 {
		t.Helper()
		var out []int64
		var last *samplecrdv1.Network
		for _, a := range recorded(f.client.Actions()) {
			if a.verb == "update" && a.subresource == "status" {
				last = a.object.(*samplecrdv1.Network).DeepCopy()
				out = append(out, last.Status.Addresses.Allocated)
			}
		}
		if last != nil {
			if err := networks.Update(last); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}

	allocate("198.18.20.10", "team-a/a", "198.18.20.11", "team-a/b", "198.18.20.12", "team-a/c")
	if got := written(); !slices.Equal(got, []int64{3}) {
		t.Fatalf("after a first change: writes of allocated %v, want [3]", got)
	}
	allocate("198.18.20.10", "team-a/a", "198.18.20.11", "team-a/b", "198.18.20.12", "team-a/c", "198.18.20.13", "team-a/d")
	allocate("198.18.20.10", "team-a/a", "198.18.20.11", "team-a/b", "198.18.20.12", "team-a/c", "198.18.20.13", "team-a/d", "198.18.20.14", "team-a/e")
	if got := written(); !slices.Equal(got, []int64{3}) {
		t.Fatalf("two more changes inside the window: writes of allocated %v, want still [3]", got)
	}
	// The deferred sync: the key comes back once the window has passed.
	deadline := time.Now().Add(5 * time.Second)
	for f.controller.workqueue.Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the Network was not queued again when its window closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.clock.SetTime(now.Add(window))
	if _, err := f.controller.syncHandler(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := written(); !slices.Equal(got, []int64{3, 5}) {
		t.Fatalf("once the window closed: writes of allocated %v, want [3 5]: the figures of that moment", got)
	}
	// Nothing changed since: nothing is written, nothing queued.
	if _, err := f.controller.syncHandler(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := written(); len(got) != 2 {
		t.Fatalf("a sync with nothing changed wrote: %v", got)
	}
}

// TestUsageTotals: the aggregate metrics sum the cached Networks' status:
// how many are exhausted, how many addresses are leaked in all.
func TestUsageTotals(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	full := withAddresses(synced(newMacvlan("a", "full", "198.18.21.0/30", "198.18.21.1")), samplecrdv1.NetworkAddresses{Total: 1, Allocated: 1, Leaked: 1},
		samplecrdv1.ReasonNoFreeAddresses, "", metav1.NewTime(epoch))
	busy := withAddresses(synced(newMacvlan("a", "busy", "198.18.22.0/28", "198.18.22.1")), samplecrdv1.NetworkAddresses{Total: 13, Allocated: 12, Leaked: 3},
		samplecrdv1.ReasonHighWater, "", metav1.NewTime(epoch))
	bridge := synced(newNetwork("a", "bridge", "198.18.23.0/24", "198.18.23.1", 0))
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{full, busy, bridge}})
	if got, want := f.controller.UsageTotals(), (metrics.UsageTotals{Exhausted: 1, Leaked: 4}); got != want {
		t.Errorf("UsageTotals() = %+v, want %+v", got, want)
	}
}

// TestSkippedSyncIsQueuedAgainByTheEchoItWaitedFor: a pod event can queue
// a Network between the controller's status write and that write's echo
// in the cache. The sync it starts is skipped (the cache is behind); the
// echo, which otherwise queues nothing, must queue the Network again, or
// the pod's change waits for expectations.TTL (30 s).
func TestSkippedSyncIsQueuedAgainByTheEchoItWaitedFor(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	blue := synced(newNetwork("team-a", "blue", "198.18.24.0/24", "198.18.24.1", 0))
	key := cache.MetaObjectToName(blue)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}, attachments: attachmentsOf(t, blue),
		expect: func(w *expectations.Writes) { w.WroteStatus(key, "2") }})
	if outcome, err := f.controller.syncHandler(ctx, key); err != nil || outcome != outcomeStale {
		t.Fatalf("a sync on a cache behind the controller's write: %q, %v; want it skipped as stale", outcome, err)
	}
	echo := blue.DeepCopy()
	echo.ResourceVersion = "2"
	if err := f.controller.networksIndexer.Update(echo); err != nil {
		t.Fatal(err)
	}
	f.controller.updateNetwork(blue, echo)
	if got := f.controller.workqueue.Len(); got != 1 {
		t.Errorf("after the echo of the write a skipped sync waited for, %d keys are queued; want the Network's", got)
	}

	// An echo no sync waited for queues nothing: the sync that wrote saw
	// everything.
	f.controller.workqueue.Get()
	f.controller.workqueue.Done(key)
	f.controller.expectations.WroteStatus(key, "3")
	again := echo.DeepCopy()
	again.ResourceVersion = "3"
	f.controller.updateNetwork(echo, again)
	if got := f.controller.workqueue.Len(); got != 0 {
		t.Errorf("the echo of a write no sync waited for queued %d keys; want none", got)
	}
}
