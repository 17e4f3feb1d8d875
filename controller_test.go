package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"k8s.io/klog/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/diff"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/metadata"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/metadata/metadatainformer"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	nadfake "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned/fake"
	nadinformers "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/informers/externalversions"

	corev1 "k8s.io/api/core/v1"
	kubeinformers "k8s.io/client-go/informers"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/expectations"
	"github.com/samplecrd/network-controller/pkg/generated/clientset/versioned/fake"
	informers "github.com/samplecrd/network-controller/pkg/generated/informers/externalversions"
	"github.com/samplecrd/network-controller/pkg/metrics"
	"github.com/samplecrd/network-controller/pkg/netspec"
	"github.com/samplecrd/network-controller/pkg/podrefs"
	"github.com/samplecrd/network-controller/pkg/serverhealth"
	"github.com/samplecrd/network-controller/pkg/tenancy"
	"github.com/samplecrd/network-controller/pkg/usage"
)

// epoch is the creation time of the oldest Network in these tests; the
// fake clock reads it plus an hour.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// now is what the fake clock says; conditions written by a sync carry it.
var now = epoch.Add(time.Hour)

// newNetwork returns a Network created at epoch+age, generation 1,
// protected by the controller's finalizer as its first sync left it.
func newNetwork(namespace, name, cidr, gateway string, age time.Duration) *samplecrdv1.Network {
	return &samplecrdv1.Network{
		TypeMeta: metav1.TypeMeta{APIVersion: samplecrdv1.SchemeGroupVersion.String(), Kind: "Network"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         namespace,
			Name:              name,
			UID:               types.UID(namespace + "-" + name + "-uid"),
			Generation:        1,
			ResourceVersion:   "1",
			CreationTimestamp: metav1.NewTime(epoch.Add(age)),
			Finalizers:        []string{samplecrdv1.FinalizerInUseProtection},
		},
		Spec: samplecrdv1.NetworkSpec{CIDR: cidr, Gateway: gateway},
	}
}

// withStatus returns a copy of n whose status says Ready=status/reason at
// n's generation, as a previous sync at epoch would have left it, with no
// pod attached.
func withStatus(n *samplecrdv1.Network, status metav1.ConditionStatus, reason, message, attachmentName string) *samplecrdv1.Network {
	n = n.DeepCopy()
	n.Status = samplecrdv1.NetworkStatus{
		ObservedGeneration: n.Generation,
		AttachmentName:     attachmentName,
		AttachedPods:       ptr.To[int32](0),
		Conditions: []metav1.Condition{{
			Type: samplecrdv1.ConditionReady, Status: status, Reason: reason, Message: message,
			ObservedGeneration: n.Generation, LastTransitionTime: metav1.NewTime(epoch),
		}},
	}
	return n
}

// synced returns n as it looks after a successful sync.
func synced(n *samplecrdv1.Network) *samplecrdv1.Network {
	return withStatus(n, metav1.ConditionTrue, samplecrdv1.ReasonSynced,
		fmt.Sprintf(MessageReady, n.Name, n.Name), n.Name)
}

// ownedAttachment returns the attachment the controller wants for n.
func ownedAttachment(t *testing.T, n *samplecrdv1.Network) *nadv1.NetworkAttachmentDefinition {
	t.Helper()
	spec, err := netspec.ParseSpec(n.Spec)
	if err != nil {
		t.Fatalf("test Network %s is invalid: %v", n.Name, err)
	}
	nad, err := newAttachment(n, spec)
	if err != nil {
		t.Fatal(err)
	}
	nad.ResourceVersion = "1"
	nad.UID = types.UID(n.Name + "-nad-uid")
	return nad
}

// foreignAttachment returns an attachment named like n that something
// else controls, with or without the managed-by label.
func foreignAttachment(n *samplecrdv1.Network, labelled bool) *nadv1.NetworkAttachmentDefinition {
	nad := &nadv1.NetworkAttachmentDefinition{
		ObjectMeta: metav1.ObjectMeta{Namespace: n.Namespace, Name: n.Name, ResourceVersion: "7", UID: "foreign-uid",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "someone-else", UID: "someone-else-uid", Controller: ptr.To(true)}}},
		Spec: nadv1.NetworkAttachmentDefinitionSpec{Config: `{"cniVersion": "1.0.0", "name": "someone-else", "plugins": [{"type": "macvlan"}]}`},
	}
	if labelled {
		nad.Labels = map[string]string{managedByLabel: managedByValue}
	}
	return nad
}

// exhausted returns a copy of n, a /30, whose excludeRanges leave no
// address for pods: a spec the API server accepts and the controller
// reports InvalidSpec.
func exhausted(n *samplecrdv1.Network) *samplecrdv1.Network {
	n = n.DeepCopy()
	p := netip.MustParsePrefix(n.Spec.CIDR)
	n.Spec.ExcludeRanges = []string{netip.PrefixFrom(p.Addr().Next().Next(), 32).String()}
	n.Generation++
	return n
}

// terminating returns a copy of n being deleted and held by a finalizer
// nobody removes.
func terminating(n *samplecrdv1.Network) *samplecrdv1.Network {
	n = n.DeepCopy()
	n.DeletionTimestamp = &metav1.Time{Time: now}
	n.Finalizers = []string{testFinalizer}
	return n
}

// testFinalizer is a finalizer of no real controller.
const testFinalizer = "finalizers.test/held"

// orphan returns a copy of an attachment as the garbage collector leaves
// it after `kubectl delete --cascade=orphan` of its Network: the managed-by
// label, no owner reference.
func orphan(nad *nadv1.NetworkAttachmentDefinition) *nadv1.NetworkAttachmentDefinition {
	nad = nad.DeepCopy()
	nad.OwnerReferences = nil
	return nad
}

// allowingNamespace returns a Namespace whose Networks may use allowance.
func allowingNamespace(name, allowance string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{tenancy.AllowedCIDRsAnnotation: allowance}}}
}

// fixture holds a controller whose caches were filled by hand, and the fake
// clients behind it.
type fixture struct {
	controller *Controller
	kubeclient *k8sfake.Clientset
	nadclient  *nadfake.Clientset
	client     *fake.Clientset
	// clock is the controller's clock.
	clock *testclock.FakePassiveClock
	// dynamic is the IPPool informer's client.
	dynamic *dynamicfake.FakeDynamicClient
	// metadataclient serves the Network CRD's metadata.
	metadataclient *metadatafake.FakeMetadataClient
	recorder       *record.FakeRecorder
	events         record.EventRecorder // the controller's own, which recorder replaces
	// attachmentCache is the controller's attachment cache, for tests that
	// put there something other than what the server holds.
	attachmentCache cache.Indexer
	// factories are the informer factories behind the controller's caches,
	// never started: the caches are filled by hand.
	factories []informerFactory
}

