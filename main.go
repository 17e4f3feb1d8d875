// Command network-controller realises samplecrd.k8s.io/v1 Network objects as
// Multus NetworkAttachmentDefinitions holding a CNI network configuration. This file is wiring only:
// flags, clients, informers and the controller; behaviour lives in the files
// named after it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	nadclientset "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned"
	nadscheme "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned/scheme"
	nadinformers "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/informers/externalversions"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/apiserved"
	"github.com/samplecrd/network-controller/pkg/fastjson"
	clientset "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned"
	networkscheme "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned/scheme"
	informers "github.com/samplecrd/network-controller/pkg/generated/informers/externalversions"
	"github.com/samplecrd/network-controller/pkg/httpserve"
	"github.com/samplecrd/network-controller/pkg/leadership"
	"github.com/samplecrd/network-controller/pkg/metrics"
	"github.com/samplecrd/network-controller/pkg/podrefs"
	"github.com/samplecrd/network-controller/pkg/serverhealth"
	"github.com/samplecrd/network-controller/pkg/signals"
	"github.com/samplecrd/network-controller/pkg/tenancy"
)

// flags are the command-line options; see the README for each one.
type flags struct {
	kubeconfig      string
	masterURL       string
	workers         int
	qps             float64
	burst           int
	resyncPeriod    time.Duration
	metricsAddr     string
	profiling       bool
	probeAddr       string
	shutdownTimeout time.Duration
	leaderElect     bool
	leaderElection  leadership.Config
	// allowUnannotated and reserved are the tenancy settings; see
	// pkg/tenancy and the README.
	allowUnannotated bool
	reserved         tenancy.CIDRList
	// whereaboutsNamespace is where whereabouts keeps its IPPools.
	whereaboutsNamespace string
}

func main() {
	klog.InitFlags(nil)
	var f flags
	flag.StringVar(&f.kubeconfig, "kubeconfig", "", "Path to a kubeconfig. Only required if out-of-cluster.")
	flag.StringVar(&f.masterURL, "master", "", "The address of the Kubernetes API server. Overrides any value in kubeconfig. Only required if out-of-cluster.")
	flag.IntVar(&f.workers, "workers", 32, "Number of Networks synced in parallel. Each sync waits on the API server most of the time, so it takes about as many in flight as a saturating client to reach its ceiling (see BENCHMARKS.md).")
	flag.Float64Var(&f.qps, "kube-api-qps", 1000, "Client-side limit on requests per second to the API server; negative disables it. The default does not throttle a burst of thousands of Networks; API Priority and Fairness protects the server.")
	flag.IntVar(&f.burst, "kube-api-burst", 2000, "Client-side burst of requests to the API server above --kube-api-qps.")
	flag.DurationVar(&f.resyncPeriod, "resync-period", 10*time.Hour, "How often the informers replay their caches. Replays make no API writes: updates with an unchanged resourceVersion are dropped.")
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", "Address for /metrics (Prometheus text format); 0 disables it.")
	flag.BoolVar(&f.profiling, "profiling", false, "Serve Go's pprof profiles under /debug/pprof/ on the metrics address (off by default: they expose internals, and a CPU profile costs CPU while it runs).")
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "Address for /healthz (liveness) and /readyz (readiness); 0 disables it.")
	flag.DurationVar(&f.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, fmt.Sprintf("On SIGTERM, how long in-flight syncs may take to finish before they are cancelled; recorded Events then get up to %v to be written. Keep it, plus %v, plus --leader-elect-renew-deadline, below the pod's terminationGracePeriodSeconds.", eventFlushTimeout, eventFlushTimeout))
	flag.BoolVar(&f.leaderElect, "leader-elect", false, "Run workers only while holding a Lease, so that several replicas can run with one active. On in the deployment manifests.")
	flag.DurationVar(&f.leaderElection.LeaseDuration, "leader-elect-lease-duration", leadership.DefaultLeaseDuration, "How long followers wait after the last renewal before taking the lease.")
	flag.DurationVar(&f.leaderElection.RenewDeadline, "leader-elect-renew-deadline", leadership.DefaultRenewDeadline, "How long the leader keeps retrying a renewal before giving the lease up.")
	flag.DurationVar(&f.leaderElection.RetryPeriod, "leader-elect-retry-period", leadership.DefaultRetryPeriod, "How often to try to acquire or renew the lease.")
	flag.StringVar(&f.leaderElection.Name, "leader-elect-resource-name", controllerAgentName, "Name of the Lease object.")
	flag.StringVar(&f.leaderElection.Namespace, "leader-elect-resource-namespace", leadership.DefaultNamespace(), "Namespace of the Lease object (default: the pod's namespace in a cluster, else default).")
	flag.BoolVar(&f.allowUnannotated, "allow-unannotated-namespaces", false, "Let Networks in namespaces without the "+tenancy.AllowedCIDRsAnnotation+" annotation use any free range. Off: they may use none (the secure default). Set the admission policy's unannotatedAllowed to match (see the README).")
	flag.Var(&f.reserved, "reserved-cidrs", "Comma-separated ranges no Network may overlap: the cluster's service and pod ranges, node networks. Such a Network is ReservedRange and claims nothing.")
	flag.StringVar(&f.whereaboutsNamespace, "whereabouts-namespace", defaultWhereaboutsNamespace, "Namespace whereabouts keeps its IPPools in (the namespace of the context of the kubeconfig its configuration names; kube-system when that has none). Macvlan Networks report their addresses from those pools.")
	flag.Parse()

	ctx := signals.SetupSignalHandler(context.Background(), os.Exit)
	logger := klog.FromContext(ctx)
	if err := run(ctx, f); err != nil {
		logger.Error(err, "Network controller failed")
		klog.FlushAndExit(klog.ExitFlushTimeout, 1)
	}
	logger.Info("Network controller stopped")
	klog.Flush()
}

