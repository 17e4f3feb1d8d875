// Package bench measures the controller against a real kube-apiserver and
// etcd (envtest, with the binaries hack/k8s/install.sh builds):
//
//   - the ceiling: how many Networks per second the API server takes when a
//     client makes, as fast as it can, the writes the controller makes for
//     each new Network (create the NetworkAttachmentDefinition, update the status, create an
//     Event);
//   - the burst: how many Networks per second the controller binary, with
//     its default flags, makes Ready when it starts with a backlog of new
//     Networks; whether every one got its Event; and how many writes it
//     makes after a restart and across informer resyncs (it should make
//     none).
//
// Each iteration of BenchmarkBurst measures both, one after the other, on
// fresh namespaces and cleans up after each, so that the two see the same
// server state; the ratio is taken per iteration.
//
// `make bench` runs them a few times and writes the medians and their ratio
// to BENCHMARKS.md. They are benchmarks, not tests: nothing here fails on a
// slow machine.
package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	nadclientset "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	clientset "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned"
	informers "github.com/samplecrd/network-controller/pkg/generated/informers/externalversions"
	"github.com/samplecrd/network-controller/pkg/tenancy"
)

var (
	// burstSize is how many Networks each run creates.
	burstSize = flag.Int("burst", 2000, "Networks per benchmark run")
	// controllerFlags tries other settings than the defaults users get.
	controllerFlags = flag.String("controller-flags", "", "extra flags for the controller binary, space-separated")
)

// clientWorkers is how many concurrent writers the ceiling uses: enough to
// saturate the API server on these machines.
const clientWorkers = 32

var (
	apiserver  *rest.Config
	kubeconfig string // for the controller binary
	binary     string // the controller binary
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() || os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Println("bench: needs KUBEBUILDER_ASSETS=$(hack/k8s/install.sh) and no -short; use make bench")
		os.Exit(m.Run())
	}
	code, err := setUp(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// setUp starts the control plane, builds the controller and runs m.
func setUp(m *testing.M) (int, error) {
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	env := &envtest.Environment{
		CRDDirectoryPaths: []string{
			filepath.Join(repo, "artifacts/examples/crd.yaml"),
			filepath.Join(repo, "artifacts/examples/network-attachment-definition-crd.yaml"),
		},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	defer func() { _ = env.Stop() }()
	if err != nil {
		return 0, err
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side limit: find the server's
	apiserver = cfg

	dir, err := os.MkdirTemp("", "network-controller-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	user, err := env.AddUser(envtest.User{Name: "bench-controller", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return 0, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return 0, err
	}
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return 0, err
	}
	binary = filepath.Join(dir, "network-controller")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building the controller: %v\n%s", err, out)
	}
	return m.Run(), nil
}

// clients returns unthrottled clients for the benchmark's own requests.
func clients(b *testing.B) (kubernetes.Interface, clientset.Interface) {
	b.Helper()
	if apiserver == nil {
		b.Skip("bench: no control plane")
	}
	return kubernetes.NewForConfigOrDie(apiserver), clientset.NewForConfigOrDie(apiserver)
}

// backlog creates n Networks with distinct /24s in a fresh namespace, with
// clientWorkers concurrent creates, and returns them and the namespace.
func backlog(b *testing.B, n int) (string, []*samplecrdv1.Network) {
	b.Helper()
	kube, networks := clients(b)
	ctx := context.Background()
	// The namespace may use every range, as an administrator would allow
	// it: the controller refuses Networks in namespaces without an allowance.
	ns, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "bench-",
		Annotations:  map[string]string{tenancy.AllowedCIDRsAnnotation: "0.0.0.0/0, ::/0"},
	}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	created := make([]*samplecrdv1.Network, n)
	parallel(b, n, func(i int) error {
		var err error
		created[i], err = networks.SamplecrdV1().Networks(ns.Name).Create(ctx, &samplecrdv1.Network{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("net-%05d", i)},
			Spec: samplecrdv1.NetworkSpec{
				CIDR:    fmt.Sprintf("10.%d.%d.0/24", i/256, i%256),
				Gateway: fmt.Sprintf("10.%d.%d.1", i/256, i%256),
			},
		}, metav1.CreateOptions{})
		return err
	})
	return ns.Name, created
}