// informerFactory is what the three generated informer factories have in
// common.
type informerFactory interface {
	Start(stopCh <-chan struct{})
	WaitForCacheSync(stopCh <-chan struct{}) map[reflect.Type]bool
}

// fixtureObjects is what exists before a test: Networks (in the cache and
// on the server), attachments in the cache (and on the server), and
// attachments only on the server (the cache filters them out).
type fixtureObjects struct {
	networks    []*samplecrdv1.Network
	attachments []*nadv1.NetworkAttachmentDefinition
	unlisted    []*nadv1.NetworkAttachmentDefinition
	// expect sets up what the controller remembers of its own writes.
	expect func(*expectations.Writes)
	// namespaces are cached Namespaces; every Network's namespace that is
	// not among them is cached with an allowance of every range.
	namespaces []*corev1.Namespace
	// reserved are the controller's reserved ranges.
	reserved []netip.Prefix
	// pods are cached pods, as podrefs.Transform keeps them (and on the
	// server).
	pods []*corev1.Pod
	// pools are whereabouts' IPPools in the IPPool cache, which counts as
	// synced unless noPools: then the controller has no IPPool cache, as
	// in a cluster without whereabouts' CRDs.
	pools   []*usage.IPPool
	noPools bool
	// usageWindow is the controller's UsageWriteInterval; 0: its default.
	usageWindow time.Duration
	// uninstalling marks the Network CRD, cached and on the server, for
	// deletion.
	uninstalling bool
}

// networkCRD returns the metadata of the Network CRD, marked for deletion
// when deleting.
func networkCRD(deleting bool) *metav1.PartialObjectMetadata {
	crd := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: crdName, UID: "crd-uid", ResourceVersion: "1"},
	}
	if deleting {
		crd.DeletionTimestamp = &metav1.Time{Time: now}
		crd.Finalizers = []string{"customresourcecleanup.apiextensions.k8s.io"}
	}
	return crd
}

// crdInformerFactory adapts the metadata informer factory to
// informerFactory.
type crdInformerFactory struct {
	metadatainformer.SharedInformerFactory
}

func (f crdInformerFactory) WaitForCacheSync(stopCh <-chan struct{}) map[reflect.Type]bool {
	out := map[reflect.Type]bool{}
	for gvr, ok := range f.SharedInformerFactory.WaitForCacheSync(stopCh) {
		out[reflect.TypeOf(gvr)] = ok
	}
	return out
}

// newMetadataClient returns a fake metadata client serving the
// CustomResourceDefinitions given.
func newMetadataClient(crds ...runtime.Object) *metadatafake.FakeMetadataClient {
	scheme := metadatafake.NewTestScheme()
	gv := schema.GroupVersion{Group: crdResource.Group, Version: crdResource.Version}
	scheme.AddKnownTypeWithName(gv.WithKind("CustomResourceDefinition"), &metav1.PartialObjectMetadata{})
	scheme.AddKnownTypeWithName(gv.WithKind("CustomResourceDefinitionList"), &metav1.PartialObjectMetadataList{})
	return metadatafake.NewSimpleMetadataClient(scheme, crds...)
}

// newCRDInformers returns the informer factory of the Network CRD's
// metadata on client, as the binary builds it.
func newCRDInformers(client metadata.Interface) metadatainformer.SharedInformerFactory {
	return metadatainformer.NewFilteredSharedInformerFactory(client, 0, "", onlyTheNetworkCRD)
}

