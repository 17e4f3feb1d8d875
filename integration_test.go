package main

// Integration tests: the controller runs in-process against a real
// kube-apiserver and etcd started by controller-runtime's envtest, using the
// binaries hack/k8s/install.sh builds (KUBEBUILDER_ASSETS). They skip under
// go test -short. There is no kube-controller-manager here, so no garbage
// collection: the end-to-end test (test/e2e) covers that.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2/ktesting"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	nadclientset "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	clientset "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned"
	"github.com/samplecrd/network-controller/pkg/netspec"
	"github.com/samplecrd/network-controller/pkg/tenancy"
)

// apiserver is the shared control plane of the integration tests; nil under
// -short.
var apiserver *rest.Config

// controlPlane is the envtest behind apiserver, and apiserverCertDir its
// API server's certificate directory, which outlives the API server so
// that a test can stop it and start it again (see restartAPIServer).
var (
	controlPlane     *envtest.Environment
	apiserverCertDir string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "integration tests need KUBEBUILDER_ASSETS=$(hack/k8s/install.sh) (make test sets it); use -short for unit tests only")
		os.Exit(2)
	}
	certDir, err := os.MkdirTemp("", "network-controller-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{"artifacts/examples/crd.yaml", attachmentCRDFile},
		ErrorIfCRDPathMissing: true,
		ControlPlane:          envtest.ControlPlane{APIServer: &envtest.APIServer{CertDir: certDir}},
	}
	controlPlane, apiserverCertDir = env, certDir
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the envtest control plane:", err)
		// A half-started control plane (say, the CRD was refused) still
		// has processes to stop.
		_ = env.Stop()
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	if err := installAdmissionPolicy(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "installing the admission policy:", err)
		_ = env.Stop()
		os.Exit(1)
	}
	apiserver = cfg
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the envtest control plane:", err)
	}
	os.RemoveAll(certDir)
	os.Exit(code)
}

// env is one integration test's view of the control plane: clients and a
// namespace of its own.
type env struct {
	t         *testing.T
	ctx       context.Context
	kube      kubernetes.Interface
	networks  clientset.Interface
	nads      nadclientset.Interface
	namespace string
}

// newEnv skips under -short, otherwise creates a namespace for the test.
func newEnv(t *testing.T) *env {
	t.Helper()
	if apiserver == nil {
		t.Skip("integration test: needs a real API server (skipped under -short)")
	}
	_, ctx := ktesting.NewTestContext(t)
	e := &env{
		t:         t,
		ctx:       ctx,
		kube:      kubernetes.NewForConfigOrDie(apiserver),
		networks:  clientset.NewForConfigOrDie(apiserver),
		nads:      nadclientset.NewForConfigOrDie(apiserver),
		namespace: strings.ToLower(strings.NewReplacer("_", "-", "/", "-").Replace(t.Name())),
	}
	if len(e.namespace) > 60 {
		e.namespace = e.namespace[:60]
	}
	_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        e.namespace,
		Annotations: map[string]string{tenancy.AllowedCIDRsAnnotation: testAllowance},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.deleteNetworksAndAttachments(t, e.namespace) })
	return e
}

// deleteNetworksAndAttachments deletes the Networks of a test's namespace,
// and their attachments as the garbage collector would: without a
// namespace controller and a garbage collector nothing empties a deleted
// namespace, and later tests must not see them (a controller would remove
// the attachments as orphans, writes those tests do not expect).
func (e *env) deleteNetworksAndAttachments(t *testing.T, namespace string) {
	err := e.networks.SamplecrdV1().Networks(namespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
	if err != nil {
		t.Errorf("cleaning up Networks: %v", err)
	}
	// The test's controller has stopped: nobody releases the in-use
	// protection of what it leaves, so the cleanup does, as an admin
	// would (README).
	left, err := e.networks.SamplecrdV1().Networks(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Errorf("listing the Networks left: %v", err)
		left = &samplecrdv1.NetworkList{}
	}
	for _, n := range left.Items {
		_, err := e.networks.SamplecrdV1().Networks(namespace).Patch(context.Background(), n.Name, types.MergePatchType,
			[]byte(`{"metadata": {"finalizers": null}}`), metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("removing the finalizers of Network %s: %v", n.Name, err)
		}
	}
	err = e.nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(namespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
	if err != nil {
		t.Errorf("cleaning up NetworkAttachmentDefinitions: %v", err)
	}
}

// writeCounter counts the requests that change something (a controller
// that finds everything in order must send none) and those answered with
// 409 Conflict.
type writeCounter struct {
	mu        sync.Mutex
	writes    []string
	conflicts atomic.Int64
}

// roundTripperFunc is an http.RoundTripper made of a function.
type roundTripperFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f.
func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func (w *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method == http.MethodGet {
			return rt.RoundTrip(req)
		}
		w.mu.Lock()
		w.writes = append(w.writes, req.Method+" "+req.URL.Path)
		w.mu.Unlock()
		resp, err := rt.RoundTrip(req)
		if err == nil && resp.StatusCode == http.StatusConflict {
			w.conflicts.Add(1)
		}
		return resp, err
	})
}

