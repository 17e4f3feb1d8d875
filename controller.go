package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	clientset "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned"
	samplescheme "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned/scheme"
	informers "github.com/samplecrd/network-controller/pkg/generated/informers/externalversions/samplecrd/v1"
	listers "github.com/samplecrd/network-controller/pkg/generated/listers/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/netspec"
)

// controllerAgentName is the component name on Events and the field manager
// on writes, so users can tell this controller's doing from anyone else's.
const controllerAgentName = "network-controller"

// Labels the controller puts on the ConfigMaps it manages. The ConfigMap
// informer watches only objects with managedByLabel=managedByValue, so the
// cache never holds the cluster's other ConfigMaps.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedByValue = controllerAgentName
)

// cidrIndex is the Network informer index that pkg/overlap's keys live in;
// overlap lookups use it instead of listing every Network.
const cidrIndex = "cidr"

// Event reasons and messages. Reasons are stable identifiers users filter
// on; messages say what happened and, for warnings, what to do about it.
const (
	// SuccessSynced is used when a sync changed something and the Network is
	// now Ready.
	SuccessSynced = samplecrdv1.ReasonSynced
	// MessageSynced is the message of a SuccessSynced Event.
	MessageSynced = "Network synced: ConfigMap %q holds the CNI configuration for %s"

	// ErrResourceExists is used when the ConfigMap the Network would own
	// exists and belongs to someone else.
	ErrResourceExists = "ErrResourceExists"
	// MessageResourceExists is the message of an ErrResourceExists Event and
	// of the ConfigMapConflict condition.
	MessageResourceExists = "ConfigMap %q already exists and is not controlled by this Network; it was left untouched. Delete or rename that ConfigMap, or give the Network another name"

	// MessageInvalidSpec is the message of an InvalidSpec Event and condition.
	MessageInvalidSpec = "Invalid spec: %s. Fix the spec; the controller retries when it changes"

	// MessageCIDRConflict is the message of a CIDRConflict Event and condition.
	MessageCIDRConflict = "spec.cidr %s overlaps %s of Network %s, which is older and keeps it. Choose a CIDR that does not overlap, or delete Network %s"
)

// syncOutcome classifies how a sync ended, for logs and metrics.
type syncOutcome string

// The outcomes of a sync. A transient failure is syncError and is retried;
// the others are final until something changes.
const (
	outcomeSuccess  syncOutcome = "success"
	outcomeError    syncOutcome = "error"
	outcomeInvalid  syncOutcome = "invalid"
	outcomeConflict syncOutcome = "conflict"
	outcomeDeleted  syncOutcome = "deleted"
)

// Options tune a Controller; the zero value of a field means its default.
type Options struct {
	// ConflictRecheckPeriod is how often a Network in ConfigMapConflict looks
	// again at the ConfigMap blocking it. The ConfigMap informer sees only
	// managed ConfigMaps, so the deletion of a foreign one produces no event;
	// the recheck is a read and writes nothing unless the conflict is gone.
	ConflictRecheckPeriod time.Duration
	// Clock stamps condition transition times; tests replace it.
	Clock clock.PassiveClock
	// ObserveSync is told the outcome and duration of every sync; it feeds
	// the metrics unless a test replaces it.
	ObserveSync func(outcome syncOutcome, d time.Duration)
	// ShutdownTimeout bounds how long Run waits for in-flight syncs once
	// asked to stop; after it their API calls are cancelled.
	ShutdownTimeout time.Duration
}

// Defaults for Options.
const (
	defaultConflictRecheckPeriod = time.Minute
	defaultShutdownTimeout       = 30 * time.Second
)

// Controller realises Network objects as ConfigMaps holding a CNI network
// configuration and reports the result in each Network's status.
type Controller struct {
	kubeclientset    kubernetes.Interface
	networkclientset clientset.Interface

	networksLister   listers.NetworkLister
	networksIndexer  cache.Indexer
	networksSynced   cache.InformerSynced
	configMapsLister corelisters.ConfigMapLister
	configMapsSynced cache.InformerSynced

	// workqueue holds namespace/name keys of Networks to sync. It is rate
	// limited so that a failing Network backs off instead of hot-looping,
	// and it never holds the same key twice.
	workqueue workqueue.TypedRateLimitingInterface[cache.ObjectName]

	broadcaster record.EventBroadcaster
	eventSink   *asyncSink
	stopEvents  context.CancelFunc
	recorder    record.EventRecorder
	opts        Options
}