func newFixture(t *testing.T, ctx context.Context, objs fixtureObjects) *fixture {
	t.Helper()
	var networkObjects []runtime.Object
	for _, n := range objs.networks {
		networkObjects = append(networkObjects, n)
	}
	var podObjects []runtime.Object
	for _, p := range objs.pods {
		podObjects = append(podObjects, p)
	}
	crd := networkCRD(objs.uninstalling)
	f := &fixture{
		metadataclient: newMetadataClient(crd),
		kubeclient:     k8sfake.NewClientset(podObjects...),
		nadclient:      nadfake.NewSimpleClientset(),
		client:         fake.NewClientset(networkObjects...),
		recorder:       record.NewFakeRecorder(100),
	}
	// The fake's object tracker would file objects given to the
	// constructor under a resource name guessed from the kind
	// ("networkattachmentdefinitions"), not the one the client asks for.
	for _, nad := range append(append([]*nadv1.NetworkAttachmentDefinition{}, objs.attachments...), objs.unlisted...) {
		if err := f.nadclient.Tracker().Create(nadv1.SchemeGroupVersion.WithResource(attachmentResource), nad, nad.Namespace); err != nil {
			t.Fatal(err)
		}
	}
	nadInformers := nadinformers.NewSharedInformerFactory(f.nadclient, 0)
	networkInformers := informers.NewSharedInformerFactory(f.client, 0)
	kubeInformers := kubeinformers.NewSharedInformerFactory(f.kubeclient, 0)
	podInformers := kubeinformers.NewSharedInformerFactoryWithOptions(f.kubeclient, 0, kubeinformers.WithTransform(podrefs.Transform))
	crdInformers := newCRDInformers(f.metadataclient)
	var pools *ipPools
	f.clock = testclock.NewFakePassiveClock(now)
	f.dynamic = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{usage.IPPoolResource: "IPPoolList"})
	if !objs.noPools {
		pools = newFixturePools(t, f.dynamic, objs.pools)
	}
	c, err := NewController(ctx, f.kubeclient, f.client, f.nadclient,
		Informers{
			Networks:    networkInformers.Samplecrd().V1().Networks(),
			Attachments: nadInformers.K8sCniCncfIo().V1().NetworkAttachmentDefinitions(),
			Namespaces:  kubeInformers.Core().V1().Namespaces(),
			Pods:        podInformers.Core().V1().Pods(),
			CRD:         crdInformers.ForResource(crdResource).Informer(),
		},
		Options{Clock: f.clock, ReservedCIDRs: objs.reserved, ServerHealth: serverhealth.New(klog.FromContext(ctx)),
			IPPools: pools, UsageWriteInterval: objs.usageWindow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.events.Stop)
	t.Cleanup(c.workqueue.ShutDown)
	f.events, c.recorder = c.recorder, f.recorder
	f.factories = []informerFactory{networkInformers, nadInformers, kubeInformers, podInformers, crdInformerFactory{crdInformers}}
	if err := c.crdIndexer.Add(crd); err != nil {
		t.Fatal(err)
	}
	for _, p := range objs.pods {
		slim, err := podrefs.Transform(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.podsIndexer.Add(slim); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range objs.networks {
		if err := networkInformers.Samplecrd().V1().Networks().Informer().GetIndexer().Add(n); err != nil {
			t.Fatal(err)
		}
	}
	f.attachmentCache = nadInformers.K8sCniCncfIo().V1().NetworkAttachmentDefinitions().Informer().GetIndexer()
	for _, nad := range objs.attachments {
		if err := f.attachmentCache.Add(nad); err != nil {
			t.Fatal(err)
		}
	}
	namespaces := kubeInformers.Core().V1().Namespaces().Informer().GetIndexer()
	for _, ns := range objs.namespaces {
		if err := namespaces.Add(ns); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range objs.networks {
		if _, ok, _ := namespaces.GetByKey(n.Namespace); !ok {
			if err := namespaces.Add(allowingNamespace(n.Namespace, "0.0.0.0/0, ::/0")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if objs.expect != nil {
		objs.expect(c.expectations)
	}
	f.controller = c
	return f
}

// newFixturePools returns an IPPool cache in whereabouts' default
// namespace holding pools, filled by hand and counted as synced.
func newFixturePools(t *testing.T, client *dynamicfake.FakeDynamicClient, pools []*usage.IPPool) *ipPools {
	t.Helper()
	p, err := newIPPools(client, defaultWhereaboutsNamespace, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.synced = func() bool { return true }
	for _, pool := range pools {
		if err := p.informer.GetIndexer().Add(pool); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// action is the part of a client action a test states: verb, resource,
// subresource, name, and for writes the object sent.
type action struct {
	verb, resource, subresource, name string
	object                            runtime.Object
}

func (a action) String() string {
	s := a.verb + " " + a.resource
	if a.subresource != "" {
		s += "/" + a.subresource
	}
	return s + " " + a.name
}

// recorded turns the fake clients' actions into actions, leaving out the
// informers' list and watch calls.
func recorded(actions []core.Action) []action {
	var out []action
	for _, a := range actions {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		got := action{verb: a.GetVerb(), resource: a.GetResource().Resource, subresource: a.GetSubresource()}
		switch a := a.(type) {
		case core.CreateAction:
			got.object = a.GetObject()
			got.name = a.GetObject().(metav1.Object).GetName()
		case core.UpdateAction:
			got.object = a.GetObject()
			got.name = a.GetObject().(metav1.Object).GetName()
		case core.PatchAction:
			// What a merge patch of an attachment sets, as an object; of a
			// Network, the metadata it sets.
			got.name = a.GetName()
			var patched runtime.Object = &nadv1.NetworkAttachmentDefinition{}
			if got.resource == "networks" {
				patched = &metav1.PartialObjectMetadata{}
			}
			if err := json.Unmarshal(a.GetPatch(), patched); err != nil {
				panic(fmt.Sprintf("a patch that is not JSON: %v", err))
			}
			got.object = patched
		case core.GetAction:
			got.name = a.GetName()
		case core.DeleteAction:
			got.name = a.GetName()
		}
		out = append(out, got)
	}
	return out
}

// checkActions fails unless got is exactly want, in order. A want action
// without an object matches any object; a Network is compared by status.
func checkActions(t *testing.T, client string, want, got []action) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s actions: want %v, got %v", client, want, got)
		return
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.verb != g.verb || w.resource != g.resource || w.subresource != g.subresource || w.name != g.name {
			t.Errorf("%s action %d: want %v, got %v", client, i, w, g)
			continue
		}
		if w.object == nil {
			continue
		}
		wantObj, gotObj := comparable(w.object), comparable(g.object)
		if !equality.Semantic.DeepEqual(wantObj, gotObj) {
			t.Errorf("%s action %d (%v) object differs (-want +got):\n%s", client, i, w, diff.Diff(wantObj, gotObj))
		}
	}
}

// comparable reduces an object to what the controller decides: a Network's
// status, or an attachment without its resourceVersion and UID.
func comparable(obj runtime.Object) interface{} {
	switch o := obj.(type) {
	case *samplecrdv1.Network:
		return o.Status
	case *nadv1.NetworkAttachmentDefinition:
		o = o.DeepCopy()
		o.ResourceVersion, o.UID = "", ""
		return o
	}
	return obj
}

// drainEvents returns the Events recorded so far, as "Type Reason message".
func drainEvents(r *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// checkEvents fails unless each recorded Event starts with the wanted
// "Type Reason" and contains the wanted text after a "|".
func checkEvents(t *testing.T, want, got []string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("events: want %q, got %q", want, got)
		return
	}
	for i, w := range want {
		prefix, text, _ := strings.Cut(w, "|")
		if !strings.HasPrefix(got[i], prefix+" ") || !strings.Contains(got[i], text) {
			t.Errorf("event %d: want %q, got %q", i, w, got[i])
		}
	}
}

// Shorthands for the actions the sync makes.
func createAttachment(nad *nadv1.NetworkAttachmentDefinition) action {
	return action{verb: "create", resource: "network-attachment-definitions", name: nad.Name, object: nad}
}

// repairAttachment is the patch that puts back nad's spec and managed-by
// label, and touches nothing else.
func repairAttachment(nad *nadv1.NetworkAttachmentDefinition) action {
	return action{verb: "patch", resource: "network-attachment-definitions", name: nad.Name, object: &nadv1.NetworkAttachmentDefinition{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{managedByLabel: managedByValue}},
		Spec:       nad.Spec,
	}}
}
func getAttachment(name string) action {
	return action{verb: "get", resource: "network-attachment-definitions", name: name}
}
func deleteAttachment(name string) action {
	return action{verb: "delete", resource: "network-attachment-definitions", name: name}
}
func updateStatus(n *samplecrdv1.Network) action {
	return action{verb: "update", resource: "networks", subresource: "status", name: n.Name, object: n}
}

// after returns the status a sync at now writes: like want, but with
// transition time now when the Ready status flipped from before.
func after(before, want *samplecrdv1.Network) *samplecrdv1.Network {
	want = want.DeepCopy()
	old := meta.FindStatusCondition(before.Status.Conditions, samplecrdv1.ConditionReady)
	if old == nil || old.Status != want.Status.Conditions[0].Status {
		want.Status.Conditions[0].LastTransitionTime = metav1.NewTime(now)
	}
	return want
}

// syncHandlerCase is one row of the sync table: the objects a sync finds,
// the Network it syncs, and what it must do.
type syncHandlerCase struct {
	name        string
	objects     fixtureObjects
	key         *samplecrdv1.Network
	wantOutcome syncOutcome
	wantNAD     func() []action
	wantNetwork []action
	wantEvents  []string
}

// syncHandlerCases is the sync table. Besides TestSyncHandler, the RBAC
// test (rbac_test.go) runs every row to learn which API requests a sync
// makes, so a row for a new path also checks that the shipped roles allow it.
func syncHandlerCases(t *testing.T) []syncHandlerCase {
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	blue6 := newNetwork("default", "blue6", "fd00:10::/64", "fd00:10::1", 0)
	blueBumped := synced(blue).DeepCopy()
	blueBumped.Generation, blueBumped.Spec.CIDR, blueBumped.Spec.Gateway = 2, "10.1.0.0/16", "10.1.0.1"
	invalid := newNetwork("default", "bad", "192.168.0.0/16", "10.0.0.1", 0)
	invalidMsg := "Invalid spec: spec.gateway: must be an address inside spec.cidr"
	invalid6 := newNetwork("default", "bad6", "fd00:10::/64", "fd00:10::", 0)
	older := newNetwork("other", "older", "192.168.0.0/16", "192.168.0.1", 0)
	younger := newNetwork("default", "younger", "192.168.128.0/17", "192.168.128.1", time.Minute)
	youngerConflict := "spec.cidr 192.168.128.0/17 overlaps 192.168.0.0/16 of Network other/older"
	tieA := newNetwork("a", "net", "10.0.0.0/8", "10.0.0.1", 0)
	tieB := newNetwork("b", "net", "10.1.0.0/16", "10.1.0.1", 0)
	v6older := newNetwork("default", "v6", "fd00::/8", "fd00::1", 0)
	v4younger := newNetwork("default", "v4", "10.0.0.0/8", "10.0.0.1", time.Minute)
	drifted := ownedAttachment(t, blue)
	drifted.Spec.Config = `{"edited": true}`
	unlabelledOwned := ownedAttachment(t, blue)
	unlabelledOwned.Labels = map[string]string{"team": "a"}
	staleOwner := ownedAttachment(t, blue)
	staleOwner.OwnerReferences[0].UID = "previous-incarnation"
	// narrow is a /30: its gateway and one address for pods, which
	// exhausted excludes.
	narrow := newNetwork("team-a", "narrow", "198.18.7.0/30", "198.18.7.1", 0)
	_, exhaustedErr := netspec.ParseSpec(exhausted(narrow).Spec)
	exhaustedMsg := fmt.Sprintf(MessageInvalidSpec, exhaustedErr)
	nadConflictMsg := `NetworkAttachmentDefinition "blue" already exists and is not controlled by this Network`
	inNADConflict := withStatus(blue, metav1.ConditionFalse, samplecrdv1.ReasonAttachmentConflict,
		fmt.Sprintf(MessageResourceExists, "blue"), "")

	cases := []syncHandlerCase{
		{
			name:        "a new IPv4 Network gets its attachment, Ready=True and a Synced Event",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{blue}},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{createAttachment(ownedAttachment(t, blue))} },
			wantNetwork: []action{updateStatus(after(blue, synced(blue)))},
			wantEvents:  []string{`Normal Synced|NetworkAttachmentDefinition "blue" holds the CNI configuration for 192.168.0.0/16`},
		},
		{
			name:        "a new IPv6 Network gets its attachment, Ready=True and a Synced Event",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{blue6}},
			key:         blue6,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{createAttachment(ownedAttachment(t, blue6))} },
			wantNetwork: []action{updateStatus(after(blue6, synced(blue6)))},
			wantEvents:  []string{`Normal Synced|fd00:10::/64`},
		},
		{
			name: "a sync that finds everything in order makes no API calls and no Events",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{synced(blue)},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, blue)},
			},
			key:         blue,
			wantOutcome: outcomeSuccess,
		},
		{
			name: "an attachment whose data drifted is updated back, status unchanged",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{synced(blue)},
				attachments: []*nadv1.NetworkAttachmentDefinition{drifted},
			},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{repairAttachment(ownedAttachment(t, blue))} },
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name: "a deleted attachment is created again",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{synced(blue)},
			},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{createAttachment(ownedAttachment(t, blue))} },
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name: "an owned attachment that lost its label (so is not cached) gets the label back, other labels kept",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{synced(blue)},
				unlisted: []*nadv1.NetworkAttachmentDefinition{unlabelledOwned},
			},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNAD: func() []action {
				return []action{createAttachment(ownedAttachment(t, blue)), getAttachment("blue"), repairAttachment(ownedAttachment(t, blue))}
			},
			wantEvents: []string{"Normal Synced"},
		},
		{
			name: "a spec change updates the attachment and observedGeneration",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{blueBumped},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, blue)},
			},
			key:         blueBumped,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{repairAttachment(ownedAttachment(t, blueBumped))} },
			wantNetwork: []action{updateStatus(synced(blueBumped))},
			wantEvents:  []string{"Normal Synced|10.1.0.0/16"},
		},
		{
			name:        "an invalid spec is reported as InvalidSpec with a Warning, and no attachment is written",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{invalid}},
			key:         invalid,
			wantOutcome: outcomeInvalid,
			wantNetwork: []action{updateStatus(after(invalid, withStatus(invalid, metav1.ConditionFalse, samplecrdv1.ReasonInvalidSpec,
				invalidMsg+". Fix the spec; the controller retries when it changes", "")))},
			wantEvents: []string{"Warning InvalidSpec|" + invalidMsg},
		},
		{
			name:        "an invalid IPv6 spec (gateway is the network address) is reported as InvalidSpec",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{invalid6}},
			key:         invalid6,
			wantOutcome: outcomeInvalid,
			wantNetwork: []action{updateStatus(after(invalid6, withStatus(invalid6, metav1.ConditionFalse, samplecrdv1.ReasonInvalidSpec,
				"Invalid spec: spec.gateway: must not be the network address of spec.cidr. Fix the spec; the controller retries when it changes", "")))},
			wantEvents: []string{"Warning InvalidSpec|must not be the network address"},
		},
		{
			name: "an invalid spec already reported makes no API calls and no Events",
			objects: fixtureObjects{networks: []*samplecrdv1.Network{withStatus(invalid, metav1.ConditionFalse, samplecrdv1.ReasonInvalidSpec,
				invalidMsg+". Fix the spec; the controller retries when it changes", "")}},
			key:         invalid,
			wantOutcome: outcomeInvalid,
		},
		{
			name: "a Network that became invalid keeps its existing attachment untouched",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{func() *samplecrdv1.Network {
					n := synced(blue)
					n.Spec.Gateway = "10.0.0.1"
					n.Generation = 2
					return n
				}()},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, blue)},
			},
			key:         blue,
			wantOutcome: outcomeInvalid,
			wantNetwork: []action{{verb: "update", resource: "networks", subresource: "status", name: "blue"}},
			wantEvents:  []string{"Warning InvalidSpec"},
		},
		{
			name:        "a younger overlapping Network gets CIDRConflict naming the older one, across namespaces",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{synced(older), younger}},
			key:         younger,
			wantOutcome: outcomeConflict,
			wantNetwork: []action{updateStatus(after(younger, withStatus(younger, metav1.ConditionFalse, samplecrdv1.ReasonCIDRConflict,
				fmt.Sprintf(MessageCIDRConflict, "192.168.128.0/17", "192.168.0.0/16", "other/older", "other/older"), "")))},
			wantEvents: []string{"Warning CIDRConflict|" + youngerConflict},
		},
		{
			name:        "the older of two overlapping Networks wins and becomes Ready",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{older, younger}},
			key:         older,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{createAttachment(ownedAttachment(t, older))} },
			wantNetwork: []action{updateStatus(after(older, synced(older)))},
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name:        "equal creation times are broken by namespace/name: b/net loses to a/net",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{tieA, tieB}},
			key:         tieB,
			wantOutcome: outcomeConflict,
			wantNetwork: []action{{verb: "update", resource: "networks", subresource: "status", name: "net"}},
			wantEvents:  []string{"Warning CIDRConflict|of Network a/net"},
		},
		{
			name:        "IPv4 and IPv6 Networks never conflict",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{v6older, v4younger}},
			key:         v4younger,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{createAttachment(ownedAttachment(t, v4younger))} },
			wantNetwork: []action{updateStatus(after(v4younger, synced(v4younger)))},
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name: "a cached attachment controlled by someone else is left alone: AttachmentConflict and ErrResourceExists",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{blue},
				attachments: []*nadv1.NetworkAttachmentDefinition{foreignAttachment(blue, true)},
			},
			key:         blue,
			wantOutcome: outcomeConflict,
			wantNetwork: []action{updateStatus(after(blue, inNADConflict))},
			wantEvents:  []string{"Warning ErrResourceExists|" + nadConflictMsg},
		},
		{
			name: "an unlabelled foreign attachment is found after the create fails and is left alone",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{blue},
				unlisted: []*nadv1.NetworkAttachmentDefinition{foreignAttachment(blue, false)},
			},
			key:         blue,
			wantOutcome: outcomeConflict,
			wantNAD: func() []action {
				return []action{createAttachment(ownedAttachment(t, blue)), getAttachment("blue")}
			},
			wantNetwork: []action{updateStatus(after(blue, inNADConflict))},
			wantEvents:  []string{"Warning ErrResourceExists|" + nadConflictMsg},
		},
		{
			name: "an attachment controlled by an earlier Network of the same name is an orphan: removed once the API server confirms, and replaced",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{blue},
				attachments: []*nadv1.NetworkAttachmentDefinition{staleOwner},
			},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNAD: func() []action {
				return []action{deleteAttachment("blue"), createAttachment(ownedAttachment(t, blue))}
			},
			wantNetwork: []action{{verb: "get", resource: "networks", name: "blue"}, updateStatus(after(blue, synced(blue)))},
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name: "a managed attachment without a controller (its Network deleted with --cascade=orphan, then created again) is removed and replaced",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{blue},
				attachments: []*nadv1.NetworkAttachmentDefinition{orphan(ownedAttachment(t, blue))},
			},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNAD: func() []action {
				return []action{deleteAttachment("blue"), createAttachment(ownedAttachment(t, blue))}
			},
			wantNetwork: []action{updateStatus(after(blue, synced(blue)))},
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name:        "a managed attachment without a controller whose Network is gone is removed",
			objects:     fixtureObjects{attachments: []*nadv1.NetworkAttachmentDefinition{orphan(ownedAttachment(t, blue))}},
			key:         blue,
			wantOutcome: outcomeDeleted,
			wantNAD:     func() []action { return []action{deleteAttachment("blue")} },
		},
		{
			name:        "a managed attachment whose controller Network is gone is removed once the API server confirms it",
			objects:     fixtureObjects{attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, blue)}},
			key:         blue,
			wantOutcome: outcomeDeleted,
			wantNAD:     func() []action { return []action{deleteAttachment("blue")} },
			wantNetwork: []action{{verb: "get", resource: "networks", name: "blue"}},
		},
		{
			name: "an attachment without the managed-by label is never removed, controlled or not",
			objects: fixtureObjects{attachments: []*nadv1.NetworkAttachmentDefinition{func() *nadv1.NetworkAttachmentDefinition {
				nad := orphan(ownedAttachment(t, blue))
				nad.Labels = nil
				return nad
			}()}},
			key:         blue,
			wantOutcome: outcomeDeleted,
		},
		{
			name:        "a managed attachment controlled by something other than a Network is never removed",
			objects:     fixtureObjects{attachments: []*nadv1.NetworkAttachmentDefinition{foreignAttachment(blue, true)}},
			key:         blue,
			wantOutcome: outcomeDeleted,
		},
		{
			name: "an InvalidSpec Network whose namespace may no longer use its range loses its attachment",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{exhausted(synced(narrow))},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, narrow)},
				namespaces:  []*corev1.Namespace{allowingNamespace("team-a", "198.19.0.0/16")},
			},
			key:         narrow,
			wantOutcome: outcomeInvalid,
			wantNAD:     func() []action { return []action{deleteAttachment("narrow")} },
			wantNetwork: []action{updateStatus(after(synced(narrow), withStatus(exhausted(narrow), metav1.ConditionFalse, samplecrdv1.ReasonInvalidSpec, exhaustedMsg, "")))},
			wantEvents:  []string{`Warning AttachmentRemoved|"narrow"`, "Warning InvalidSpec|leave no address for pods"},
		},
		{
			name: "an InvalidSpec Network whose range became reserved loses its attachment",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{exhausted(synced(narrow))},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, narrow)},
				reserved:    []netip.Prefix{netip.MustParsePrefix("198.18.7.0/24")},
			},
			key:         narrow,
			wantOutcome: outcomeInvalid,
			wantNAD:     func() []action { return []action{deleteAttachment("narrow")} },
			wantNetwork: []action{updateStatus(after(synced(narrow), withStatus(exhausted(narrow), metav1.ConditionFalse, samplecrdv1.ReasonInvalidSpec, exhaustedMsg, "")))},
			wantEvents:  []string{`Warning AttachmentRemoved|"narrow"`, "Warning InvalidSpec|leave no address for pods"},
		},
		{
			name: "an InvalidSpec Network that still holds its range keeps its attachment",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{exhausted(synced(narrow))},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, narrow)},
				namespaces:  []*corev1.Namespace{allowingNamespace("team-a", "198.18.0.0/16")},
			},
			key:         narrow,
			wantOutcome: outcomeInvalid,
			wantNetwork: []action{updateStatus(after(synced(narrow), withStatus(exhausted(narrow), metav1.ConditionFalse, samplecrdv1.ReasonInvalidSpec, exhaustedMsg, "narrow")))},
			wantEvents:  []string{"Warning InvalidSpec|leave no address for pods"},
		},
		{
			name: "a terminating Network whose namespace may no longer use its range loses its attachment, and nothing is created",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{terminating(synced(narrow))},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, narrow)},
				namespaces:  []*corev1.Namespace{allowingNamespace("team-a", "198.19.0.0/16")},
			},
			key:         narrow,
			wantOutcome: outcomeConflict,
			wantNAD:     func() []action { return []action{deleteAttachment("narrow")} },
			wantNetwork: []action{{verb: "update", resource: "networks", subresource: "status", name: "narrow"}},
			wantEvents:  []string{`Warning AttachmentRemoved|"narrow"`, "Warning NotPermitted|spec.cidr 198.18.7.0/30 is not inside"},
		},
		{
			name: "a terminating Network that loses its range to an older one loses its attachment",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{synced(older), terminating(synced(younger))},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, younger)},
			},
			key:         younger,
			wantOutcome: outcomeConflict,
			wantNAD:     func() []action { return []action{deleteAttachment("younger")} },
			wantNetwork: []action{{verb: "update", resource: "networks", subresource: "status", name: "younger"}},
			wantEvents:  []string{`Warning AttachmentRemoved|"younger"`, "Warning CIDRConflict|" + youngerConflict},
		},
		{
			name: "a terminating Network whose spec.cidr was edited loses the attachment of its old range, and gets none for the new",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{terminating(blueBumped)},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, blue)},
			},
			key:         blue,
			wantOutcome: outcomeDeleted,
			wantNAD:     func() []action { return []action{deleteAttachment("blue")} },
			wantEvents:  []string{`Warning AttachmentRemoved|"blue"`},
		},
		{
			name: "a terminating Network that holds its range keeps its attachment and gets no writes, even drifted",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{terminating(synced(blue))},
				attachments: []*nadv1.NetworkAttachmentDefinition{drifted},
			},
			key:         blue,
			wantOutcome: outcomeDeleted,
		},
		{
			name: "a AttachmentConflict already reported is rechecked with a read only",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{inNADConflict},
				unlisted: []*nadv1.NetworkAttachmentDefinition{foreignAttachment(blue, false)},
			},
			key:         blue,
			wantOutcome: outcomeConflict,
			wantNAD:     func() []action { return []action{getAttachment("blue")} },
		},
		{
			name:        "once the foreign attachment is gone the Network gets its own and becomes Ready",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{inNADConflict}},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNAD: func() []action {
				return []action{getAttachment("blue"), createAttachment(ownedAttachment(t, blue))}
			},
			wantNetwork: []action{updateStatus(after(inNADConflict, synced(blue)))},
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name: "a Network being deleted gets nothing re-created while the garbage collector works",
			objects: fixtureObjects{networks: []*samplecrdv1.Network{func() *samplecrdv1.Network {
				n := synced(blue)
				n.DeletionTimestamp = &metav1.Time{Time: now}
				n.Finalizers = []string{"foregroundDeletion"}
				return n
			}()}},
			key:         blue,
			wantOutcome: outcomeDeleted,
		},
		{
			name: "a Ready Network that loses its range to an older one has its attachment removed",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{synced(older), synced(younger)},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, younger)},
			},
			key:         younger,
			wantOutcome: outcomeConflict,
			wantNAD:     func() []action { return []action{deleteAttachment("younger")} },
			wantNetwork: []action{updateStatus(after(synced(younger), withStatus(younger, metav1.ConditionFalse, samplecrdv1.ReasonCIDRConflict,
				fmt.Sprintf(MessageCIDRConflict, "192.168.128.0/17", "192.168.0.0/16", "other/older", "other/older"), "")))},
			wantEvents: []string{`Warning AttachmentRemoved|"younger"`, "Warning CIDRConflict|" + youngerConflict},
		},
		{
			name: "a Network whose CIDR became invalid has its attachment removed: it holds no range any more",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{func() *samplecrdv1.Network {
					n := synced(blue)
					n.Spec.CIDR, n.Generation = "192.168.0.1/16", 2
					return n
				}()},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, blue)},
			},
			key:         blue,
			wantOutcome: outcomeInvalid,
			wantNAD:     func() []action { return []action{deleteAttachment("blue")} },
			wantNetwork: []action{{verb: "update", resource: "networks", subresource: "status", name: "blue"}},
			wantEvents:  []string{"Warning AttachmentRemoved", "Warning InvalidSpec|canonical"},
		},
		{
			name: "an attachment this Network does not control is never removed, even in conflict",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{synced(older), younger},
				attachments: []*nadv1.NetworkAttachmentDefinition{foreignAttachment(younger, true)},
			},
			key:         younger,
			wantOutcome: outcomeConflict,
			wantNetwork: []action{{verb: "update", resource: "networks", subresource: "status", name: "younger"}},
			wantEvents:  []string{"Warning CIDRConflict"},
		},
		{
			name: "a sync that meets a cache behind the controller's own status write is skipped without API calls",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{blue},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, blue)},
				expect:      func(e *expectations.Writes) { e.WroteStatus(cache.MetaObjectToName(blue), "2") },
			},
			key:         blue,
			wantOutcome: outcomeStale,
		},
		{
			name: "a sync that meets a cache not yet showing the attachment it created goes on with what it wrote: no create",
			objects: fixtureObjects{
				networks: []*samplecrdv1.Network{blue},
				expect: func(e *expectations.Writes) {
					e.WroteAttachment(cache.MetaObjectToName(blue), slimAttachment(ownedAttachment(t, blue)))
				},
			},
			key:         blue,
			wantOutcome: outcomeSuccess,
			wantNetwork: []action{updateStatus(after(blue, synced(blue)))},
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name: "a sync that meets a cache still showing the attachment it deleted does not delete it again",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{synced(older), synced(younger)},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, younger)},
				expect: func(e *expectations.Writes) {
					e.DeletedAttachment(cache.MetaObjectToName(younger), ownedAttachment(t, younger).UID)
				},
			},
			key:         younger,
			wantOutcome: outcomeConflict,
			wantNetwork: []action{{verb: "update", resource: "networks", subresource: "status", name: "younger"}},
			wantEvents:  []string{"Warning CIDRConflict"},
		},
		{
			name: "a cache that has caught up with the controller's writes is synced as usual",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{synced(blue)},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, blue)},
				expect: func(e *expectations.Writes) {
					e.WroteStatus(cache.MetaObjectToName(blue), "1")
					e.WroteAttachment(cache.MetaObjectToName(blue), slimAttachment(ownedAttachment(t, blue)))
				},
			},
			key:         blue,
			wantOutcome: outcomeSuccess,
		},
		{
			name: "a Network in a namespace without an allowance is NotPermitted and gets no attachment",
			objects: fixtureObjects{
				networks:   []*samplecrdv1.Network{blue},
				namespaces: []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "default"}}},
			},
			key:         blue,
			wantOutcome: outcomeConflict,
			wantNetwork: []action{{verb: "update", resource: "networks", subresource: "status", name: "blue"}},
			wantEvents:  []string{"Warning NotPermitted|namespace default has no annotation " + tenancy.AllowedCIDRsAnnotation},
		},
		{
			name: "a Ready Network whose allowance was narrowed loses its attachment",
			objects: fixtureObjects{
				networks:    []*samplecrdv1.Network{synced(blue)},
				attachments: []*nadv1.NetworkAttachmentDefinition{ownedAttachment(t, blue)},
				namespaces:  []*corev1.Namespace{allowingNamespace("default", "10.0.0.0/8")},
			},
			key:         blue,
			wantOutcome: outcomeConflict,
			wantNAD:     func() []action { return []action{deleteAttachment("blue")} },
			wantNetwork: []action{{verb: "update", resource: "networks", subresource: "status", name: "blue"}},
			wantEvents:  []string{"Warning AttachmentRemoved", "Warning NotPermitted|spec.cidr 192.168.0.0/16 is not inside"},
		},
		{
			name:        "a not permitted older Network claims nothing: the younger overlapping one is Ready",
			objects:     fixtureObjects{networks: []*samplecrdv1.Network{older, younger}, namespaces: []*corev1.Namespace{allowingNamespace("other", "10.0.0.0/8")}},
			key:         younger,
			wantOutcome: outcomeSuccess,
			wantNAD:     func() []action { return []action{createAttachment(ownedAttachment(t, younger))} },
			wantNetwork: []action{updateStatus(after(younger, synced(younger)))},
			wantEvents:  []string{"Normal Synced"},
		},
		{
			name:        "a Network that no longer exists needs no API calls",
			key:         blue,
			wantOutcome: outcomeDeleted,
		},
	}
	cases = append(cases, protectionCases(t)...)
	return append(cases, usageSyncCases(t)...)
}

