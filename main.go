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

	kubeCfg := *cfg
	// Built-in types speak protobuf, which is cheaper to encode and decode
	// than JSON; custom resources do not, so the Network client keeps JSON.
	kubeCfg.ContentType = "application/vnd.kubernetes.protobuf"
	kubeClient, err := kubernetes.NewForConfig(&kubeCfg)
	if err != nil {
		return err
	}
	networkClient, err := clientset.NewForConfig(cfg)
	if err != nil {
		return err
	}

	kubeInformerFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kubeClient, f.resyncPeriod,
		kubeinformers.WithTweakListOptions(selectManagedConfigMaps))
	networkInformerFactory := informers.NewSharedInformerFactory(networkClient, f.resyncPeriod)

	controller, err := NewController(ctx, kubeClient, networkClient,
		networkInformerFactory.Samplecrd().V1().Networks(),
		kubeInformerFactory.Core().V1().ConfigMaps(),
		Options{})
	if err != nil {
		return err
	}

	kubeInformerFactory.Start(ctx.Done())
	networkInformerFactory.Start(ctx.Done())
	defer kubeInformerFactory.Shutdown()
	defer networkInformerFactory.Shutdown()

	return controller.Run(ctx, f.workers)
}