// NewController returns a Controller fed by the given informers. It adds the
// Network types to client-go's scheme so that Events can refer to Networks,
// and registers the overlap index on the Network informer, so it must be
// called before the informer factories start.
func NewController(
	ctx context.Context,
	kubeclientset kubernetes.Interface,
	networkclientset clientset.Interface,
	networkInformer informers.NetworkInformer,
	configMapInformer coreinformers.ConfigMapInformer,
	opts Options,
) (*Controller, error) {
	logger := klog.FromContext(ctx)
	if opts.ConflictRecheckPeriod <= 0 {
		opts.ConflictRecheckPeriod = defaultConflictRecheckPeriod
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.ObserveSync == nil {
		opts.ObserveSync = recordSync
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = defaultShutdownTimeout
	}
	utilruntime.Must(samplescheme.AddToScheme(scheme.Scheme))

	if err := networkInformer.Informer().AddIndexers(cache.Indexers{cidrIndex: cidrIndexFunc}); err != nil {
		return nil, fmt.Errorf("adding the CIDR index: %w", err)
	}

	logger.V(4).Info("Creating event broadcaster")
	// Event recording outlives ctx: Run flushes the last Events after the
	// workers have stopped, then stops the broadcaster and the sink.
	eventsCtx, stopEvents := context.WithCancel(context.WithoutCancel(ctx))
	broadcaster := record.NewBroadcaster(record.WithContext(eventsCtx))
	broadcaster.StartStructuredLogging(0)
	eventSink := newAsyncSink(eventsCtx, &typedcorev1.EventSinkImpl{Interface: kubeclientset.CoreV1().Events("")})
	broadcaster.StartRecordingToSink(eventSink)

	c := &Controller{
		kubeclientset:    kubeclientset,
		networkclientset: networkclientset,
		networksLister:   networkInformer.Lister(),
		networksIndexer:  networkInformer.Informer().GetIndexer(),
		networksSynced:   networkInformer.Informer().HasSynced,
		configMapsLister: configMapInformer.Lister(),
		configMapsSynced: configMapInformer.Informer().HasSynced,
		workqueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName](),
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: "networks"},
		),
		broadcaster: broadcaster,
		eventSink:   eventSink,
		stopEvents:  stopEvents,
		recorder:    broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: controllerAgentName}),
		opts:        opts,
	}

	logger.Info("Setting up event handlers")
	if _, err := networkInformer.Informer().AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    c.addNetwork,
		UpdateFunc: c.updateNetwork,
		DeleteFunc: c.deleteNetwork,
	}); err != nil {
		return nil, fmt.Errorf("adding Network event handlers: %w", err)
	}
	if _, err := configMapInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.handleConfigMap,
		UpdateFunc: c.updateConfigMap,
		DeleteFunc: c.handleConfigMap,
	}); err != nil {
		return nil, fmt.Errorf("adding ConfigMap event handlers: %w", err)
	}
	return c, nil
}

// Run waits for the informer caches, then runs workers until ctx is
// cancelled. Stopping is graceful: workers take no new keys, in-flight syncs
// get up to Options.ShutdownTimeout to finish (their API calls are not
// cancelled with ctx, so a sync is not cut off half-way), then the Events
// recorded so far are flushed and the event broadcaster is shut down.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.stopEvents()
	defer c.broadcaster.Shutdown()
	logger := klog.FromContext(ctx)

	logger.Info("Starting Network controller")
	logger.Info("Waiting for informer caches to sync")
	if ok := cache.WaitForCacheSync(ctx.Done(), c.networksSynced, c.configMapsSynced); !ok {
		c.workqueue.ShutDown()
		if ctx.Err() != nil {
			// Asked to stop before the caches filled: not a failure.
			return nil
		}
		return errors.New("failed to wait for caches to sync")
	}

	// Syncs run under a context of their own that outlives ctx, so that
	// stopping lets them finish; it is cancelled only when time runs out.
	syncCtx, cancelSyncs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSyncs()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { c.runWorker(ctx, syncCtx) })
	}
	isLeader.Set(1)
	defer isLeader.Set(0)
	logger.Info("Started workers", "count", workers)

	<-ctx.Done()
	logger.Info("Shutting down: waiting for in-flight syncs", "timeout", c.opts.ShutdownTimeout)
	c.workqueue.ShutDown()
	if !waitTimeout(&wg, c.opts.ShutdownTimeout) {
		logger.Info("In-flight syncs did not finish in time; cancelling them")
		cancelSyncs()
		wg.Wait()
	}
	flushCtx, cancelFlush := context.WithTimeout(context.WithoutCancel(ctx), c.opts.ShutdownTimeout)
	defer cancelFlush()
	c.eventSink.flush(flushCtx)
	logger.Info("Workers stopped and Events flushed")
	return nil
}