func TestSyncHandler(t *testing.T) {
	for _, tc := range syncHandlerCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(t, ctx, tc.objects)
			// Objects given to the fixture are cached copies: prove the sync
			// never writes to them.
			before := make([]runtime.Object, 0, len(tc.objects.networks))
			for _, n := range tc.objects.networks {
				before = append(before, n.DeepCopy())
			}

			outcome, err := f.controller.syncHandler(ctx, cache.MetaObjectToName(tc.key))
			if err != nil {
				t.Fatalf("sync failed: %v", err)
			}
			if outcome != tc.wantOutcome {
				t.Errorf("outcome = %q, want %q", outcome, tc.wantOutcome)
			}
			var wantNAD []action
			if tc.wantNAD != nil {
				wantNAD = tc.wantNAD()
			}
			checkActions(t, "attachment", wantNAD, recorded(f.nadclient.Actions()))
			checkActions(t, "kube", nil, recorded(f.kubeclient.Actions()))
			checkActions(t, "network", tc.wantNetwork, recorded(f.client.Actions()))
			checkEvents(t, tc.wantEvents, drainEvents(f.recorder))
			for i, n := range tc.objects.networks {
				if !equality.Semantic.DeepEqual(before[i], n) {
					t.Errorf("the sync mutated cached Network %s", n.Name)
				}
			}
		})
	}
}