// run builds the clients, informers, controller and HTTP servers and runs
// them until ctx is cancelled, under leader election when it is enabled.
// With leader election it also returns, with leadership.ErrLeaseLost, once the Lease
// is lost; everything it started has stopped by the time it returns.
func run(ctx context.Context, f flags) error {
	if f.workers < 1 {
		return fmt.Errorf("--workers must be at least 1, got %d", f.workers)
	}
	cfg, err := clientcmd.BuildConfigFromFlags(f.masterURL, f.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(f.qps), f.burst
	cfg.UserAgent = controllerAgentName

	controller, start, err := wireController(ctx, cfg, wiring{resync: f.resyncPeriod, apiPollPeriod: defaultAPIPollPeriod, whereaboutsNamespace: f.whereaboutsNamespace}, Options{
		ShutdownTimeout:            f.shutdownTimeout,
		AllowUnannotatedNamespaces: f.allowUnannotated,
		ReservedCIDRs:              f.reserved,
		ObserveSync: func(outcome syncOutcome, d time.Duration) {
			metrics.ObserveSync(outcome.metricResult(), d)
		},
	})
	if err != nil {
		return err
	}
	metrics.RegisterNetworkCounts(controller.NetworksByReadyStatus)
	metrics.RegisterUsageTotals(controller.UsageTotals)

	var election *leadership.Health // nil without leader election
	if f.leaderElect {
		election = leadership.NewHealth()
	}
	stopServers, err := serveEndpoints(ctx, f, controller, election)
	if err != nil {
		return err
	}
	defer stopServers()

	// Caches warm up whether or not this process leads, so a new leader
	// starts work at once. They stop when run returns, not only with ctx: a
	// lost Lease ends run while ctx lives on, and waiting for informers
	// that never stop would hang the process.
	informersCtx, stopInformers := context.WithCancel(ctx)
	waitForInformers := start(informersCtx)
	defer func() {
		stopInformers()
		waitForInformers()
	}()
	return lead(ctx, f, cfg, controller, election)
}

// serveEndpoints starts the metrics and probe servers; the returned
// function stops both. /healthz fails with election's check, when there is
// leader election.
func serveEndpoints(ctx context.Context, f flags, controller *Controller, election *leadership.Health) (func(), error) {
	var liveness httpserve.Check // stays nil without leader election
	if election != nil {
		liveness = election
	}
	stopMetrics, err := httpserve.Serve(ctx, "metrics", f.metricsAddr, metrics.Handler(f.profiling))
	if err != nil {
		return nil, err
	}
	stopProbes, err := httpserve.Serve(ctx, "probes", f.probeAddr, httpserve.Probes(controller.Ready, liveness))
	if err != nil {
		stopMetrics()
		return nil, err
	}
	return func() {
		stopProbes()
		stopMetrics()
	}, nil
}

// lead runs the controller's workers while this process leads, until ctx
// ends: at once without leader election, only while this process holds the
// Lease with it. The leader gauge is 1 while they run.
func lead(ctx context.Context, f flags, cfg *rest.Config, controller *Controller, election *leadership.Health) error {
	if election == nil {
		metrics.SetLeader(true)
		defer metrics.SetLeader(false)
		return controller.Run(ctx, f.workers)
	}
	leaseClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return leadership.Run(ctx, f.leaderElection, leaseClient, election, func(ctx, lost context.Context) error {
		metrics.SetLeader(true)
		defer metrics.SetLeader(false)
		return controller.RunWithAbort(ctx, lost, f.workers)
	})
}

// wiring is how wireController connects a Controller to its cluster.
type wiring struct {
	// resync is how often the informers replay their caches.
	resync time.Duration
	// apiPollPeriod is how often the controller asks API discovery whether
	// NetworkAttachmentDefinitions are served and, until whereabouts'
	// IPPools are, whether they are.
	apiPollPeriod time.Duration
	// whereaboutsNamespace is where whereabouts keeps its IPPools; empty:
	// defaultWhereaboutsNamespace.
	whereaboutsNamespace string
}

// wireController wires a Controller to clients and informers for cfg,
// filling opts.ServerHealth and opts.AttachmentAPI. The returned start
// function starts the informers and returns a function that waits for them
// to stop; tests use the same wiring as the binary.
func wireController(ctx context.Context, cfg *rest.Config, w wiring, opts Options) (*Controller, func(context.Context) func(), error) {
	// Every request tells the controller whether the API server answers
	// (pkg/serverhealth).
	health := serverhealth.New(klog.FromContext(ctx))
	opts.ServerHealth = health
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(health.Wrap)
	// The API server gzips large answers (the informers' first lists) when
	// asked, which costs both sides CPU to save bandwidth a controller
	// next to its API server is not short of.
	cfg.DisableCompression = true
	kubeClient, networkClient, nadClient, err := newClients(cfg)
	if err != nil {
		return nil, nil, err
	}
	health.UseProbe(kubeClient.Discovery().RESTClient())
	attachments := apiserved.New(kubeClient.Discovery(), health, attachmentAPI(w.apiPollPeriod))
	opts.AttachmentAPI = attachments

	// The informers have clients of their own, whose reads wait for an API
	// server that is away rather than fail into client-go's backoff
	// (pkg/serverhealth); the attachment informer's also waits for its API
	// to be served again when its CRD was deleted (pkg/apiserved).
	informerCfg := rest.CopyConfig(cfg)
	informerCfg.Wrap(health.HoldReads)
	nadInformerCfg := rest.CopyConfig(informerCfg)
	nadInformerCfg.Wrap(attachments.HoldWhileMissing)
	f, err := newInformerFactories(informerCfg, nadInformerCfg, w.resync)
	if err != nil {
		return nil, nil, err
	}
	pools, err := newIPPoolsFor(informerCfg, w)
	if err != nil {
		return nil, nil, err
	}
	opts.IPPools = pools

	controller, err := NewController(ctx, kubeClient, networkClient, nadClient, f.informers(), opts)
	if err != nil {
		return nil, nil, err
	}
	poolsAPI := apiserved.New(kubeClient.Discovery(), health, ipPoolsAPI(w.apiPollPeriod))
	start := func(ctx context.Context) func() {
		// The attachment informer starts once its API is served, the
		// IPPool informer once whereabouts' CRD is. Their goroutines end
		// with ctx.
		go attachments.Watch(ctx, func() { f.attachments.Start(ctx.Done()) }, controller.requeueAll)
		go pools.follow(ctx, poolsAPI, controller.enqueueMacvlanNetworks)
		return f.start(ctx)
	}
	return controller, start, nil
}

// start starts the factories' informers, but the attachments', until ctx
// ends; the returned function waits for them to stop. (The attachment
// factory has no Shutdown: its goroutines end with ctx.)
func (f *informerFactories) start(ctx context.Context) func() {
	f.networks.Start(ctx.Done())
	f.kube.Start(ctx.Done())
	f.pods.Start(ctx.Done())
	f.crd.Start(ctx.Done())
	return func() {
		f.networks.Shutdown()
		f.kube.Shutdown()
		f.pods.Shutdown()
		f.crd.Shutdown()
	}
}

// informers are the Controller's informers, from the factories.
func (f *informerFactories) informers() Informers {
	return Informers{
		Networks:    f.networks.Samplecrd().V1().Networks(),
		Attachments: f.attachments.K8sCniCncfIo().V1().NetworkAttachmentDefinitions(),
		Namespaces:  f.kube.Core().V1().Namespaces(),
		Pods:        f.pods.Core().V1().Pods(),
		CRD:         f.crd.ForResource(crdResource).Informer(),
	}
}

// informerFactories are the controller's informer factories. Pods have a
// factory of their own because a factory has one transform for all its
// informers, and the pod cache keeps *podrefs.Pod (pkg/podrefs). crd
// watches the metadata of the Network CRD alone (protection.go).
type informerFactories struct {
	networks    informers.SharedInformerFactory
	attachments nadinformers.SharedInformerFactory
	kube        kubeinformers.SharedInformerFactory
	pods        kubeinformers.SharedInformerFactory
	crd         metadatainformer.SharedInformerFactory
}

// newInformerFactories builds the informer factories on clients for cfg
// (nadCfg for the attachments), each cache keeping only what the controller
// reads (transforms.go) and the attachments' only the managed ones.
func newInformerFactories(cfg, nadCfg *rest.Config, resync time.Duration) (*informerFactories, error) {
	kubeClient, networkClient, _, err := newClients(cfg)
	if err != nil {
		return nil, err
	}
	_, _, nadClient, err := newClients(nadCfg)
	if err != nil {
		return nil, err
	}
	metadataClient, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	f := &informerFactories{
		networks: informers.NewSharedInformerFactoryWithOptions(networkClient, resync,
			informers.WithTransform(networkTransform)),
		attachments: nadinformers.NewSharedInformerFactoryWithOptions(nadClient, resync,
			nadinformers.WithTweakListOptions(selectManagedAttachments)),
		kube: kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, resync,
			kubeinformers.WithTransform(namespaceTransform)),
		pods: kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, resync,
			kubeinformers.WithTransform(podrefs.Transform)),
		crd: metadatainformer.NewFilteredSharedInformerFactory(metadataClient, resync, "", onlyTheNetworkCRD),
	}
	// The attachment informers' factory predates WithTransform.
	if err := f.attachments.K8sCniCncfIo().V1().NetworkAttachmentDefinitions().Informer().SetTransform(attachmentTransform); err != nil {
		return nil, err
	}
	return f, nil
}