// cleanUp deletes what a run left in ns, so that the next run starts from
// the same server state (envtest has no namespace or garbage collector).
func cleanUp(b *testing.B, ns string) {
	b.Helper()
	kube, networks := clients(b)
	ctx := context.Background()
	all := metav1.ListOptions{}
	for _, err := range []error{
		networks.SamplecrdV1().Networks(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, all),
		nadclientset.NewForConfigOrDie(apiserver).K8sCniCncfIoV1().NetworkAttachmentDefinitions(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, all),
		kube.CoreV1().Events(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, all),
	} {
		if err != nil {
			b.Fatal(err)
		}
	}
}

// parallel runs f(0..n-1) on clientWorkers goroutines and fails b on the
// first error.
func parallel(b *testing.B, n int, f func(i int) error) {
	b.Helper()
	next := make(chan int)
	errs := make(chan error, clientWorkers)
	var wg sync.WaitGroup
	for range clientWorkers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case err := <-errs:
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// BenchmarkBurst measures, per iteration, the API server's ceiling and the
// controller's burst on identical backlogs, and their ratio.
func BenchmarkBurst(b *testing.B) {
	for range b.N {
		b.StopTimer()
		ceiling := measureCeiling(b)
		controller := measureController(b)
		b.ReportMetric(ceiling, "ceiling-networks/s")
		b.ReportMetric(controller, "networks/s")
		b.ReportMetric(100*controller/ceiling, "%-of-ceiling")
	}
}

// measureCeiling makes the controller's writes for each Network of a
// backlog directly, as fast as the API server takes them, while a watcher
// like the one measureController waits with runs too. It returns
// Networks per second.
func measureCeiling(b *testing.B) float64 {
	kube, networks := clients(b)
	nads := nadclientset.NewForConfigOrDie(apiserver)
	ctx := context.Background()
	ns, backlogged := backlog(b, *burstSize)
	defer cleanUp(b, ns)
	watching := make(chan struct{})
	go func() { defer close(watching); waitAllReady(b, networks, ns, len(backlogged)) }()

	start := time.Now()
	parallel(b, len(backlogged), func(i int) error {
		n := backlogged[i]
		ref := metav1.NewControllerRef(n, samplecrdv1.SchemeGroupVersion.WithKind("Network"))
		_, err := nads.K8sCniCncfIoV1().NetworkAttachmentDefinitions(ns).Create(ctx, &nadv1.NetworkAttachmentDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{"app.kubernetes.io/managed-by": "bench"}, OwnerReferences: []metav1.OwnerReference{*ref}},
			Spec:       nadv1.NetworkAttachmentDefinitionSpec{Config: strings.Repeat("x", 330)},
		}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		n = n.DeepCopy()
		meta.SetStatusCondition(&n.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Synced", Message: "bench"})
		n.Status.ObservedGeneration, n.Status.AttachmentName = n.Generation, n.Name
		if _, err := networks.SamplecrdV1().Networks(ns).UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			return err
		}
		_, err = kube.CoreV1().Events(ns).Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: n.Name + "."},
			InvolvedObject: corev1.ObjectReference{Kind: "Network", APIVersion: "samplecrd.k8s.io/v1", Namespace: ns, Name: n.Name, UID: n.UID},
			Reason:         "Synced", Message: "bench", Type: corev1.EventTypeNormal,
			Source: corev1.EventSource{Component: "bench"}, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
		}, metav1.CreateOptions{})
		return err
	})
	rate := float64(len(backlogged)) / time.Since(start).Seconds()
	<-watching
	return rate
}

