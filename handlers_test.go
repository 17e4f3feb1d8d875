package main

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/overlap"
	"github.com/samplecrd/network-controller/pkg/tenancy"
)

// queued empties the controller's queue and returns the keys it held, sorted.
func queued(c *Controller) []string {
	var keys []string
	for c.workqueue.Len() > 0 {
		key, _ := c.workqueue.Get()
		keys = append(keys, key.String())
		c.workqueue.Done(key)
	}
	slices.Sort(keys)
	return keys
}

func TestNetworkEventHandlers(t *testing.T) {
	old := newNetwork("default", "old", "10.0.0.0/8", "10.0.0.1", 0)
	mid := newNetwork("other", "mid", "10.1.0.0/16", "10.1.0.1", time.Minute)
	young := newNetwork("default", "young", "10.1.2.0/24", "10.1.2.1", 2*time.Minute)
	elsewhere := newNetwork("default", "elsewhere", "172.16.0.0/12", "172.16.0.1", 3*time.Minute)
	all := []*samplecrdv1.Network{old, mid, young, elsewhere}

	bumped := func(n *samplecrdv1.Network, cidr, gateway string) *samplecrdv1.Network {
		n = n.DeepCopy()
		n.ResourceVersion = "2"
		n.Spec.CIDR, n.Spec.Gateway = cidr, gateway
		return n
	}

	tests := []struct {
		name string
		fire func(c *Controller)
		want []string
	}{
		{
			name: "an added Network is enqueued with the younger Networks it overlaps",
			fire: func(c *Controller) { c.addNetwork(old, false) },
			want: []string{"default/old", "default/young", "other/mid"},
		},
		{
			name: "an added Network does not enqueue older overlapping ones",
			fire: func(c *Controller) { c.addNetwork(young, false) },
			want: []string{"default/young"},
		},
		{
			// Every Network of the first list gets its own add, and no sync
			// runs before the cache holds them all.
			name: "an added Network from the informer's first list enqueues only itself",
			fire: func(c *Controller) { c.addNetwork(old, true) },
			want: []string{"default/old"},
		},
		{
			name: "a resync update (same resourceVersion) enqueues nothing",
			fire: func(c *Controller) { c.updateNetwork(old, old.DeepCopy()) },
			want: nil,
		},
		{
			name: "an update that keeps the CIDR enqueues only the Network",
			fire: func(c *Controller) { c.updateNetwork(mid, bumped(mid, mid.Spec.CIDR, "10.1.0.2")) },
			want: []string{"other/mid"},
		},
		{
			name: "a CIDR change enqueues the younger Networks overlapping the old or the new CIDR",
			fire: func(c *Controller) { c.updateNetwork(mid, bumped(mid, "172.16.0.0/16", "172.16.0.1")) },
			want: []string{"default/elsewhere", "default/young", "other/mid"},
		},
		{
			name: "a deleted Network enqueues itself and the younger Networks it was blocking",
			fire: func(c *Controller) { c.deleteNetwork(mid) },
			want: []string{"default/young", "other/mid"},
		},
		{
			name: "a tombstone is unwrapped like a deleted Network",
			fire: func(c *Controller) {
				c.deleteNetwork(cache.DeletedFinalStateUnknown{Key: "other/mid", Obj: mid})
			},
			want: []string{"default/young", "other/mid"},
		},
		{
			name: "a tombstone holding something else is ignored",
			fire: func(c *Controller) { c.deleteNetwork(cache.DeletedFinalStateUnknown{Key: "x/y", Obj: "junk"}) },
			want: nil,
		},
		{
			name: "an invalid CIDR enqueues only the Network itself",
			fire: func(c *Controller) {
				c.addNetwork(newNetwork("default", "bad", "10.0.0.1/8", "10.0.0.2", time.Hour), false)
			},
			want: []string{"default/bad"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(t, ctx, fixtureObjects{networks: all})
			tc.fire(f.controller)
			if got := queued(f.controller); !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAttachmentEventHandlers(t *testing.T) {
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	owned := ownedAttachment(t, blue)
	ownedUpdated := owned.DeepCopy()
	ownedUpdated.ResourceVersion = "2"
	ownerGone := ownedAttachment(t, newNetwork("default", "gone", "10.0.0.0/8", "10.0.0.1", 0))
	otherKind := owned.DeepCopy()
	otherKind.OwnerReferences[0].Kind = "Deployment"
	otherKind.OwnerReferences[0].APIVersion = "apps/v1"
	otherGroup := owned.DeepCopy()
	otherGroup.OwnerReferences[0].APIVersion = "other." + samplecrdv1.GroupName + "/v1" // another group whatever this one is, also after hack/fork
	notController := owned.DeepCopy()
	notController.OwnerReferences[0].Controller = nil
	staleUID := owned.DeepCopy()
	staleUID.OwnerReferences[0].UID = "previous-incarnation"

	tests := []struct {
		name string
		fire func(c *Controller)
		want []string
	}{
		{name: "a deleted owned attachment enqueues its Network", fire: func(c *Controller) { c.deleteAttachment(owned) }, want: []string{"default/blue"}},
		{name: "a tombstone of an owned attachment enqueues its Network", fire: func(c *Controller) {
			c.deleteAttachment(cache.DeletedFinalStateUnknown{Key: "default/blue", Obj: owned})
		}, want: []string{"default/blue"}},
		{name: "a attachment whose owner Network is gone enqueues nothing", fire: func(c *Controller) { c.handleAttachment(ownerGone) }},
		{name: "a attachment controlled by another kind enqueues nothing", fire: func(c *Controller) { c.handleAttachment(otherKind) }},
		{name: "a attachment controlled by a Network of another group enqueues nothing", fire: func(c *Controller) { c.handleAttachment(otherGroup) }},
		{name: "a attachment merely owned, not controlled, enqueues nothing", fire: func(c *Controller) { c.handleAttachment(notController) }},
		{name: "a attachment without owner enqueues nothing", fire: func(c *Controller) {
			c.handleAttachment(&nadv1.NetworkAttachmentDefinition{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "blue"}})
		}},
		{name: "a attachment of an earlier Network with the same name enqueues the current one", fire: func(c *Controller) { c.handleAttachment(staleUID) }, want: []string{"default/blue"}},
		// Orphans: managed attachments no Network controls queue the key
		// of their own name, whose sync removes them; also those of the
		// informer's first list, found at start-up.
		{name: "an added managed attachment whose controller Network is gone enqueues its own name", fire: func(c *Controller) { c.addAttachment(ownerGone) }, want: []string{"default/gone"}},
		{name: "an added managed attachment without a controller enqueues its own name", fire: func(c *Controller) { c.addAttachment(orphan(ownerGone)) }, want: []string{"default/gone"}},
		{name: "the garbage collector stripping the owner reference of a deleted Network's attachment enqueues its name", fire: func(c *Controller) {
			stripped := orphan(ownerGone)
			stripped.ResourceVersion = "2"
			c.updateAttachment(ownerGone, stripped)
		}, want: []string{"default/gone"}},
		{name: "an added managed attachment controlled by another kind enqueues nothing", fire: func(c *Controller) { c.addAttachment(otherKind) }},
		{name: "an added managed attachment controlled by a Network of another group enqueues nothing", fire: func(c *Controller) { c.addAttachment(otherGroup) }},
		{name: "an added attachment without the managed-by label enqueues nothing, controlled or not", fire: func(c *Controller) {
			unlabelled := orphan(ownerGone)
			unlabelled.Labels = nil
			c.addAttachment(unlabelled)
		}},
		{name: "a deleted orphan enqueues nothing", fire: func(c *Controller) { c.deleteAttachment(orphan(ownerGone)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
			tc.fire(f.controller)
			if got := queued(f.controller); !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("a attachment resync update (same resourceVersion) enqueues nothing", func(t *testing.T) {
		_, ctx := ktesting.NewTestContext(t)
		f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
		f.controller.updateAttachment(owned, owned.DeepCopy())
		if got := queued(f.controller); got != nil {
			t.Errorf("queued %v, want nothing", got)
		}
	})
	t.Run("a attachment update with a new resourceVersion enqueues its Network", func(t *testing.T) {
		_, ctx := ktesting.NewTestContext(t)
		f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
		f.controller.updateAttachment(owned, ownedUpdated)
		if got := queued(f.controller); !slices.Equal(got, []string{"default/blue"}) {
			t.Errorf("queued %v, want [default/blue]", got)
		}
	})
	t.Run("orphaning an attachment enqueues its former controller", func(t *testing.T) {
		_, ctx := ktesting.NewTestContext(t)
		f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
		orphaned := ownedUpdated.DeepCopy()
		orphaned.OwnerReferences = nil
		f.controller.updateAttachment(owned, orphaned)
		if got := queued(f.controller); !slices.Equal(got, []string{"default/blue"}) {
			t.Errorf("queued %v, want [default/blue]", got)
		}
	})
	t.Run("handing an attachment to another controller enqueues both", func(t *testing.T) {
		_, ctx := ktesting.NewTestContext(t)
		red := newNetwork("default", "red", "10.0.0.0/8", "10.0.0.1", 0)
		f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue, red}})
		moved := ownedUpdated.DeepCopy()
		moved.OwnerReferences = ownedAttachment(t, red).OwnerReferences
		f.controller.updateAttachment(owned, moved)
		if got := queued(f.controller); !slices.Equal(got, []string{"default/blue", "default/red"}) {
			t.Errorf("queued %v, want [default/blue default/red]", got)
		}
	})
}

func TestNamespaceEventHandlers(t *testing.T) {
	blue := newNetwork("team-a", "blue", "10.20.0.0/16", "10.20.0.1", 0)
	overlapping := newNetwork("team-b", "overlapping", "10.20.0.0/24", "10.20.0.1", time.Minute)
	elsewhere := newNetwork("team-c", "elsewhere", "10.30.0.0/16", "10.30.0.1", 0)
	before := allowingNamespace("team-a", "10.20.0.0/16")
	narrowed := allowingNamespace("team-a", "10.21.0.0/16")
	narrowed.ResourceVersion = "2"
	relabelled := before.DeepCopy()
	relabelled.Labels, relabelled.ResourceVersion = map[string]string{"team": "a"}, "2"
	removed := before.DeepCopy()
	removed.Annotations, removed.ResourceVersion = nil, "2"
	tests := []struct {
		name string
		fire func(c *Controller)
		want []string
	}{
		{name: "a new namespace queues its Networks", fire: func(c *Controller) { c.addNamespace(before) }, want: []string{"team-a/blue"}},
		{name: "a changed allowance queues its Networks and those they overlap", fire: func(c *Controller) { c.updateNamespace(before, narrowed) }, want: []string{"team-a/blue", "team-b/overlapping"}},
		{name: "a removed allowance queues the same", fire: func(c *Controller) { c.updateNamespace(before, removed) }, want: []string{"team-a/blue", "team-b/overlapping"}},
		{name: "a change of anything else queues nothing", fire: func(c *Controller) { c.updateNamespace(before, relabelled) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue, overlapping, elsewhere}})
			tc.fire(f.controller)
			got := queued(f.controller)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNamespaceTransformKeepsOnlyTheAllowance(t *testing.T) {
	ns := allowingNamespace("team-a", "10.20.0.0/16")
	ns.Labels = map[string]string{"kubernetes.io/metadata.name": "team-a"}
	ns.Annotations["other"] = strings.Repeat("x", 1000)
	ns.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	ns.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes}
	got, err := namespaceTransform(ns)
	if err != nil {
		t.Fatal(err)
	}
	slim := got.(*corev1.Namespace)
	if slim.Name != "team-a" || len(slim.Annotations) != 1 || slim.Annotations[tenancy.AllowedCIDRsAnnotation] != "10.20.0.0/16" ||
		slim.Labels != nil || slim.ManagedFields != nil || slim.Spec.Finalizers != nil {
		t.Errorf("transformed to %+v", slim)
	}
}

func TestNetworkEventHandlersIPv6(t *testing.T) {
	old := newNetwork("default", "old", "fd00::/16", "fd00::1", 0)
	mid := newNetwork("other", "mid", "fd00:1::/32", "fd00:1::1", time.Minute)
	young := newNetwork("default", "young", "fd00:1:2::/48", "fd00:1:2::1", 2*time.Minute)
	elsewhere := newNetwork("default", "elsewhere", "fd10::/16", "fd10::1", 3*time.Minute)
	v4 := newNetwork("default", "v4", "0.0.0.0/0", "10.0.0.1", 4*time.Minute)
	all := []*samplecrdv1.Network{old, mid, young, elsewhere, v4}

	moved := mid.DeepCopy()
	moved.ResourceVersion = "2"
	moved.Spec.CIDR, moved.Spec.Gateway = "fd10::/32", "fd10::1"

	tests := []struct {
		name string
		fire func(c *Controller)
		want []string
	}{
		{
			name: "an added Network is enqueued with the younger Networks it overlaps, not those of the other family",
			fire: func(c *Controller) { c.addNetwork(old, false) },
			want: []string{"default/old", "default/young", "other/mid"},
		},
		{
			name: "an added Network does not enqueue older overlapping ones",
			fire: func(c *Controller) { c.addNetwork(young, false) },
			want: []string{"default/young"},
		},
		{
			// Every Network of the first list gets its own add, and no sync
			// runs before the cache holds them all.
			name: "an added Network from the informer's first list enqueues only itself",
			fire: func(c *Controller) { c.addNetwork(old, true) },
			want: []string{"default/old"},
		},
		{
			name: "a CIDR change enqueues the younger Networks overlapping the old or the new CIDR",
			fire: func(c *Controller) { c.updateNetwork(mid, moved) },
			want: []string{"default/elsewhere", "default/young", "other/mid"},
		},
		{
			name: "a deleted Network enqueues itself and the younger Networks it was blocking",
			fire: func(c *Controller) { c.deleteNetwork(old) },
			want: []string{"default/old", "default/young", "other/mid"},
		},
		{
			name: "an IPv4 /0 overlaps no IPv6 Network",
			fire: func(c *Controller) { c.deleteNetwork(v4) },
			want: []string{"default/v4"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(t, ctx, fixtureObjects{networks: all})
			tc.fire(f.controller)
			if got := queued(f.controller); !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEnqueueYoungerOverlappingAgreesWithBruteForce checks the index walk
// against the rule it implements, on Networks of both families that nest,
// overlap, tie on creation time and sort differently by key than by
// namespace then name: a changed Network enqueues exactly the Networks
// with a valid CIDR that overlaps its own and that it is Older than.
func TestEnqueueYoungerOverlappingAgreesWithBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(2026, 17))
	_, ctx := ktesting.NewTestContext(t)
	networks := randomNetworks(r, 400)
	c, _, _ := indexedController(t, ctx, networks)
	enqueued := 0
	for _, changed := range networks {
		self, valid := claimOf(changed)
		var want []string
		for _, other := range networks {
			if o, ok := claimOf(other); valid && ok && o.Prefix.Overlaps(self.Prefix) && overlap.Older(self, o) {
				want = append(want, o.Key)
			}
		}
		slices.Sort(want)
		c.enqueueYoungerOverlapping(changed)
		if got := queued(c); !slices.Equal(got, want) {
			t.Fatalf("enqueueYoungerOverlapping(%s %s) queued %v, want %v", self.Key, changed.Spec.CIDR, got, want)
		}
		enqueued += len(want)
	}
	// Guard the test itself: the data must give changed Networks younger
	// overlapping ones.
	if enqueued == 0 {
		t.Fatal("random data too tame: nothing to enqueue")
	}
	t.Logf("%d keys enqueued for %d changed Networks", enqueued, len(networks))
}

// TestOwnWritesComingBackQueueNothing: the sync that wrote a status or an
// attachment has seen that state, so its watch event queues nothing; a
// later write by anyone else does.
func TestOwnWritesComingBackQueueNothing(t *testing.T) {
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	key := cache.MetaObjectToName(blue)
	written := synced(blue)
	written.ResourceVersion = "2"
	someoneElses := written.DeepCopy()
	someoneElses.ResourceVersion = "3"
	nad := ownedAttachment(t, blue)
	nad.ResourceVersion = "5"
	edited := nad.DeepCopy()
	edited.ResourceVersion = "6"
	for _, tc := range []struct {
		name string
		fire func(c *Controller)
		want []string
	}{
		{"the status the controller wrote", func(c *Controller) { c.updateNetwork(blue, written) }, nil},
		{"a status written after it", func(c *Controller) { c.updateNetwork(written, someoneElses) }, []string{"default/blue"}},
		{"the attachment the controller created", func(c *Controller) { c.addAttachment(nad) }, nil},
		{"the attachment edited after it", func(c *Controller) { c.updateAttachment(nad, edited) }, []string{"default/blue"}},
		{"the attachment deleted after it", func(c *Controller) { c.deleteAttachment(nad) }, []string{"default/blue"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}, expect: func(e *writeExpectations) {
				e.wroteStatus(key, written.ResourceVersion)
				e.wroteAttachment(key, nad)
			}})
			tc.fire(f.controller)
			if got := queued(f.controller); !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("once both came back nothing is remembered", func(t *testing.T) {
		_, ctx := ktesting.NewTestContext(t)
		f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}, expect: func(e *writeExpectations) {
			e.wroteStatus(key, written.ResourceVersion)
			e.wroteAttachment(key, nad)
		}})
		f.controller.updateNetwork(blue, written)
		f.controller.addAttachment(nad)
		if n := len(f.controller.expectations.m); n != 0 {
			t.Errorf("%d expectations left, want none", n)
		}
	})
}
