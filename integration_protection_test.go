package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/podrefs"
)

// In-use protection against the real API server. Pods here are API objects
// only: no kubelet runs them, so each is bound to a node that does not
// exist, and its phase is set through the status subresource as a kubelet
// would.

// networkCRDFile is the Network CRD the control plane was started with.
const networkCRDFile = "artifacts/examples/crd.yaml"

// createPod creates, in namespace, a pod whose networks annotation is
// networks, bound to a node that does not exist.
func (e *env) createPod(namespace, name, networks string) *corev1.Pod {
	e.t.Helper()
	// The ServiceAccount admission plugin wants the default account, which
	// nothing creates without a controller manager.
	_, err := e.kube.CoreV1().ServiceAccounts(namespace).Create(e.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
	p, err := e.kube.CoreV1().Pods(namespace).Create(e.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{podrefs.NetworksAnnotation: networks}},
		Spec: corev1.PodSpec{
			NodeName:                     "no-such-node",
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating pod %s/%s: %v", namespace, name, err)
	}
	e.t.Cleanup(func() { e.deletePod(namespace, name) })
	return p
}

// deletePod deletes a pod at once, as the kubelet confirms a deletion.
func (e *env) deletePod(namespace, name string) {
	err := e.kube.CoreV1().Pods(namespace).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Errorf("deleting pod %s/%s: %v", namespace, name, err)
	}
}

// finishPod sets a pod's phase, as its kubelet does when it ends.
func (e *env) finishPod(namespace, name string, phase corev1.PodPhase) {
	e.t.Helper()
	p, err := e.kube.CoreV1().Pods(namespace).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	p.Status.Phase = phase
	if _, err := e.kube.CoreV1().Pods(namespace).UpdateStatus(e.ctx, p, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("setting pod %s/%s %s: %v", namespace, name, phase, err)
	}
}

// otherNamespace creates a second namespace for the test, for pods that
// refer to its Networks from elsewhere.
func (e *env) otherNamespace() string {
	e.t.Helper()
	name := e.namespace + "-x"
	if _, err := e.kube.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	return name
}

// deleteNetwork deletes a Network as kubectl delete does.
func (e *env) deleteNetwork(name string) {
	e.t.Helper()
	if err := e.networks.SamplecrdV1().Networks(e.namespace).Delete(e.ctx, name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatalf("deleting Network %s: %v", name, err)
	}
}

// createProtected creates a Network and waits until it is Ready and
// carries the controller's finalizer.
func (e *env) createProtected(name, cidr, gateway string) {
	e.t.Helper()
	e.create(name, cidr, gateway)
	e.waitForReady(name, metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	e.waitForProtected(name)
}

// checkSaidOnce fails unless the Network has exactly one InUse Event.
func (e *env) checkSaidOnce(name string) {
	e.t.Helper()
	if n := e.countEvents(name, samplecrdv1.ReasonInUse); n != 1 {
		e.t.Errorf("%d InUse Events on Network %s, want 1", n, name)
	}
}

// waitForProtected waits for the controller to put its finalizer on a
// Network.
func (e *env) waitForProtected(name string) {
	e.t.Helper()
	e.waitFor("Network "+name+" to carry "+samplecrdv1.FinalizerInUseProtection, func() (bool, string) {
		n, err := e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(n.Finalizers, samplecrdv1.FinalizerInUseProtection), fmt.Sprint(n.Finalizers)
	})
}

// waitForInUse waits until a deleted Network says it waits for pods, with
// a Deleting condition (reason InUse) whose message contains text, and
// checks that it keeps its attachment and stays Ready meanwhile.
func (e *env) waitForInUse(name, text string) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("Network %s to wait for %q", name, text), func() (bool, string) {
		n, err := e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(n.Status.Conditions, samplecrdv1.ConditionDeleting)
		ok := n.DeletionTimestamp != nil && c != nil && c.Status == metav1.ConditionTrue &&
			c.Reason == samplecrdv1.ReasonInUse && strings.Contains(c.Message, text)
		return ok, fmt.Sprintf("deletionTimestamp %v, conditions %+v", n.DeletionTimestamp, n.Status.Conditions)
	})
	if _, err := e.attachment(name); err != nil {
		e.t.Errorf("a Network in use lost its attachment: %v", err)
	}
	n, err := e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, name, metav1.GetOptions{})
	if err == nil && !meta.IsStatusConditionTrue(n.Status.Conditions, samplecrdv1.ConditionReady) {
		e.t.Errorf("a Network in use is no longer Ready: %+v", n.Status.Conditions)
	}
}