func TestForeignAttachmentIsLeftByteForByte(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	foreign := foreignAttachment(blue, false)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}, unlisted: []*nadv1.NetworkAttachmentDefinition{foreign}})

	if _, err := f.controller.syncHandler(ctx, cache.MetaObjectToName(blue)); err != nil {
		t.Fatal(err)
	}
	got, err := f.nadclient.K8sCniCncfIoV1().NetworkAttachmentDefinitions("default").Get(ctx, "blue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got, foreign) {
		t.Errorf("foreign attachment changed:\n%s", diff.Diff(foreign, got))
	}
}

func TestTransientErrorsAreRequeuedWithBackoff(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
	f.nadclient.PrependReactor("create", "network-attachment-definitions", func(core.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is down")
	})
	key := cache.MetaObjectToName(blue)
	f.controller.workqueue.Add(key)

	if !f.controller.processNextWorkItem(ctx, ctx) {
		t.Fatal("queue shut down")
	}
	if got := f.controller.workqueue.NumRequeues(key); got != 1 {
		t.Errorf("NumRequeues = %d, want 1 (the failed key goes back with backoff)", got)
	}
	checkActions(t, "network", nil, recorded(f.client.Actions()))
	checkEvents(t, nil, drainEvents(f.recorder))
}

func TestPermanentProblemsAreNotRequeued(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	invalid := newNetwork("default", "bad", "192.168.0.0/16", "10.0.0.1", 0)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{invalid}})
	key := cache.MetaObjectToName(invalid)
	f.controller.workqueue.Add(key)

	f.controller.processNextWorkItem(ctx, ctx)
	if got := f.controller.workqueue.NumRequeues(key); got != 0 {
		t.Errorf("NumRequeues = %d, want 0", got)
	}
	if got := f.controller.workqueue.Len(); got != 0 {
		t.Errorf("queue length = %d, want 0", got)
	}
}

