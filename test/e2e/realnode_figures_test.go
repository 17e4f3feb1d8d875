package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// TestRealNodePodAttachFigures starts pods all at once on the node and
// measures, for each, the time from its create request to Ready: with no
// secondary network (the node's own ceiling), on a Bridge Network and on a
// Macvlan Network. Every pod must become Ready, and with a Network Multus
// must report it in network-status. It logs p50, p99 and pods per second.
// NODE_BENCH_PODS is the list of burst sizes (default 10; the figures in
// BENCHMARKS.md are from NODE_BENCH_PODS=50,200).
func TestRealNodePodAttachFigures(t *testing.T) {
	n := needNode(t)
	c := cluster
	sizes := []int{10}
	if v := os.Getenv("NODE_BENCH_PODS"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			size, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || size < 1 || size > 240 {
				t.Fatalf("NODE_BENCH_PODS=%q: want sizes of 1 to 240 (the node's maxPods and its /24 cluster network)", v)
			}
			sizes = append(sizes, size)
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 500 // the test's own requests must not be what limits the burst
	kube := kubernetes.NewForConfigOrDie(cfg)
	installWhereaboutsCRDs(t, c, n.pluginsDir)
	ns := "node-figures"
	c.newNamespace(t, ns)
	c.startController(t, "network-controller", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	createNetworkOnNode(t, c, ns, "bridge", "Bridge", netip.MustParsePrefix("198.18.40.0/24"), netip.MustParseAddr("198.18.40.1"), nil)
	createNetworkOnNode(t, c, ns, "macvlan", "Macvlan", netip.MustParsePrefix("198.18.41.0/24"), netip.MustParseAddr("198.18.41.1"), nil)

	for _, network := range []string{"", "bridge", "macvlan"} {
		for _, size := range sizes {
			label := network
			if label == "" {
				label = "none"
			}
			t.Run(fmt.Sprintf("%s/%d", label, size), func(t *testing.T) {
				took, wall := podBurst(t, kube, ns, network, size)
				slices.Sort(took)
				pct := func(p float64) time.Duration { return took[min(len(took)-1, int(p*float64(len(took))))] }
				t.Logf("FIGURE network=%s pods=%d p50=%.2fs p99=%.2fs max=%.2fs all-ready=%.1fs pods/s=%.1f",
					label, size, pct(0.50).Seconds(), pct(0.99).Seconds(), took[len(took)-1].Seconds(), wall.Seconds(), float64(size)/wall.Seconds())
			})
		}
	}
}

// podBurst creates size pods at once (one request each, concurrently),
// waits until every one is Ready, checks Multus' network-status when
// network is set, deletes them and waits until they are gone. It returns
// each pod's create-to-Ready time and the time until all were Ready.
func podBurst(t *testing.T, kube kubernetes.Interface, ns, network string, size int) ([]time.Duration, time.Duration) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	label := fmt.Sprintf("burst-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		del := context.Background()
		_ = kube.CoreV1().Pods(ns).DeleteCollection(del, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "burst=" + label})
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			l, err := kube.CoreV1().Pods(ns).List(del, metav1.ListOptions{LabelSelector: "burst=" + label})
			if err == nil && len(l.Items) == 0 {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Errorf("the burst's pods were not gone within 3 min")
	})

	var mu sync.Mutex
	created := map[string]time.Time{}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, size)
	for i := range size {
		wg.Go(func() {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", label, i), Labels: map[string]string{"burst": label}},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{
						Name: "shell", Image: workloadImage, ImagePullPolicy: corev1.PullNever,
						Command: []string{"sleep", "86400"},
					}},
				},
			}
			if network != "" {
				pod.Annotations = map[string]string{"k8s.v1.cni.cncf.io/networks": network}
			}
			t0 := time.Now()
			mu.Lock()
			created[pod.Name] = t0
			mu.Unlock()
			if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("creating a pod: %v", err)
	}
	// Polled, not watched: a watch the API server ends early would stall
	// the count, and 100 ms is well below what is measured.
	ready := map[string]time.Duration{}
	for len(ready) < size {
		if ctx.Err() != nil {
			t.Fatalf("%d of %d pods Ready after %v", len(ready), size, time.Since(start))
		}
		l, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "burst=" + label})
		if err != nil {
			t.Logf("listing the burst's pods: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		now := time.Now()
		for i := range l.Items {
			pod := &l.Items[i]
			if _, done := ready[pod.Name]; done || !podReady(pod) {
				continue
			}
			if network != "" && !strings.Contains(pod.Annotations["k8s.v1.cni.cncf.io/network-status"], `"`+ns+"/"+network+`"`) {
				t.Fatalf("pod %s is Ready without %s/%s in network-status: %q", pod.Name, ns, network, pod.Annotations["k8s.v1.cni.cncf.io/network-status"])
			}
			ready[pod.Name] = now.Sub(created[pod.Name])
		}
		time.Sleep(100 * time.Millisecond)
	}
	wall := time.Since(start)
	took := make([]time.Duration, 0, size)
	for _, d := range ready {
		took = append(took, d)
	}
	return took, wall
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
