package main

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// clutter adds to an object's metadata what the API server and other
// clients put there and the controller never reads.
func clutter(m *metav1.ObjectMeta) {
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels["team"] = "a"
	m.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 1000)}
	m.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl-client-side-apply", Operation: metav1.ManagedFieldsOperationUpdate}}
	m.Finalizers = []string{"finalizers.test/keep"}
	m.GenerateName = "net-"
}

func TestNetworkTransformKeepsWhatTheControllerReads(t *testing.T) {
	full := synced(newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", time.Minute))
	full.Generation = 3
	deleting := metav1.NewTime(now)
	full.DeletionTimestamp = &deleting
	full.OwnerReferences = []metav1.OwnerReference{{Kind: "Thing", Name: "owner", UID: "owner-uid"}}
	want := full.DeepCopy()
	clutter(&full.ObjectMeta)
	want.Finalizers = full.Finalizers // in-use protection patches them

	got, err := networkTransform(full)
	if err != nil {
		t.Fatal(err)
	}
	slim := got.(*samplecrdv1.Network)
	want.OwnerReferences = nil
	if !equality.Semantic.DeepEqual(slim, want) {
		t.Errorf("transformed Network differs from what the controller reads:\nwant %+v\ngot  %+v", want, slim)
	}
	if full.Annotations == nil || full.ManagedFields == nil {
		t.Error("the transform changed the object it was given")
	}
}

func TestAttachmentTransformKeepsWhatDriftDetectionCompares(t *testing.T) {
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	full := ownedAttachment(t, blue)
	want := full.DeepCopy()
	clutter(&full.ObjectMeta)

	got, err := attachmentTransform(full)
	if err != nil {
		t.Fatal(err)
	}
	slim := got.(*nadv1.NetworkAttachmentDefinition)
	if !equality.Semantic.DeepEqual(slim, want) {
		t.Errorf("transformed attachment differs from what drift detection compares:\nwant %+v\ngot  %+v", want, slim)
	}
	if !metav1.IsControlledBy(slim, blue) || attachmentDrifted(slim, ownedAttachment(t, blue)) {
		t.Error("the transformed attachment no longer reads as the Network's own, in order")
	}
	edited := full.DeepCopy()
	edited.Spec.Config = `{"edited": true}`
	if got, _ := attachmentTransform(edited); !attachmentDrifted(got.(*nadv1.NetworkAttachmentDefinition), ownedAttachment(t, blue)) {
		t.Error("an edited spec no longer reads as drift once transformed")
	}
}

func TestTransformsPassOtherObjectsThrough(t *testing.T) {
	tombstone := cache.DeletedFinalStateUnknown{Key: "default/blue"}
	for name, transform := range map[string]cache.TransformFunc{
		"networkTransform": networkTransform, "attachmentTransform": attachmentTransform, "namespaceTransform": namespaceTransform,
	} {
		got, err := transform(tombstone)
		if err != nil || got != tombstone {
			t.Errorf("%s(tombstone) = %v, %v; want it unchanged", name, got, err)
		}
	}
}

// TestRepairKeepsWhatTheCacheDoesNotHold: the cache holds a transformed
// attachment; repairing drift from it must not remove from the server what
// the transform left out.
func TestRepairKeepsWhatTheCacheDoesNotHold(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	blue := synced(newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0))
	onServer := ownedAttachment(t, blue)
	onServer.Spec.Config = `{"edited": true}`
	clutter(&onServer.ObjectMeta)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}, unlisted: []*nadv1.NetworkAttachmentDefinition{onServer}})
	cached, _ := attachmentTransform(onServer.DeepCopy())
	if err := f.attachmentCache.Add(cached); err != nil {
		t.Fatal(err)
	}

	if outcome, err := f.controller.syncHandler(ctx, cache.MetaObjectToName(blue)); err != nil || outcome != outcomeSuccess {
		t.Fatalf("sync: %v, %v", outcome, err)
	}
	stored, err := f.nadclient.K8sCniCncfIoV1().NetworkAttachmentDefinitions("default").Get(ctx, "blue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stored.Spec != ownedAttachment(t, blue).Spec {
		t.Errorf("spec not repaired: %q", stored.Spec.Config)
	}
	if stored.Labels["team"] != "a" || stored.Labels[managedByLabel] != managedByValue ||
		len(stored.Annotations) != 1 || len(stored.Finalizers) != 1 || len(stored.OwnerReferences) != 1 {
		t.Errorf("the repair lost what the cache does not hold: labels %v, annotations %d, finalizers %v, owners %v",
			stored.Labels, len(stored.Annotations), stored.Finalizers, stored.OwnerReferences)
	}
}

// decodedNetwork returns a Network as a decoder hands it over: every
// string its own copy, none shared with another object or field.
func decodedNetwork(name string) *samplecrdv1.Network {
	n := synced(newNetwork("default", strings.Clone(name), "192.168.0.0/16", "192.168.0.1", 0))
	n.Spec.Mode, n.Spec.Uplink = samplecrdv1.NetworkMode(strings.Clone("Macvlan")), strings.Clone("eth0")
	n.Status.AttachmentName = strings.Clone(name)
	return n
}

// decodedAttachment returns the attachment of a Network named name, owned
// by a Network named owner, its strings all copies of their own.
func decodedAttachment(t *testing.T, name, owner string) *nadv1.NetworkAttachmentDefinition {
	nad := ownedAttachment(t, newNetwork("default", strings.Clone(name), "192.168.0.0/16", "192.168.0.1", 0))
	nad.OwnerReferences[0].Name = strings.Clone(owner)
	return nad
}

// sameCopy reports whether a and b are one string in memory, not two equal ones.
func sameCopy(a, b string) bool { return a == b && unsafe.StringData(a) == unsafe.StringData(b) }

// The transforms keep one copy of a string that many cached objects, or
// two fields of one, hold, and leave alone what differs.
func TestTransformsKeepRepeatedStringsOnce(t *testing.T) {
	slimNetwork := func(n *samplecrdv1.Network) *samplecrdv1.Network {
		got, _ := networkTransform(n)
		return got.(*samplecrdv1.Network)
	}
	slimAttachment := func(nad *nadv1.NetworkAttachmentDefinition) *nadv1.NetworkAttachmentDefinition {
		got, _ := attachmentTransform(nad)
		return got.(*nadv1.NetworkAttachmentDefinition)
	}
	blue, red := slimNetwork(decodedNetwork("blue")), slimNetwork(decodedNetwork("red"))
	owned, adopted := slimAttachment(decodedAttachment(t, "blue", "blue")), slimAttachment(decodedAttachment(t, "blue", "other"))
	renamed := decodedNetwork("green")
	renamed.Status.AttachmentName = "green-old"
	renamed = slimNetwork(renamed)

	tests := []struct {
		name      string
		got, want string
		// shared: got must be want's copy, not merely equal to it.
		shared bool
	}{
		{"a Network's attachment name is its own name", blue.Status.AttachmentName, blue.Name, true},
		{"an attachment name other than the Network's is kept", renamed.Status.AttachmentName, "green-old", false},
		{"Networks share their mode", string(blue.Spec.Mode), string(red.Spec.Mode), true},
		{"Networks share their uplink", blue.Spec.Uplink, red.Spec.Uplink, true},
		{"an attachment's owner name is its own name", owned.OwnerReferences[0].Name, owned.Name, true},
		{"an owner name other than the attachment's is kept", adopted.OwnerReferences[0].Name, "other", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
			if tt.shared && !sameCopy(tt.got, tt.want) {
				t.Errorf("%q is held twice, want one copy", tt.got)
			}
		})
	}
}