func TestStatusConflictIsTransient(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
	f.client.PrependReactor("update", "networks", func(core.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(samplecrdv1.Resource("networks"), "blue", errors.New("stale"))
	})
	outcome, err := f.controller.syncHandler(ctx, cache.MetaObjectToName(blue))
	if err == nil || outcome != outcomeError {
		t.Fatalf("got outcome %q, err %v; want a transient error", outcome, err)
	}
	checkEvents(t, nil, drainEvents(f.recorder))
}

func TestObserveSyncSeesEveryOutcome(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	invalid := newNetwork("default", "bad", "192.168.0.0/16", "10.0.0.1", 0)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{invalid}})
	var seen []syncOutcome
	f.controller.opts.ObserveSync = func(o syncOutcome, _ time.Duration) { seen = append(seen, o) }
	f.controller.workqueue.Add(cache.MetaObjectToName(invalid))
	f.controller.processNextWorkItem(ctx, ctx)
	if len(seen) != 1 || seen[0] != outcomeInvalid {
		t.Errorf("observed %v, want [invalid]", seen)
	}
}

func TestRefusedAttachmentWriteIsReportedAndRetried(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
	f.nadclient.PrependReactor("create", attachmentResource, func(core.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(nadv1.Resource(attachmentResource), "blue", errors.New(`exceeded quota: attachments, requested: count/network-attachment-definitions.k8s.cni.cncf.io=1`))
	})
	key := cache.MetaObjectToName(blue)
	f.controller.workqueue.Add(key)
	f.controller.processNextWorkItem(ctx, ctx)

	if got := f.controller.workqueue.NumRequeues(key); got != 1 {
		t.Errorf("NumRequeues = %d, want 1: a quota can be raised without any event the controller sees", got)
	}
	acts := recorded(f.client.Actions())
	if len(acts) != 1 {
		t.Fatalf("network actions %v, want one status update", acts)
	}
	status := acts[0].object.(*samplecrdv1.Network).Status
	ready := meta.FindStatusCondition(status.Conditions, samplecrdv1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != samplecrdv1.ReasonAttachmentRefused || !strings.Contains(ready.Message, "quota") {
		t.Errorf("Ready = %+v, want False/AttachmentRefused naming the quota", ready)
	}
	checkEvents(t, []string{"Warning AttachmentRefused|exceeded quota"}, drainEvents(f.recorder))
}

func TestAMutatingWebhookIsReportedNotFought(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	blue := newNetwork("default", "blue", "192.168.0.0/16", "192.168.0.1", 0)
	drifted := ownedAttachment(t, blue)
	drifted.Spec.Config = `{"rewritten": true}`
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{synced(blue)}, attachments: []*nadv1.NetworkAttachmentDefinition{drifted}})
	// The webhook rewrites spec.config on every write.
	f.nadclient.PrependReactor("patch", attachmentResource, func(core.Action) (bool, runtime.Object, error) {
		return true, drifted.DeepCopy(), nil
	})
	key := cache.MetaObjectToName(blue)
	f.controller.workqueue.Add(key)
	f.controller.processNextWorkItem(ctx, ctx)

	if got := f.controller.workqueue.NumRequeues(key); got != 1 {
		t.Errorf("NumRequeues = %d, want 1: the key must back off rather than repair again at once", got)
	}
	acts := recorded(f.client.Actions())
	if len(acts) != 1 {
		t.Fatalf("network actions %v, want one status update", acts)
	}
	ready := meta.FindStatusCondition(acts[0].object.(*samplecrdv1.Network).Status.Conditions, samplecrdv1.ConditionReady)
	if ready == nil || ready.Reason != samplecrdv1.ReasonAttachmentRefused || !strings.Contains(ready.Message, "mutating admission webhook") {
		t.Errorf("Ready = %+v, want AttachmentRefused naming the webhook", ready)
	}
}

