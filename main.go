// Command network-controller realises samplecrd.k8s.io/v1 Network objects as
// ConfigMaps holding a CNI network configuration. This file is wiring only:
// flags, clients, informers and the controller; behaviour lives in the files
// named after it.
package main

import (
	"context"
	"flag"
	"os"
	"time"

	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	clientset "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned"
	informers "github.com/samplecrd/network-controller/pkg/generated/informers/externalversions"
	"github.com/samplecrd/network-controller/pkg/signals"
)

// flags are the command-line options; see the README for each one.
type flags struct {
	kubeconfig   string
	masterURL    string
	workers      int
	qps          float64
	burst        int
	resyncPeriod time.Duration
}

func main() {
	klog.InitFlags(nil)
	var f flags
	flag.StringVar(&f.kubeconfig, "kubeconfig", "", "Path to a kubeconfig. Only required if out-of-cluster.")
	flag.StringVar(&f.masterURL, "master", "", "The address of the Kubernetes API server. Overrides any value in kubeconfig. Only required if out-of-cluster.")
	flag.IntVar(&f.workers, "workers", 16, "Number of Networks synced in parallel.")
	flag.Float64Var(&f.qps, "kube-api-qps", 1000, "Client-side limit on requests per second to the API server; negative disables it. The default does not throttle a burst of thousands of Networks; API Priority and Fairness protects the server.")
	flag.IntVar(&f.burst, "kube-api-burst", 2000, "Client-side burst of requests to the API server above --kube-api-qps.")
	flag.DurationVar(&f.resyncPeriod, "resync-period", 10*time.Hour, "How often the informers replay their caches. Replays make no API writes: updates with an unchanged resourceVersion are dropped.")
	flag.Parse()

	ctx := signals.SetupSignalHandler(context.Background(), os.Exit)
	logger := klog.FromContext(ctx)
	if err := run(ctx, f); err != nil {
		logger.Error(err, "Network controller failed")
		klog.FlushAndExit(klog.ExitFlushTimeout, 1)
	}
	klog.Flush()
}

// run builds the clients, informers and controller and runs them until ctx
// is cancelled.
func run(ctx context.Context, f flags) error {
	cfg, err := clientcmd.BuildConfigFromFlags(f.masterURL, f.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(f.qps), f.burst
	cfg.UserAgent = controllerAgentName

	controller, start, err := newController(ctx, cfg, f.resyncPeriod, Options{})
	if err != nil {
		return err
	}
	defer start(ctx)()
	return controller.Run(ctx, f.workers)
}

// newController wires a Controller to clients and informers for cfg. The
// returned start function starts the informers and returns a function that
// waits for them to stop; tests use the same wiring as the binary.
func newController(ctx context.Context, cfg *rest.Config, resync time.Duration, opts Options) (*Controller, func(context.Context) func(), error) {
	kubeCfg := rest.CopyConfig(cfg)
	// Built-in types speak protobuf, which is cheaper to encode and decode
	// than JSON; custom resources do not, so the Network client keeps JSON.
	kubeCfg.ContentType = "application/vnd.kubernetes.protobuf"
	kubeClient, err := kubernetes.NewForConfig(kubeCfg)
	if err != nil {
		return nil, nil, err
	}
	networkClient, err := clientset.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}

	kubeInformerFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, resync,
		kubeinformers.WithTweakListOptions(selectManagedConfigMaps))
	networkInformerFactory := informers.NewSharedInformerFactory(networkClient, resync)

	controller, err := NewController(ctx, kubeClient, networkClient,
		networkInformerFactory.Samplecrd().V1().Networks(),
		kubeInformerFactory.Core().V1().ConfigMaps(),
		opts)
	if err != nil {
		return nil, nil, err
	}
	start := func(ctx context.Context) func() {
		kubeInformerFactory.Start(ctx.Done())
		networkInformerFactory.Start(ctx.Done())
		return func() {
			kubeInformerFactory.Shutdown()
			networkInformerFactory.Shutdown()
		}
	}
	return controller, start, nil
}