// measureController starts the controller binary, with its default flags,
// on a backlog of new Networks and waits until all are Ready; then restarts
// it with a 1 s resync period and counts its writes. It returns Networks
// per second from start to the last Ready and reports the rest.
func measureController(b *testing.B) float64 {
	_, networks := clients(b)
	ns, backlogged := backlog(b, *burstSize)
	defer cleanUp(b, ns)

	start := time.Now()
	ctrl := startController(b)
	firstReady, allReady := waitAllReady(b, networks, ns, len(backlogged))
	rate := float64(len(backlogged)) / allReady.Sub(start).Seconds()
	b.ReportMetric(float64(len(backlogged))/allReady.Sub(firstReady).Seconds(), "networks/s-after-first")
	b.ReportMetric(ctrl.metric(b, "process_resident_memory_bytes")/(1<<20), "MiB-rss")
	ctrl.stop(b)
	b.ReportMetric(syncedEvents(b, ns)/float64(len(backlogged)), "synced-events/network")

	// A restart finds everything in order, and so do resyncs.
	again := startController(b, "--resync-period=1s")
	time.Sleep(5 * time.Second)
	b.ReportMetric(again.writes(b), "writes-after-restart")
	again.stop(b)
	return rate
}

// waitAllReady watches the Networks in ns until n are Ready and returns
// when the first and the last of them were seen Ready. It watches rather
// than polls so that waiting costs the API server next to nothing.
func waitAllReady(b *testing.B, networks clientset.Interface, ns string, n int) (first, all time.Time) {
	b.Helper()
	var mu sync.Mutex
	ready := map[string]bool{}
	done := make(chan struct{})
	observe := func(obj interface{}) {
		network, ok := obj.(*samplecrdv1.Network)
		if !ok || !meta.IsStatusConditionTrue(network.Status.Conditions, samplecrdv1.ConditionReady) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if ready[network.Name] {
			return
		}
		ready[network.Name] = true
		if len(ready) == 1 {
			first = time.Now()
		}
		if len(ready) == n {
			all = time.Now()
			close(done)
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(networks, 0, informers.WithNamespace(ns))
	informer := factory.Samplecrd().V1().Networks().Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj interface{}) { observe(obj) },
	}); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	defer func() { close(stop); factory.Shutdown() }()
	factory.Start(stop)
	select {
	case <-done:
		return first, all
	case <-time.After(5 * time.Minute):
		b.Fatalf("not all %d Networks became Ready within 5 minutes", n)
		return
	}
}

// syncedEvents counts the Normal Synced Events in ns once the controller
// has stopped (it flushes its Events on the way out).
func syncedEvents(b *testing.B, ns string) float64 {
	b.Helper()
	kube, _ := clients(b)
	list, err := kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "reason=Synced"})
	if err != nil {
		b.Fatal(err)
	}
	return float64(len(list.Items))
}

// controller is a running controller binary with its metrics address.
type controller struct {
	cmd     *exec.Cmd
	metrics string
}

// startController starts the binary with default flags except the ones
// that would clash (ports) and extra args.
func startController(b *testing.B, args ...string) *controller {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args = append(append([]string{"--kubeconfig", kubeconfig, "--metrics-bind-address", addr, "--health-probe-bind-address=0"}, strings.Fields(*controllerFlags)...), args...)
	cmd := exec.Command(binary, args...)
	logFile, err := os.CreateTemp("", "bench-controller-*.log")
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return &controller{cmd: cmd, metrics: "http://" + addr + "/metrics"}
}

// stop sends SIGTERM and waits for the process.
func (c *controller) stop(b *testing.B) {
	b.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.cmd.Wait(); err != nil {
		b.Errorf("controller exited with %v", err)
	}
}

// samples returns the controller's /metrics samples whose line starts with
// prefix.
func (c *controller) samples(b *testing.B, prefix string) map[string]float64 {
	b.Helper()
	var resp *http.Response
	var err error
	for range 50 {
		if resp, err = http.Get(c.metrics); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// metric returns one sample's value.
func (c *controller) metric(b *testing.B, name string) float64 {
	b.Helper()
	return c.samples(b, name+" ")[name]
}

// writes sums the controller's REST requests that are not reads.
func (c *controller) writes(b *testing.B) float64 {
	b.Helper()
	total := 0.0
	for series, v := range c.samples(b, "rest_client_requests_total{") {
		if !strings.Contains(series, `method="GET"`) {
			total += v
		}
	}
	return total
}