func TestReservedRangesAreRefusedAndClaimNothing(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	services := newNetwork("default", "services", "10.96.0.0/16", "10.96.0.1", 0)
	after := newNetwork("default", "after", "10.96.0.0/24", "10.96.0.1", time.Minute)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{services, after}})
	f.controller.opts.ReservedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}

	outcome, err := f.controller.syncHandler(ctx, cache.MetaObjectToName(services))
	if err != nil || outcome != outcomeConflict {
		t.Fatalf("outcome %q, err %v; want conflict", outcome, err)
	}
	checkEvents(t, []string{"Warning ReservedRange|overlaps 10.96.0.0/12, which the cluster reserves"}, drainEvents(f.recorder))
	ready := meta.FindStatusCondition(recorded(f.client.Actions())[0].object.(*samplecrdv1.Network).Status.Conditions, samplecrdv1.ConditionReady)
	if ready.Reason != samplecrdv1.ReasonReservedRange {
		t.Errorf("reason %q, want ReservedRange", ready.Reason)
	}
	// The older reserved-range Network does not block the younger one: it
	// too is ReservedRange, never CIDRConflict.
	if _, found := f.controller.findBlocker(after, netip.MustParsePrefix(after.Spec.CIDR)); found {
		t.Error("a Network overlapping a reserved range blocks another")
	}
}

// Each outcome counts under its own syncs_total result, but a sync of a
// deleted Network counts as a success: nothing was left to do.
func TestOutcomeMetricResult(t *testing.T) {
	want := map[syncOutcome]string{
		outcomeSuccess:  metrics.ResultSuccess,
		outcomeDeleted:  metrics.ResultSuccess,
		outcomeError:    metrics.ResultError,
		outcomeInvalid:  metrics.ResultInvalid,
		outcomeConflict: metrics.ResultConflict,
		outcomeStale:    metrics.ResultStale,
	}
	for outcome, result := range want {
		if got := outcome.metricResult(); got != result {
			t.Errorf("%s counts as %q, want %q", outcome, got, result)
		}
	}
}