// waitForNetworkGone waits until a Network no longer exists.
func (e *env) waitForNetworkGone(name string) {
	e.t.Helper()
	e.waitFor("Network "+name+" to be gone", func() (bool, string) {
		n, err := e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, name, metav1.GetOptions{})
		if err == nil {
			return false, fmt.Sprintf("finalizers %v, conditions %+v", n.Finalizers, n.Status.Conditions)
		}
		return apierrors.IsNotFound(err), err.Error()
	})
}

// countEvents returns how many Events of reason the Network has.
func (e *env) countEvents(name, reason string) int {
	e.t.Helper()
	selector := fields.Set{"involvedObject.kind": "Network", "involvedObject.name": name, "reason": reason}.AsSelector().String()
	events, err := e.kube.CoreV1().Events(e.namespace).List(e.ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, ev := range events.Items {
		n += max(int(ev.Count), 1)
	}
	return n
}

// TestIntegrationProtectionUnusedNetworkGoesAtOnce: every Network gets the
// finalizer, and one no pod refers to is deleted as soon as it is asked.
func TestIntegrationProtectionUnusedNetworkGoesAtOnce(t *testing.T) {
	e := newEnv(t)
	e.startController(Options{})
	e.createProtected("idle", "10.90.0.0/24", "10.90.0.1")
	// A pod referring to another Network does not hold this one.
	e.createPod(e.namespace, "elsewhere", "some-other-network")

	start := time.Now()
	e.deleteNetwork("idle")
	e.waitForNetworkGone("idle")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("an unused Network took %v to go; want it at once", took)
	}
	if n := e.countEvents("idle", samplecrdv1.ReasonInUse); n != 0 {
		t.Errorf("an unused Network recorded %d InUse Events", n)
	}
}

// TestIntegrationProtectionHoldsUntilThePodIsDeleted: a pod in the
// Network's namespace refers to it in the comma form; the deleted Network
// waits, says so once, keeps its attachment, and goes with the pod.
func TestIntegrationProtectionHoldsUntilThePodIsDeleted(t *testing.T) {
	e := newEnv(t)
	e.startController(Options{})
	e.createProtected("blue", "10.91.0.0/24", "10.91.0.1")
	e.createPod(e.namespace, "web", "other, blue@net1")

	e.deleteNetwork("blue")
	e.waitForInUse("blue", "in use by 1 pod: "+e.namespace+"/web")
	e.waitForEvent("blue", corev1.EventTypeWarning, samplecrdv1.ReasonInUse, e.namespace+"/web")
	// Still there a while later, and said once.
	time.Sleep(time.Second)
	e.waitForInUse("blue", "1 pod")
	e.checkSaidOnce("blue")

	e.deletePod(e.namespace, "web")
	e.waitForNetworkGone("blue")
}

// TestIntegrationProtectionHoldsAcrossNamespacesUntilPodsFinish: pods in
// another namespace refer to the Network by namespace/name, one in each
// annotation form; each releases it when it finishes, and the Network goes
// with the last.
func TestIntegrationProtectionHoldsAcrossNamespacesUntilPodsFinish(t *testing.T) {
	e := newEnv(t)
	e.startController(Options{})
	apps := e.otherNamespace()
	e.createProtected("shared", "10.92.0.0/24", "10.92.0.1")
	e.createPod(apps, "batch", fmt.Sprintf(`[{"name": "shared", "namespace": %q, "interface": "net1"}]`, e.namespace))
	e.createPod(apps, "worker", e.namespace+"/shared")
	// A bare name means a Network of the pod's own namespace: not this one.
	e.createPod(apps, "local", "shared")

	e.deleteNetwork("shared")
	e.waitForInUse("shared", fmt.Sprintf("2 pods: %s/batch, %s/worker", apps, apps))

	e.finishPod(apps, "batch", corev1.PodSucceeded)
	e.waitForInUse("shared", fmt.Sprintf("1 pod: %s/worker", apps))
	e.finishPod(apps, "worker", corev1.PodFailed)
	e.waitForNetworkGone("shared")
	e.checkSaidOnce("shared")
}

// TestIntegrationProtectionSurvivesARestart: a controller started while a
// Network waits keeps it, writes nothing and repeats no Event, then
// releases it when the pod goes.
func TestIntegrationProtectionSurvivesARestart(t *testing.T) {
	e := newEnv(t)
	first := e.startController(Options{})
	e.createProtected("kept", "10.93.0.0/24", "10.93.0.1")
	e.createPod(e.namespace, "web", "kept")
	e.deleteNetwork("kept")
	e.waitForInUse("kept", "1 pod")
	e.waitForEvent("kept", corev1.EventTypeWarning, samplecrdv1.ReasonInUse, "1 pod")
	first.stop()

	second := e.startController(Options{})
	e.waitFor("the new controller's caches", func() (bool, string) { return second.controller.HasSynced(), "" })
	time.Sleep(2 * time.Second)
	e.waitForInUse("kept", "1 pod")
	if w := second.writes.get(); len(w) != 0 {
		t.Errorf("the restarted controller wrote %v while the Network waited; want nothing", w)
	}
	e.checkSaidOnce("kept")

	e.deletePod(e.namespace, "web")
	e.waitForNetworkGone("kept")
}

