// Package bench measures the controller binary against a real kube-apiserver
// and etcd (envtest, with the binaries hack/k8s/install.sh builds). Each
// figure is taken next to what it is compared with, in the same run:
//
//   - the ceiling: how many Networks per second the API server takes when 32
//     unthrottled clients make, as fast as they can, the writes the
//     controller makes for each new Network (create the
//     NetworkAttachmentDefinition, update the status, create an Event), and
//     for Networks that arrive while the controller runs, the create of the
//     Network too;
//   - the burst (BenchmarkBurst): the controller with its default flags on
//     Networks that exist before it starts, and on Networks created while it
//     runs (as `kubectl apply` of many files does), with -scale other Ready
//     Networks in the cluster; each as a ratio to its ceiling;
//   - the outage (BenchmarkOutage): the API server stopped for 10 s, 3 s
//     into a burst, and the rate at which the backlog drains once it is
//     back, against the same burst without the fault;
//   - the outage at the start (BenchmarkOutageAtStart): the controller
//     started while the API server is away, which comes back 20 s later;
//     how soon the controller works once it is back, and the drain rate
//     from then on against the same burst without the fault;
//   - the footprint (BenchmarkFootprint, BenchmarkFootprintLarge): resident
//     memory idle and at peak, CPU per Network, start-to-synced time and
//     writes after a restart, with -scale (and -large-scale) Networks, and
//     with none for the fixed cost.
//
// `make bench` runs them a few times and writes the medians to
// BENCHMARKS.md. They are benchmarks, not tests: nothing here fails on a
// slow machine.
package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	nadclientset "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned"

	clientset "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned"
)

var (
	// burstSize is how many Networks each burst creates.
	burstSize = flag.Int("burst", 2000, "Networks per burst run")
	// outageSize is how many Networks the outage runs create.
	outageSize = flag.Int("outage-burst", 1000, "Networks per outage run")
	// outageAfter and outageFor place the API server's outage in the burst.
	outageAfter = flag.Duration("outage-after", 3*time.Second, "how long after the controller starts the API server is stopped")
	outageFor   = flag.Duration("outage", 10*time.Second, "how long the API server stays stopped")
	// outageAtStart is how long the API server stays away once the
	// controller has started without it: long enough for the informers'
	// retries to back off several seconds.
	outageAtStart = flag.Duration("outage-at-start", 20*time.Second, "how long the API server stays stopped after the controller started without it")
	// scale is how many other Ready Networks the cluster holds during the
	// bursts and how many the footprint is measured with.
	scale = flag.Int("scale", 10000, "Ready Networks in the cluster during the bursts; the footprint is measured with this many")
	// podsPerNetwork is how many pods BenchmarkFootprintPods attaches to
	// each of the -scale Networks.
	podsPerNetwork = flag.Int("pods-per-network", 5, "pods attached to each Network in BenchmarkFootprintPods (5: 50k pods at the default -scale)")
	// largeScale turns BenchmarkFootprintLarge on.
	largeScale = flag.Int("large-scale", 0, "if set, BenchmarkFootprintLarge measures the footprint with this many Networks (opt-in: it takes long)")
	// timelineDir receives the Ready-over-time series of the first run of
	// each burst, for the plot in BENCHMARKS.md.
	timelineDir = flag.String("timeline-dir", "", "write Ready-over-time series (one file per burst kind, first run) into this directory")
	// profileDir receives a CPU profile of the controller during the
	// footprint burst.
	profileDir = flag.String("profile-dir", "", "write a CPU profile of the controller during the first footprint burst into this directory")
	// writers changes clientWorkers, to see whether it saturates the server.
	writers = flag.Int("writers", 32, "concurrent writers of the benchmark's own requests")
	// keepLogs keeps the controllers' logs, which are removed when they exit cleanly.
	keepLogs = flag.Bool("keep-logs", false, "keep the controllers' logs and name them")
	// controllerBinary measures another build, an older one say.
	controllerBinary = flag.String("controller-binary", "", "measure this controller binary instead of building the repository's")
	// controllerFlags tries other settings than the defaults users get.
	controllerFlags = flag.String("controller-flags", "", "extra flags for the controller binary, space-separated")
)