func (w *writeCounter) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// runningController is a controller started by startController.
type runningController struct {
	controller *Controller
	writes     *writeCounter
	// requests counts every request the controller sent, answered or not.
	requests *atomic.Int64
	stop     func()
}

// testWorkers is how many workers the tests' controllers run.
const testWorkers = 4

// startController runs the controller in-process with the binary's wiring
// and testWorkers workers until the test ends or stop is called.
func (e *env) startController(opts Options) *runningController {
	e.t.Helper()
	return e.startControllerWithWorkers(opts, testWorkers)
}

// startControllerWithWorkers is startController with as many workers as
// given.
func (e *env) startControllerWithWorkers(opts Options, workers int) *runningController {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	cfg := rest.CopyConfig(apiserver)
	counter := &writeCounter{}
	cfg.Wrap(counter.wrap)
	requests := &atomic.Int64{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			requests.Add(1)
			return rt.RoundTrip(req)
		})
	})
	// Discovery is asked often, so that tests of the attachment API
	// going and coming need not wait the binary's default period.
	controller, start, err := wireController(ctx, cfg, wiring{resync: time.Hour, apiPollPeriod: 200 * time.Millisecond}, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	informersDone := start(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- controller.Run(ctx, workers) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-runDone; err != nil {
				e.t.Errorf("controller.Run: %v", err)
			}
			informersDone()
		})
	}
	e.t.Cleanup(stop)
	return &runningController{controller: controller, writes: counter, requests: requests, stop: stop}
}

// create creates a Network in the test's namespace.
func (e *env) create(name, cidr, gateway string) *samplecrdv1.Network {
	e.t.Helper()
	n, err := e.networks.SamplecrdV1().Networks(e.namespace).Create(e.ctx, &samplecrdv1.Network{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       samplecrdv1.NetworkSpec{CIDR: cidr, Gateway: gateway},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating Network %s: %v", name, err)
	}
	return n
}

// waitFor polls until cond holds, failing the test after 30 s with what
// cond last said.
func (e *env) waitFor(what string, cond func() (bool, string)) {
	e.t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(e.ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		ok, state := cond()
		last = state
		return ok, nil
	})
	if err != nil {
		e.t.Fatalf("timed out waiting for %s; last state: %s", what, last)
	}
}

// waitForReady waits until the Network's Ready condition has the status
// and reason given, at the Network's current generation, and returns it.
func (e *env) waitForReady(name string, status metav1.ConditionStatus, reason string) *samplecrdv1.Network {
	e.t.Helper()
	var n *samplecrdv1.Network
	e.waitFor(fmt.Sprintf("Network %s Ready=%s/%s", name, status, reason), func() (bool, string) {
		var err error
		n, err = e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(n.Status.Conditions, samplecrdv1.ConditionReady)
		ok := c != nil && c.Status == status && c.Reason == reason &&
			n.Status.ObservedGeneration == n.Generation && c.ObservedGeneration == n.Generation
		return ok, fmt.Sprintf("generation %d, status %+v", n.Generation, n.Status)
	})
	return n
}

// attachment returns the NetworkAttachmentDefinition named name in the
// test's namespace.
func (e *env) attachment(name string) (*nadv1.NetworkAttachmentDefinition, error) {
	return e.nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(e.namespace).Get(e.ctx, name, metav1.GetOptions{})
}

// waitForAttachmentConfig waits until the attachment's CNI configuration
// mentions text.
func (e *env) waitForAttachmentConfig(name, text string) *nadv1.NetworkAttachmentDefinition {
	e.t.Helper()
	var nad *nadv1.NetworkAttachmentDefinition
	e.waitFor(fmt.Sprintf("NetworkAttachmentDefinition %s to contain %q", name, text), func() (bool, string) {
		var err error
		nad, err = e.attachment(name)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(nad.Spec.Config, text), nad.Spec.Config
	})
	return nad
}

