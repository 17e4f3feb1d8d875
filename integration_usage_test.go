package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/cni"
	"github.com/samplecrd/network-controller/pkg/podrefs"
	"github.com/samplecrd/network-controller/pkg/usage"
)

// The usage figures against a real API server: pods are API objects that
// no kubelet runs (bound to a node that does not exist; there is no
// garbage collector here to remove them), with the network-status
// annotation Multus would have written, and IPPools are objects of
// whereabouts' own CRD, as whereabouts would have written them.

// installIPPoolCRD installs whereabouts' IPPool CRD, from the files of the
// whereabouts version hack/cni/install.sh builds (CNI_PLUGINS_DIR, or the
// script's answer: it returns at once once built), and waits until it is
// served. It stays installed: later tests see IPPools served.
func installIPPoolCRD(t *testing.T) {
	t.Helper()
	dir := os.Getenv("CNI_PLUGINS_DIR")
	if dir == "" {
		out, err := exec.Command("hack/cni/install.sh").Output()
		if err != nil {
			t.Fatalf("hack/cni/install.sh, for whereabouts' CRDs: %v", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	file := filepath.Join(dir, "..", "whereabouts-crds", "whereabouts.cni.cncf.io_ippools.yaml")
	if _, err := envtest.InstallCRDs(apiserver, envtest.CRDInstallOptions{Paths: []string{file}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing whereabouts' IPPool CRD from %s: %v", file, err)
	}
}

// ipPoolAt writes whereabouts' IPPool for the Macvlan Network n in
// defaultWhereaboutsNamespace, holding each address (by its offset from
// the range's first address) for the pod "namespace/name" after it, as
// whereabouts does, and deletes it when the test ends.
func (e *env) ipPoolAt(n *samplecrdv1.Network, offsetAndPodRef ...string) {
	e.t.Helper()
	client := dynamic.NewForConfigOrDie(apiserver).Resource(usage.IPPoolResource).Namespace(defaultWhereaboutsNamespace)
	name := usage.PoolName(cni.Network{Namespace: n.Namespace, Name: n.Name, Subnet: mustPrefix(e.t, n.Spec.CIDR)})
	allocations := map[string]any{}
	for i := 0; i+1 < len(offsetAndPodRef); i += 2 {
		allocations[offsetAndPodRef[i]] = map[string]any{"id": fmt.Sprintf("container-%d", i), "podref": offsetAndPodRef[i+1], "ifname": "net1"}
	}
	pool := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": usage.IPPoolResource.GroupVersion().String(), "kind": "IPPool",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"range": n.Spec.CIDR, "allocations": allocations},
	}}
	current, err := client.Get(e.ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = client.Create(e.ctx, pool, metav1.CreateOptions{})
		e.t.Cleanup(func() { _ = client.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	case err == nil:
		pool.SetResourceVersion(current.GetResourceVersion())
		_, err = client.Update(e.ctx, pool, metav1.UpdateOptions{})
	}
	if err != nil {
		e.t.Fatalf("writing IPPool %s: %v", name, err)
	}
}

// attachedPod creates the pod name in the test's namespace, bound to a
// node that does not exist, with the annotations Multus leaves on a pod
// it attached to the Network network with address ip.
func (e *env) attachedPod(name, network, ip string) {
	e.t.Helper()
	status, err := json.Marshal([]map[string]any{{"name": e.namespace + "/" + network, "interface": "net1", "ips": []string{ip}}})
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = e.kube.CoreV1().Pods(e.namespace).Create(e.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
			podrefs.NetworksAnnotation: network, podrefs.NetworkStatusAnnotation: string(status),
		}},
		Spec: corev1.PodSpec{NodeName: "no-such-node", Containers: []corev1.Container{{Name: "app", Image: "localhost/app:1.0"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating pod %s: %v", name, err)
	}
}

// usageOf reads the usage in the Network's status, as "attachedPods
// total/allocated/leaked AddressesExhausted-reason".
func (e *env) usageOf(name string) string {
	n, err := e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	s := fmt.Sprint(ptr.Deref(n.Status.AttachedPods, -1))
	if a := n.Status.Addresses; a != nil {
		s += fmt.Sprintf(" %d/%d/%d", a.Total, a.Allocated, a.Leaked)
	}
	if c := meta.FindStatusCondition(n.Status.Conditions, samplecrdv1.ConditionAddressesExhausted); c != nil {
		s += " " + c.Reason
	}
	return s
}

// waitForUsage waits until usageOf(name) reads want.
func (e *env) waitForUsage(name, want string) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("Network %s's usage to read %q", name, want), func() (bool, string) {
		got := e.usageOf(name)
		return got == want, got
	})
}

// mustPrefix parses a CIDR a test wrote.
func mustPrefix(t *testing.T, cidr string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIntegrationUsageInStatus: a Macvlan Network's status counts the
// pods Multus attached to it and the addresses whereabouts allocated for
// it, the leaked ones once a pod object goes without its address being
// released, and says when the range is full, with a Warning Event.
func TestIntegrationUsageInStatus(t *testing.T) {
	e := newEnv(t)
	installIPPoolCRD(t)
	e.startController(Options{UsageWriteInterval: 200 * time.Millisecond})
	// A /29 whose gateway is .1: 5 addresses for pods, .2 to .6.
	spec := samplecrdv1.NetworkSpec{CIDR: "198.18.30.0/29", Gateway: "198.18.30.1", Mode: samplecrdv1.NetworkModeMacvlan, Uplink: "eth1"}
	mv, err := e.networks.SamplecrdV1().Networks(e.namespace).Create(e.ctx, &samplecrdv1.Network{ObjectMeta: metav1.ObjectMeta{Name: "mv"}, Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.waitForReady("mv", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	e.waitForUsage("mv", "0 5/0/0 AddressesAvailable")

	e.ipPoolAt(mv, "2", e.namespace+"/pod-a", "3", e.namespace+"/pod-b")
	e.attachedPod("pod-a", "mv", "198.18.30.2")
	e.attachedPod("pod-b", "mv", "198.18.30.3")
	e.waitForUsage("mv", "2 5/2/0 AddressesAvailable")

	// pod-b's object goes; nothing released its address.
	if err := e.kube.CoreV1().Pods(e.namespace).Delete(e.ctx, "pod-b", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	e.waitForUsage("mv", "1 5/2/1 AddressesAvailable")

	// 4 of 5 is 80 %: available; 5 of 5: exhausted.
	e.ipPoolAt(mv, "2", e.namespace+"/pod-a", "3", e.namespace+"/pod-b", "4", e.namespace+"/pod-c", "5", e.namespace+"/pod-d")
	e.waitForUsage("mv", "1 5/4/3 AddressesAvailable")
	e.ipPoolAt(mv, "2", e.namespace+"/pod-a", "3", e.namespace+"/pod-b", "4", e.namespace+"/pod-c", "5", e.namespace+"/pod-d", "6", e.namespace+"/pod-e")
	e.waitForUsage("mv", "1 5/5/4 NoFreeAddresses")
	e.waitForEvent("mv", corev1.EventTypeWarning, AddressesExhausted, fmt.Sprintf(MessageNoFreeAddresses, 5, 4))
}

// TestIntegrationPodBurstMakesFewStatusWrites: 200 pods attached to one
// Network within a second or two cost a handful of status writes, not one
// each, and the last write has them all.
func TestIntegrationPodBurstMakesFewStatusWrites(t *testing.T) {
	e := newEnv(t)
	ctrl := e.startController(Options{})
	e.create("busy", "198.18.31.0/24", "198.18.31.1")
	e.waitForReady("busy", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	e.waitForUsage("busy", "0")
	statusWrites := func() int {
		n := 0
		for _, w := range ctrl.writes.get() {
			if strings.HasSuffix(w, "/networks/busy/status") {
				n++
			}
		}
		return n
	}
	before := statusWrites()
	const pods = 200
	for i := range pods {
		e.attachedPod(fmt.Sprintf("pod-%03d", i), "busy", fmt.Sprintf("198.18.31.%d", 10+i))
	}
	e.waitForUsage("busy", fmt.Sprint(pods))
	// Nothing more is pending: one more window passes without a write.
	time.Sleep(defaultUsageWriteInterval + time.Second)
	burst := statusWrites() - before
	t.Logf("%d pods attached in a burst: %d status writes", pods, burst)
	if burst < 1 || burst > 4 {
		t.Errorf("%d pods attached in a burst took %d status writes; want 1 to 4 (one per %v window)", pods, burst, defaultUsageWriteInterval)
	}
	if got := e.usageOf("busy"); got != fmt.Sprint(pods) {
		t.Errorf("after the burst the status reads %q, want %d attached pods", got, pods)
	}
}