// clientWorkers is how many concurrent writers the benchmark uses: enough
// to saturate the API server on these machines.
var clientWorkers = 32

var (
	// plane is the control plane; the outage benchmark stops and restarts
	// its API server.
	plane      *envtest.Environment
	certDir    string // the API server's, which names it on its command line
	apiserver  *rest.Config
	kubeconfig string // for the controller binary
	binary     string // the controller binary
)

func TestMain(m *testing.M) {
	flag.Parse()
	clientWorkers = *writers
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
	dir, err := os.MkdirTemp("", "network-controller-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	// client-go's own logs in this process (a reset connection while the
	// API server is killed) go to a file that goes with the run: on stderr
	// they would land in the middle of a benchmark's result line, which go
	// test prints in two parts.
	clientLog, err := os.Create(filepath.Join(dir, "client.log"))
	if err != nil {
		return 0, err
	}
	defer clientLog.Close()
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	// Without the threshold, errors would still be copied to stderr.
	for name, value := range map[string]string{"logtostderr": "false", "stderrthreshold": "FATAL"} {
		if err := klogFlags.Set(name, value); err != nil {
			return 0, err
		}
	}
	klog.SetOutput(clientLog)
	// A certificate directory of our own survives the API server's Stop, so
	// that it starts again with the same certificates and clients go on
	// trusting it (envtest removes a directory it made itself).
	certDir = filepath.Join(dir, "apiserver")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		return 0, err
	}
	plane = &envtest.Environment{
		CRDDirectoryPaths: []string{
			filepath.Join(repo, "artifacts/examples/crd.yaml"),
			filepath.Join(repo, "artifacts/examples/network-attachment-definition-crd.yaml"),
		},
		ErrorIfCRDPathMissing: true,
		ControlPlane:          envtest.ControlPlane{APIServer: &envtest.APIServer{CertDir: certDir}},
	}
	cfg, err := plane.Start()
	defer func() { _ = plane.Stop() }()
	stopOnSignal(func() { _ = plane.Stop(); os.RemoveAll(dir) })
	if err != nil {
		return 0, err
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side limit: find the server's
	apiserver = cfg
	kubeClient, networkClient, nadClient = kubernetes.NewForConfigOrDie(cfg), clientset.NewForConfigOrDie(cfg), nadclientset.NewForConfigOrDie(cfg)
	// As hack/install-crds.sh installs it with the CRD: new Networks
	// arrive with the controller's finalizer.
	if err := installProtectionPolicy(filepath.Join(repo, "artifacts/examples/protection-policy.yaml")); err != nil {
		return 0, err
	}

	user, err := plane.AddUser(envtest.User{Name: "bench-controller", Groups: []string{"system:masters"}}, nil)
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
	binary = *controllerBinary
	if binary == "" {
		binary = filepath.Join(dir, "network-controller")
		build := exec.Command("go", "build", "-o", binary, ".")
		build.Dir = repo
		if out, err := build.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("building the controller: %v\n%s", err, out)
		}
	}
	return m.Run(), nil
}

// The benchmark's own unthrottled clients, made once: making clients is
// not free, and the benchmark shares the machine with what it measures.
var (
	kubeClient    kubernetes.Interface
	networkClient clientset.Interface
	nadClient     nadclientset.Interface
)

// clients returns the benchmark's clients.
func clients(b *testing.B) (kubernetes.Interface, clientset.Interface, nadclientset.Interface) {
	b.Helper()
	if apiserver == nil {
		b.Skip("bench: no control plane")
	}
	return kubeClient, networkClient, nadClient
}

// parallel runs f(0..n-1) on clientWorkers goroutines and fails b on the
// first error.
func parallel(b *testing.B, n int, f func(i int) error) {
	b.Helper()
	if err := tryParallel(n, f); err != nil {
		b.Fatal(err)
	}
}

// tryParallel runs f(0..n-1) on clientWorkers goroutines and returns the
// first error.
func tryParallel(n int, f func(i int) error) error {
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
		return err
	default:
		return nil
	}
}

// withTimeout is a context for one of the benchmark's waits.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