// HasSynced reports whether the informer caches have synced, which is when
// the controller is ready to work (/readyz).
func (c *Controller) HasSynced() bool {
	return c.networksSynced() && c.configMapsSynced()
}

// waitTimeout waits for wg, for at most d; it reports whether wg finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// runWorker processes keys until stop ends or the queue shuts down; the
// syncs themselves run under syncCtx.
func (c *Controller) runWorker(stop, syncCtx context.Context) {
	for stop.Err() == nil && c.processNextWorkItem(stop, syncCtx) {
	}
}

// processNextWorkItem syncs one key and decides whether it comes back:
// success forgets its failure history, a transient error requeues it with
// backoff. Permanent problems are reported by the sync and return nil.
func (c *Controller) processNextWorkItem(stop, ctx context.Context) bool {
	key, shutdown := c.workqueue.Get()
	if shutdown {
		return false
	}
	defer c.workqueue.Done(key)
	if stop.Err() != nil {
		// Stopping: the key stays unsynced; the next leader syncs it.
		return false
	}

	logger := klog.LoggerWithValues(klog.FromContext(ctx), "network", key)
	ctx = klog.NewContext(ctx, logger)
	start := time.Now()
	outcome, err := c.syncHandler(ctx, key)
	c.opts.ObserveSync(outcome, time.Since(start))
	if err == nil {
		c.workqueue.Forget(key)
		logger.V(4).Info("Synced", "outcome", outcome, "duration", time.Since(start))
		return true
	}
	if apierrors.IsConflict(err) {
		// The cache had not caught up with a write yet: expected now and
		// then, and the retry reads the newer object.
		logger.V(2).Info("Conflict, requeuing", "err", err)
	} else {
		utilruntime.HandleErrorWithContext(ctx, err, "Error syncing; requeuing for later retry", "objectReference", key)
	}
	c.workqueue.AddRateLimited(key)
	return true
}

// syncHandler brings one Network's ConfigMap and status in line with its
// spec. A sync that finds everything in order makes no API writes.
func (c *Controller) syncHandler(ctx context.Context, key cache.ObjectName) (syncOutcome, error) {
	logger := klog.FromContext(ctx)

	network, err := c.networksLister.Networks(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		// The garbage collector removes the ConfigMap through its owner
		// reference; the delete handler already re-enqueued the Networks
		// this one may have been blocking.
		logger.V(4).Info("Network no longer exists")
		return outcomeDeleted, nil
	}
	if err != nil {
		return outcomeError, err
	}

	subnet, gateway, err := netspec.Parse(network.Spec.CIDR, network.Spec.Gateway)
	if err != nil {
		msg := fmt.Sprintf(MessageInvalidSpec, err)
		return outcomeInvalid, c.reportProblem(ctx, network, samplecrdv1.ReasonInvalidSpec, samplecrdv1.ReasonInvalidSpec, msg, network.Status.ConfigMapName)
	}

	if blocker, found := c.findBlocker(network, subnet); found {
		msg := fmt.Sprintf(MessageCIDRConflict, network.Spec.CIDR, blocker.Prefix, blocker.Key, blocker.Key)
		return outcomeConflict, c.reportProblem(ctx, network, samplecrdv1.ReasonCIDRConflict, samplecrdv1.ReasonCIDRConflict, msg, network.Status.ConfigMapName)
	}

	desired, err := newConfigMap(network, subnet, gateway)
	if err != nil {
		// netspec.Parse accepted the spec, so this is a bug, not user input.
		return outcomeError, fmt.Errorf("rendering the CNI configuration: %w", err)
	}
	cmChanged, err := c.ensureConfigMap(ctx, network, desired)
	if errors.Is(err, errNotControlled) {
		c.workqueue.AddAfter(key, c.opts.ConflictRecheckPeriod)
		msg := fmt.Sprintf(MessageResourceExists, desired.Name)
		return outcomeConflict, c.reportProblem(ctx, network, samplecrdv1.ReasonConfigMapConflict, ErrResourceExists, msg, "")
	}
	if err != nil {
		return outcomeError, err
	}

	ready := metav1.Condition{
		Type:    samplecrdv1.ConditionReady,
		Status:  metav1.ConditionTrue,
		Reason:  samplecrdv1.ReasonSynced,
		Message: fmt.Sprintf("ConfigMap %q holds the CNI configuration", desired.Name),
	}
	statusChanged, err := c.updateStatus(ctx, network, ready, desired.Name)
	if err != nil {
		return outcomeError, err
	}
	if cmChanged || statusChanged {
		c.recorder.Eventf(network, corev1.EventTypeNormal, SuccessSynced, MessageSynced, desired.Name, network.Spec.CIDR)
	}
	return outcomeSuccess, nil
}
