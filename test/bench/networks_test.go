package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/fastjson"
	"github.com/samplecrd/network-controller/pkg/tenancy"
)

// runLabel marks the Networks of one run, so that a watch can follow them
// across namespaces.
const runLabel = "bench.samplecrd.k8s.io/run"

// networksPerNamespace spreads large sets of Networks over namespaces as
// tenants would.
const networksPerNamespace = 1000

// lastApplied is the annotation `kubectl apply` leaves on what it creates:
// the whole manifest again. The benchmark's Networks carry it, as most
// Networks in a real cluster do.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// pool is an address range whose i-th /24 one Network of a set takes, so
// that the sets never overlap each other.
type pool struct {
	first, second int // the /24s are first.(second + i/256).(i%256).0/24
	size          int
}

var (
	// populationPool holds the Ready Networks that stay in the cluster
	// (up to 65536 of them).
	populationPool = pool{first: 10, second: 0, size: 1 << 16}
	// burstPool holds each burst's Networks (up to 16384), in 100.64.0.0/10.
	burstPool = pool{first: 100, second: 64, size: 1 << 14}
)

// cidr returns the i-th /24 of p and its gateway.
func (p pool) cidr(i int) (string, string) {
	if i >= p.size {
		panic(fmt.Sprintf("pool %d.%d has %d /24s, not %d", p.first, p.second, p.size, i+1))
	}
	prefix := fmt.Sprintf("%d.%d.%d", p.first, p.second+i/256, i%256)
	return prefix + ".0/24", prefix + ".1"
}

// networkSet is a set of Networks of one run: their namespaces, label and
// addresses.
type networkSet struct {
	run        string
	namespaces []string
	pool       pool
	n          int
}

// newSet returns a set of n Networks labelled run, with its namespaces.
func newSet(b *testing.B, run string, n int, p pool) *networkSet {
	b.Helper()
	s := &networkSet{run: run, pool: p}
	s.grow(b, n)
	return s
}

// grow makes room in the set for n Networks, creating namespaces, allowed
// every range as an administrator would allow them (the controller refuses
// Networks in namespaces without an allowance).
func (s *networkSet) grow(b *testing.B, n int) {
	b.Helper()
	kube, _, _ := clients(b)
	for len(s.namespaces)*networksPerNamespace < n {
		ns, err := kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			GenerateName: s.run + "-",
			Annotations:  map[string]string{tenancy.AllowedCIDRsAnnotation: "0.0.0.0/0, ::/0"},
		}}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		s.namespaces = append(s.namespaces, ns.Name)
	}
	s.n = max(s.n, n)
}

// network returns the i-th Network of the set as `kubectl apply` would
// create it: with the last-applied annotation, under kubectl's field
// manager.
func (s *networkSet) network(i int) *samplecrdv1.Network {
	cidr, gateway := s.pool.cidr(i)
	n := &samplecrdv1.Network{
		TypeMeta: metav1.TypeMeta{APIVersion: samplecrdv1.SchemeGroupVersion.String(), Kind: "Network"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("net-%05d", i),
			Namespace: s.namespaces[i/networksPerNamespace],
			Labels:    map[string]string{runLabel: s.run},
		},
		Spec: samplecrdv1.NetworkSpec{CIDR: cidr, Gateway: gateway},
	}
	manifest, err := json.Marshal(n)
	if err != nil {
		panic(err)
	}
	n.Annotations = map[string]string{lastApplied: string(manifest)}
	return n
}