// newIPPoolsFor returns the IPPools of w's whereabouts namespace, read
// through a dynamic client for cfg.
func newIPPoolsFor(cfg *rest.Config, w wiring) (*ipPools, error) {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	namespace := w.whereaboutsNamespace
	if namespace == "" {
		namespace = defaultWhereaboutsNamespace
	}
	return newIPPools(client, namespace, w.resync)
}

// newClients returns the clients of the three APIs the controller uses,
// for cfg.
func newClients(cfg *rest.Config) (kubernetes.Interface, clientset.Interface, nadclientset.Interface, error) {
	kubeCfg := rest.CopyConfig(cfg)
	// Built-in types speak protobuf, which is cheaper to encode and decode
	// than JSON; custom resources do not, so their clients keep JSON, read
	// through pkg/fastjson.
	kubeCfg.ContentType = "application/vnd.kubernetes.protobuf"
	kubeClient, err := kubernetes.NewForConfig(kubeCfg)
	if err != nil {
		return nil, nil, nil, err
	}
	networkREST, err := customResourceClient(cfg, samplecrdv1.SchemeGroupVersion, networkscheme.Scheme)
	if err != nil {
		return nil, nil, nil, err
	}
	nadREST, err := customResourceClient(cfg, nadv1.SchemeGroupVersion, nadscheme.Scheme)
	if err != nil {
		return nil, nil, nil, err
	}
	return kubeClient, clientset.New(networkREST), nadclientset.New(nadREST), nil
}

// customResourceClient returns a REST client for the custom resources of
// gv, whose types scheme holds, set up as their generated clientset sets
// up its own but reading JSON through pkg/fastjson, which spares client-go
// parsing every object it receives several times over.
func customResourceClient(cfg *rest.Config, gv schema.GroupVersion, scheme *runtime.Scheme) (*rest.RESTClient, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = fastjson.NegotiatedSerializer(scheme)
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientFor(cfg)
}