// TestIntegrationProtectionUninstallNeverHangs deletes the Network CRD,
// as make undeploy does, while one Network in use is already waiting and
// another in use is not deleted yet: the controller releases both, so the
// CRD goes. The CRD is installed again for the tests after this one.
func TestIntegrationProtectionUninstallNeverHangs(t *testing.T) {
	e := newEnv(t)
	e.startController(Options{})
	e.create("waiting", "10.94.0.0/24", "10.94.0.1")
	e.create("live", "10.94.1.0/24", "10.94.1.1")
	e.waitForProtected("waiting")
	e.waitForProtected("live")
	e.createPod(e.namespace, "web", "waiting, live")
	e.deleteNetwork("waiting")
	e.waitForInUse("waiting", "1 pod")

	crds := apiextensionsclient.NewForConfigOrDie(apiserver).ApiextensionsV1().CustomResourceDefinitions()
	t.Cleanup(func() { reinstallCRD(t, crds) })
	if err := crds.Delete(e.ctx, crdName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the Network CRD to be gone", func() (bool, string) {
		_, err := crds.Get(e.ctx, crdName, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	e.waitForEvent("live", corev1.EventTypeWarning, ProtectionReleased, "in use by 1 pod")
}

// reinstallCRD creates the Network CRD again and waits until it serves.
func reinstallCRD(t *testing.T, crds interface {
	Create(context.Context, *apiextensionsv1.CustomResourceDefinition, metav1.CreateOptions) (*apiextensionsv1.CustomResourceDefinition, error)
	Get(context.Context, string, metav1.GetOptions) (*apiextensionsv1.CustomResourceDefinition, error)
}) {
	raw, err := os.ReadFile(networkCRDFile)
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := crds.Create(ctx, &crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := crds.Get(ctx, crdName, metav1.GetOptions{})
		if err == nil && slices.ContainsFunc(got.Status.Conditions, func(c apiextensionsv1.CustomResourceDefinitionCondition) bool {
			return c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
		}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Network CRD is not established again: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// protectionPolicyFile is the MutatingAdmissionPolicy (and its binding)
// that adds the finalizer as the API server creates a Network.
const protectionPolicyFile = "artifacts/examples/protection-policy.yaml"

// TestIntegrationProtectionPolicyAddsTheFinalizerAtCreation: with the
// shipped policy installed, a new Network carries the finalizer from its
// creation, beside one it was created with, and the controller makes no
// write to Networks but their status: no patch.
func TestIntegrationProtectionPolicyAddsTheFinalizerAtCreation(t *testing.T) {
	e := newEnv(t)
	if err := createPolicies(apiserver, protectionPolicyFile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admission := kubernetes.NewForConfigOrDie(apiserver).AdmissionregistrationV1()
		name := "networks.samplecrd.k8s.io-in-use-protection"
		_ = admission.MutatingAdmissionPolicyBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = admission.MutatingAdmissionPolicies().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	// Policies take effect a moment after they are created: dry-run
	// creates until one comes back protected.
	e.waitFor("the protection policy to apply", func() (bool, string) {
		n, err := e.networks.SamplecrdV1().Networks(e.namespace).Create(e.ctx, &samplecrdv1.Network{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"},
			Spec:       samplecrdv1.NetworkSpec{CIDR: "10.97.0.0/24", Gateway: "10.97.0.1"},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(n.Finalizers, samplecrdv1.FinalizerInUseProtection), fmt.Sprint(n.Finalizers)
	})

	running := e.startController(Options{})
	created, err := e.networks.SamplecrdV1().Networks(e.namespace).Create(e.ctx, &samplecrdv1.Network{
		ObjectMeta: metav1.ObjectMeta{Name: "early", Finalizers: []string{"example.test/other"}},
		Spec:       samplecrdv1.NetworkSpec{CIDR: "10.98.0.0/24", Gateway: "10.98.0.1"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"example.test/other", samplecrdv1.FinalizerInUseProtection}; !slices.Equal(created.Finalizers, want) {
		t.Errorf("created with finalizers %v, want %v", created.Finalizers, want)
	}
	e.waitForReady("early", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	for _, w := range running.writes.get() {
		if strings.HasPrefix(w, "PATCH ") && strings.Contains(w, "/networks/") {
			t.Errorf("the controller patched a Network the policy protected: %s", w)
		}
	}
}