// create creates the set's Networks from the i-th on with clientWorkers
// concurrent creates, and returns them; then, if set, runs for each.
func (s *networkSet) create(b *testing.B, from int, then func(n *samplecrdv1.Network) error) []*samplecrdv1.Network {
	b.Helper()
	_, networks, _ := clients(b)
	created := make([]*samplecrdv1.Network, s.n-from)
	parallel(b, len(created), func(i int) error {
		want := s.network(from + i)
		n, err := networks.SamplecrdV1().Networks(want.Namespace).Create(context.Background(), want,
			metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"})
		if err != nil {
			return err
		}
		created[i] = n
		if then != nil {
			return then(n)
		}
		return nil
	})
	return created
}

// cleanUp deletes the set's Networks, attachments and Events, so that the
// next run starts from the same server state (envtest has no namespace or
// garbage collector).
func (s *networkSet) cleanUp(b *testing.B) {
	b.Helper()
	_, networks, _ := clients(b)
	s.dropFinalizers(b, s.list(b))
	for _, ns := range s.namespaces {
		if err := networks.SamplecrdV1().Networks(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	s.resetDependents(b)
}

// dropFinalizers removes every finalizer of items (the controller's in-use
// protection), so that they can be deleted with no controller running, or
// protected again by the next one.
func (s *networkSet) dropFinalizers(b *testing.B, items []samplecrdv1.Network) {
	b.Helper()
	_, networks, _ := clients(b)
	parallel(b, len(items), func(i int) error {
		n := &items[i]
		if len(n.Finalizers) == 0 {
			return nil
		}
		_, err := networks.SamplecrdV1().Networks(n.Namespace).Patch(context.Background(), n.Name, types.MergePatchType,
			[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		return err
	})
}

// resetDependents deletes what the controller (or the ceiling) made for
// the set's Networks: attachments and Events.
func (s *networkSet) resetDependents(b *testing.B) {
	b.Helper()
	kube, _, nads := clients(b)
	ctx := context.Background()
	for _, ns := range s.namespaces {
		for _, err := range []error{
			nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}),
			kube.CoreV1().Events(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}),
		} {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// list returns the set's Networks as the server has them.
func (s *networkSet) list(b *testing.B) []samplecrdv1.Network {
	b.Helper()
	_, networks, _ := clients(b)
	var all []samplecrdv1.Network
	for _, ns := range s.namespaces {
		list, err := networks.SamplecrdV1().Networks(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, list.Items...)
	}
	return all
}

// unready takes the set back to where the controller has done nothing:
// no attachments, no Events, no status. The finalizer stays: the
// protection policy gave it at creation.
func (s *networkSet) unready(b *testing.B) {
	b.Helper()
	s.resetDependents(b)
	_, networks, _ := clients(b)
	items := s.list(b)
	parallel(b, len(items), func(i int) error {
		n := &items[i]
		if len(n.Status.Conditions) == 0 {
			return nil
		}
		n.Status = samplecrdv1.NetworkStatus{}
		_, err := networks.SamplecrdV1().Networks(n.Namespace).UpdateStatus(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
}

// syncedEvents counts the Normal Synced Events in the set's namespaces once
// the controller has stopped (it flushes its Events on the way out).
func (s *networkSet) syncedEvents(b *testing.B) int {
	b.Helper()
	kube, _, _ := clients(b)
	total := 0
	for _, ns := range s.namespaces {
		list, err := kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "reason=Synced"})
		if err != nil {
			b.Fatal(err)
		}
		total += len(list.Items)
	}
	return total
}

// attachments counts the set's NetworkAttachmentDefinitions.
func (s *networkSet) attachments(b *testing.B) int {
	b.Helper()
	_, _, nads := clients(b)
	total := 0
	for _, ns := range s.namespaces {
		list, err := nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		total += len(list.Items)
	}
	return total
}

// controllerWrites makes, for one Network, the writes the controller makes
// for it: create the attachment, set Ready, record an Event. (The in-use
// protection finalizer came with the Network: the protection policy.)
func controllerWrites(b *testing.B, n *samplecrdv1.Network) error {
	var done writesDone
	return done.write(b, n)
}

// writesDone is how far controllerWrites got for one Network, so that it
// can be tried again after a failure without reading anything back.
type writesDone struct{ attachment, status, event bool }

// write makes the writes not done yet. An attachment that exists was
// created by an earlier try, and so was a status that conflicts: nobody
// else writes these Networks.
//
// The ceiling must be what the API server can take, not what one client
// can send: each write is a bare request whose answer is read but not
// decoded, cheaper on the client side than the controller's own writes
// (which decode the attachment they created), so that the benchmark's
// process, on the same two cores, does not hold the server back. Each asks
// for the cheapest answer the server gives, the metadata alone in protobuf,
// as the controller's status writes do.
func (d *writesDone) write(b *testing.B, n *samplecrdv1.Network) error {
	ctx := context.Background()
	if !d.attachment {
		err := post(b, ctx, attachmentFor(n), "network-attachment-definitions", n.Namespace, nadClient.K8sCniCncfIoV1().RESTClient())
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		d.attachment = true
	}
	if !d.status {
		ready := n.DeepCopy()
		ready.Status = readyStatusOf(n)
		ready.TypeMeta = metav1.TypeMeta{APIVersion: samplecrdv1.SchemeGroupVersion.String(), Kind: "Network"}
		err := networkClient.SamplecrdV1().RESTClient().Put().Namespace(n.Namespace).Resource("networks").Name(n.Name).SubResource("status").
			SetHeader("Content-Type", "application/json").SetHeader("Accept", fastjson.MetadataOnly).Body(mustJSON(b, ready)).Do(ctx).Error()
		if err != nil && !apierrors.IsConflict(err) {
			return err
		}
		d.status = true
	}
	if !d.event {
		if err := post(b, ctx, eventFor(n), "events", n.Namespace, kubeClient.CoreV1().RESTClient()); err != nil {
			return err
		}
		d.event = true
	}
	return nil
}

// installProtectionPolicy creates the MutatingAdmissionPolicy of file and
// its binding, and waits until a new Network comes back with the
// controller's finalizer.
func installProtectionPolicy(file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	docs := strings.Split(string(raw), "\n---\n")
	if len(docs) != 2 {
		return fmt.Errorf("%s: want a policy and its binding, found %d documents", file, len(docs))
	}
	var policy admissionv1.MutatingAdmissionPolicy
	var binding admissionv1.MutatingAdmissionPolicyBinding
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &policy); err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &binding); err != nil {
		return err
	}
	ctx := context.Background()
	admission := kubeClient.AdmissionregistrationV1()
	if _, err := admission.MutatingAdmissionPolicies().Create(ctx, &policy, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := admission.MutatingAdmissionPolicyBindings().Create(ctx, &binding, metav1.CreateOptions{}); err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		n, err := networkClient.SamplecrdV1().Networks(metav1.NamespaceDefault).Create(ctx, &samplecrdv1.Network{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"},
			Spec:       samplecrdv1.NetworkSpec{CIDR: "198.18.0.0/24", Gateway: "198.18.0.1"},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil && slices.Contains(n.Finalizers, samplecrdv1.FinalizerInUseProtection) {
			return nil
		}
	}
	return fmt.Errorf("%s: new Networks do not get the finalizer after 30 s", file)
}

// post creates obj in namespace with a bare request.
func post(b *testing.B, ctx context.Context, obj any, resource, namespace string, client rest.Interface) error {
	return client.Post().Namespace(namespace).Resource(resource).
		SetHeader("Content-Type", "application/json").SetHeader("Accept", fastjson.MetadataOnly).Body(mustJSON(b, obj)).Do(ctx).Error()
}

// mustJSON encodes obj, which cannot fail for the benchmark's own types.
func mustJSON(b *testing.B, obj any) []byte {
	raw, err := json.Marshal(obj)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// attachmentFor is the ceiling's attachment for n: of the size of the
// controller's, owned by n.
func attachmentFor(n *samplecrdv1.Network) *nadv1.NetworkAttachmentDefinition {
	ref := metav1.NewControllerRef(n, samplecrdv1.SchemeGroupVersion.WithKind("Network"))
	return &nadv1.NetworkAttachmentDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: "k8s.cni.cncf.io/v1", Kind: "NetworkAttachmentDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{"app.kubernetes.io/managed-by": "bench"}, OwnerReferences: []metav1.OwnerReference{*ref}},
		Spec:       nadv1.NetworkAttachmentDefinitionSpec{Config: strings.Repeat("x", 330)},
	}
}

// eventFor is the ceiling's Synced Event for n.
func eventFor(n *samplecrdv1.Network) *corev1.Event {
	return &corev1.Event{
		TypeMeta:       metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta:     metav1.ObjectMeta{GenerateName: n.Name + "."},
		InvolvedObject: corev1.ObjectReference{Kind: "Network", APIVersion: "samplecrd.k8s.io/v1", Namespace: n.Namespace, Name: n.Name, UID: n.UID},
		Reason:         "Synced", Message: "bench", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "bench"}, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
	}
}

// readyStatusOf is the status the ceiling writes for n.
func readyStatusOf(n *samplecrdv1.Network) samplecrdv1.NetworkStatus {
	status := samplecrdv1.NetworkStatus{ObservedGeneration: n.Generation, AttachmentName: n.Name}
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Synced", Message: "bench"})
	return status
}

// population is the set of Ready Networks that stays in the cluster
// across benchmarks; it only grows.
var population *networkSet

// populate makes sure the cluster holds at least n population Networks,
// creating the missing ones (not Ready), and returns the set.
func populate(b *testing.B, n int) *networkSet {
	b.Helper()
	if population == nil {
		population = &networkSet{run: "population", pool: populationPool}
	}
	have := population.n
	if have >= n {
		return population
	}
	population.grow(b, n)
	start := time.Now()
	population.create(b, have, nil)
	b.Logf("created %d population Networks in %v", n-have, time.Since(start).Round(time.Millisecond))
	return population
}

// readyPopulation makes sure the cluster holds n Ready population
// Networks, running the controller once if some are not Ready.
func readyPopulation(b *testing.B, n int) *networkSet {
	b.Helper()
	set := populate(b, n)
	for _, item := range set.list(b) {
		if !meta.IsStatusConditionTrue(item.Status.Conditions, samplecrdv1.ConditionReady) {
			w := watchReady(b, set.run, set.namespaces, set.n)
			ctrl := startController(b)
			w.wait(b, 10*time.Minute)
			ctrl.stop(b)
			break
		}
	}
	return set
}