// waitForNoAttachment waits until the attachment named name is gone.
func (e *env) waitForNoAttachment(name string) {
	e.t.Helper()
	e.waitFor("NetworkAttachmentDefinition "+name+" to be gone", func() (bool, string) {
		_, err := e.attachment(name)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// waitForEvent waits for an Event on the Network with the given type and
// reason whose message contains text.
func (e *env) waitForEvent(name, eventType, reason, text string) {
	e.t.Helper()
	selector := fields.Set{"involvedObject.kind": "Network", "involvedObject.name": name, "reason": reason}.AsSelector().String()
	e.waitFor(fmt.Sprintf("%s Event %s on %s", eventType, reason, name), func() (bool, string) {
		events, err := e.kube.CoreV1().Events(e.namespace).List(e.ctx, metav1.ListOptions{FieldSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range events.Items {
			if ev.Type == eventType && strings.Contains(ev.Message, text) {
				return true, ""
			}
			seen = append(seen, ev.Type+" "+ev.Message)
		}
		return false, fmt.Sprint(seen)
	})
}

func TestIntegrationCreateMakesAttachmentAndReady(t *testing.T) {
	e := newEnv(t)
	e.startController(Options{})
	for _, tc := range []struct{ name, cidr, gateway string }{
		{"v4", "10.10.0.0/16", "10.10.0.1"},
		{"v6", "fd00:10:10::/64", "fd00:10:10::1"},
	} {
		n := e.create(tc.name, tc.cidr, tc.gateway)
		ready := e.waitForReady(tc.name, metav1.ConditionTrue, samplecrdv1.ReasonSynced)
		if ready.Status.AttachmentName != tc.name {
			t.Errorf("%s: status.attachmentName = %q, want %q", tc.name, ready.Status.AttachmentName, tc.name)
		}
		nad := e.waitForAttachmentConfig(tc.name, `"subnet": "`+tc.cidr+`"`)
		if !strings.Contains(nad.Spec.Config, `"gateway": "`+tc.gateway+`"`) {
			t.Errorf("%s: attachment lacks the gateway:\n%s", tc.name, nad.Spec.Config)
		}
		if owner := metav1.GetControllerOf(nad); owner == nil || owner.UID != n.UID {
			t.Errorf("%s: attachment controller = %+v, want the Network (UID %s)", tc.name, owner, n.UID)
		}
		if nad.Labels[managedByLabel] != managedByValue {
			t.Errorf("%s: attachment labels = %v, want %s=%s", tc.name, nad.Labels, managedByLabel, managedByValue)
		}
		e.waitForEvent(tc.name, corev1.EventTypeNormal, SuccessSynced, tc.cidr)
	}
}

func TestIntegrationCIDRChangeUpdatesAttachment(t *testing.T) {
	e := newEnv(t)
	e.startController(Options{})
	e.create("net", "10.20.0.0/16", "10.20.0.1")
	e.waitForReady("net", metav1.ConditionTrue, samplecrdv1.ReasonSynced)

	n, err := e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, "net", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.CIDR, n.Spec.Gateway = "10.21.0.0/16", "10.21.0.1"
	if _, err := e.networks.SamplecrdV1().Networks(e.namespace).Update(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	updated := e.waitForReady("net", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	if updated.Generation != 2 || updated.Status.ObservedGeneration != 2 {
		t.Errorf("generation %d, observedGeneration %d; want 2 and 2", updated.Generation, updated.Status.ObservedGeneration)
	}
	e.waitForAttachmentConfig("net", `"subnet": "10.21.0.0/16"`)
}

func TestIntegrationDriftIsRepaired(t *testing.T) {
	e := newEnv(t)
	e.startController(Options{})
	e.create("net", "10.30.0.0/16", "10.30.0.1")
	e.waitForReady("net", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	want := e.waitForAttachmentConfig("net", "10.30.0.0/16").Spec.Config

	t.Run("an edited config is written back", func(t *testing.T) {
		nad, err := e.attachment("net")
		if err != nil {
			t.Fatal(err)
		}
		nad.Spec.Config = "{}"
		if _, err := e.nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(e.namespace).Update(e.ctx, nad, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		repaired := e.waitForAttachmentConfig("net", "10.30.0.0/16")
		if repaired.Spec.Config != want {
			t.Errorf("repaired config differs:\n%s", repaired.Spec.Config)
		}
	})
	t.Run("a deleted attachment is recreated", func(t *testing.T) {
		if err := e.nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(e.namespace).Delete(e.ctx, "net", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitForAttachmentConfig("net", "10.30.0.0/16")
	})
	t.Run("an attachment that lost its label gets it back", func(t *testing.T) {
		nad, err := e.attachment("net")
		if err != nil {
			t.Fatal(err)
		}
		nad.Labels = map[string]string{"team": "a"}
		if _, err := e.nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(e.namespace).Update(e.ctx, nad, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitFor("the managed-by label to come back", func() (bool, string) {
			nad, err := e.attachment("net")
			if err != nil {
				return false, err.Error()
			}
			return nad.Labels[managedByLabel] == managedByValue && nad.Labels["team"] == "a", fmt.Sprint(nad.Labels)
		})
	})
}

func TestIntegrationForeignAttachmentIsLeftAlone(t *testing.T) {
	e := newEnv(t)
	e.startController(Options{ConflictRecheckPeriod: time.Second})
	foreign, err := e.nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(e.namespace).Create(e.ctx, &nadv1.NetworkAttachmentDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "taken"},
		Spec:       nadv1.NetworkAttachmentDefinitionSpec{Config: `{"cniVersion": "1.0.0", "name": "another-team", "plugins": [{"type": "macvlan"}]}`},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.create("taken", "10.40.0.0/16", "10.40.0.1")
	e.waitForReady("taken", metav1.ConditionFalse, samplecrdv1.ReasonAttachmentConflict)
	e.waitForEvent("taken", corev1.EventTypeWarning, ErrResourceExists, `NetworkAttachmentDefinition "taken" already exists`)

	after, err := e.attachment("taken")
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != foreign.ResourceVersion || after.Spec != foreign.Spec || len(after.OwnerReferences) != 0 {
		t.Errorf("foreign attachment was modified: %+v", after)
	}

	// Once its owner removes it, the recheck finds the name free.
	if err := e.nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(e.namespace).Delete(e.ctx, "taken", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForReady("taken", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	e.waitForAttachmentConfig("taken", "10.40.0.0/16")
}

func TestIntegrationOlderOverlappingNetworkWins(t *testing.T) {
	e := newEnv(t)
	e.startController(Options{})
	e.create("older", "10.50.0.0/16", "10.50.0.1")
	e.waitForReady("older", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	// Creation timestamps have one-second resolution: make "newer" newer.
	time.Sleep(1100 * time.Millisecond)
	e.create("newer", "10.50.128.0/17", "10.50.128.1")
	conflicted := e.waitForReady("newer", metav1.ConditionFalse, samplecrdv1.ReasonCIDRConflict)
	cond := meta.FindStatusCondition(conflicted.Status.Conditions, samplecrdv1.ConditionReady)
	if !strings.Contains(cond.Message, e.namespace+"/older") {
		t.Errorf("conflict message %q does not name the older Network", cond.Message)
	}
	e.waitForEvent("newer", corev1.EventTypeWarning, samplecrdv1.ReasonCIDRConflict, "overlaps 10.50.0.0/16")
	if _, err := e.attachment("newer"); !apierrors.IsNotFound(err) {
		t.Errorf("a conflicting Network got an attachment (err %v)", err)
	}

	if err := e.networks.SamplecrdV1().Networks(e.namespace).Delete(e.ctx, "older", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForReady("newer", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	e.waitForAttachmentConfig("newer", "10.50.128.0/17")
}

func TestIntegrationInvalidNetworksAreRefusedWithTheGoMessages(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, cidr, gateway string
		// want are texts the API server's error must contain; when the
		// case is a CEL rule, pkg/netspec's messages are checked too.
		want []string
	}{
		{"non-canonical CIDR", "192.168.0.1/16", "192.168.0.2", []string{netspec.MsgCIDRNotCanonical}},
		{"non-canonical IPv6 CIDR", "fd00:0:0::/64", "fd00::1", []string{netspec.MsgCIDRNotCanonical}},
		{"garbage CIDR", "not-a-cidr", "192.168.0.1", []string{netspec.MsgCIDRInvalid}},
		{"garbage gateway", "192.168.0.0/16", "gateway", []string{netspec.MsgGatewayInvalid}},
		{"gateway outside", "192.168.0.0/16", "10.0.0.1", []string{netspec.MsgGatewayOutside}},
		{"gateway is the network address", "192.168.0.0/16", "192.168.0.0", []string{netspec.MsgGatewayNetwork}},
		{"gateway is the broadcast address", "192.168.0.0/24", "192.168.0.255", []string{netspec.MsgGatewayBroadcast}},
		{"IPv6 gateway is the network address", "fd00:1::/64", "fd00:1::", []string{netspec.MsgGatewayNetwork}},
		{"family mismatch v4 CIDR v6 gateway", "192.168.0.0/16", "fd00::1", []string{netspec.MsgGatewayFamily}},
		{"family mismatch v6 CIDR v4 gateway", "fd00::/64", "192.168.0.1", []string{netspec.MsgGatewayFamily}},
		{"IPv4 /31 leaves no address for pods", "10.0.0.0/31", "10.0.0.1", []string{netspec.MsgCIDRTooSmall}},
		{"IPv6 /127 leaves no address for pods", "fd00::/127", "fd00::1", []string{netspec.MsgCIDRTooSmall}},
		{"missing CIDR", "", "192.168.0.1", []string{"spec.cidr"}},
		{"missing gateway", "192.168.0.0/16", "", []string{"spec.gateway"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := map[string]interface{}{}
			if tc.cidr != "" {
				spec["cidr"] = tc.cidr
			}
			if tc.gateway != "" {
				spec["gateway"] = tc.gateway
			}
			body := map[string]interface{}{
				"apiVersion": samplecrdv1.SchemeGroupVersion.String(), "kind": "Network",
				"metadata": map[string]interface{}{"name": "bad"}, "spec": spec,
			}
			err := e.networks.SamplecrdV1().RESTClient().Post().Namespace(e.namespace).Resource("networks").
				Body(mustJSON(t, body)).Do(e.ctx).Error()
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.cidr == "" || tc.gateway == "" {
				return
			}
			// The controller's own check must say the same thing.
			for _, v := range netspec.Validate(tc.cidr, tc.gateway) {
				if !strings.Contains(err.Error(), v.Field+": Invalid value") || !strings.Contains(err.Error(), v.Message) {
					t.Errorf("API server error %q lacks the controller's %q", err, v)
				}
			}
		})
	}
	t.Run("the classic example is accepted", func(t *testing.T) {
		e.create("example-network", "192.168.0.0/16", "192.168.0.1")
	})
}

func TestIntegrationRestartMakesNoWrites(t *testing.T) {
	e := newEnv(t)
	first := e.startController(Options{})
	for i := range 5 {
		e.create(fmt.Sprintf("net-%d", i), fmt.Sprintf("10.6%d.0.0/16", i), fmt.Sprintf("10.6%d.0.1", i))
	}
	// Two stable states that are not Ready: a CIDR conflict and a foreign
	// attachment (whose recheck reads but must not write).
	time.Sleep(1100 * time.Millisecond)
	e.create("overlapping", "10.60.0.0/24", "10.60.0.1")
	if _, err := e.nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(e.namespace).Create(e.ctx, &nadv1.NetworkAttachmentDefinition{ObjectMeta: metav1.ObjectMeta{Name: "taken"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.create("taken", "10.70.0.0/16", "10.70.0.1")
	for i := range 5 {
		e.waitForReady(fmt.Sprintf("net-%d", i), metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	}
	e.waitForReady("overlapping", metav1.ConditionFalse, samplecrdv1.ReasonCIDRConflict)
	e.waitForReady("taken", metav1.ConditionFalse, samplecrdv1.ReasonAttachmentConflict)
	first.stop()

	second := e.startController(Options{ConflictRecheckPeriod: 500 * time.Millisecond})
	// Wait until the new controller has synced every Network, and a little
	// longer for anything it might still send.
	e.waitFor("the restarted controller to drain its queue", func() (bool, string) {
		q := second.controller.workqueue
		return second.controller.HasSynced() && q.Len() == 0, fmt.Sprintf("queue length %d", q.Len())
	})
	time.Sleep(2 * time.Second)
	if writes := second.writes.get(); len(writes) != 0 {
		t.Errorf("a restart with everything in order made %d writes: %v", len(writes), writes)
	}
}

// attachmentCRDFile is the NetworkAttachmentDefinition CRD shipped for
// clusters without Multus.
const attachmentCRDFile = "artifacts/examples/network-attachment-definition-crd.yaml"

// mustJSON encodes v for a raw request body.
func mustJSON(t *testing.T, v interface{}) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
