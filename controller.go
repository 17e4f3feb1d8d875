package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	nadclientset "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned"
	nadinformers "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/informers/externalversions/k8s.cni.cncf.io/v1"
	nadlisters "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/listers/k8s.cni.cncf.io/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
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
	"github.com/samplecrd/network-controller/pkg/apiserved"
	"github.com/samplecrd/network-controller/pkg/cni"
	"github.com/samplecrd/network-controller/pkg/events"
	"github.com/samplecrd/network-controller/pkg/expectations"
	"github.com/samplecrd/network-controller/pkg/freemem"
	clientset "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned"
	samplescheme "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned/scheme"
	informers "github.com/samplecrd/network-controller/pkg/generated/informers/externalversions/samplecrd/v1"
	listers "github.com/samplecrd/network-controller/pkg/generated/listers/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/metrics"
	"github.com/samplecrd/network-controller/pkg/netspec"
	"github.com/samplecrd/network-controller/pkg/podrefs"
	"github.com/samplecrd/network-controller/pkg/serverhealth"
	"github.com/samplecrd/network-controller/pkg/usage"
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
	// outcomeStale is a sync that met a cache not yet showing the
	// controller's own last write: skipped, or a write that failed with 409
	// Conflict. An expected race, retried, and counted apart from errors so
	// that an alert on the error rate means something.
	outcomeStale syncOutcome = "stale"
)

// metricResult is the syncs_total result an outcome counts as. A sync of a
// deleted Network counts as a success: nothing was left to do.
func (o syncOutcome) metricResult() string {
	switch o {
	case outcomeError:
		return metrics.ResultError
	case outcomeInvalid:
		return metrics.ResultInvalid
	case outcomeConflict:
		return metrics.ResultConflict
	case outcomeStale:
		return metrics.ResultStale
	default:
		return metrics.ResultSuccess
	}
}

// Options tune a Controller; the zero value of a field means its default.
type Options struct {
	// ConflictRecheckPeriod is how often a Network in AttachmentConflict
	// looks again at the attachment blocking it. The attachment informer
	// sees only managed attachments, so the deletion of a foreign one
	// produces no event; the recheck is a read and writes nothing unless the
	// conflict is gone.
	ConflictRecheckPeriod time.Duration
	// Clock stamps condition transition times; tests replace it.
	Clock clock.PassiveClock
	// ObserveSync is told the outcome and duration of every sync: the
	// binary feeds the metrics with it. Nil: syncs are not observed.
	ObserveSync func(outcome syncOutcome, d time.Duration)
	// ShutdownTimeout bounds how long Run waits for in-flight syncs once
	// asked to stop; after it their API calls are cancelled.
	ShutdownTimeout time.Duration
	// AllowUnannotatedNamespaces permits any range to the Networks of a
	// namespace without the allowed-cidrs annotation (--allow-unannotated-
	// namespaces); by default they may use none.
	AllowUnannotatedNamespaces bool
	// ReservedCIDRs are ranges no Network may overlap (--reserved-cidrs).
	ReservedCIDRs []netip.Prefix

	// ServerHealth follows the API server through the clients' requests
	// (pkg/serverhealth): the workers wait while it is away. Required: the
	// clients given to NewController must report to it (its Wrap).
	ServerHealth *serverhealth.Health
	// AttachmentAPI follows whether NetworkAttachmentDefinitions are
	// served (pkg/apiserved): the workers wait while they are not. Nil
	// counts them as always served, as unit tests on fakes want.
	AttachmentAPI *apiserved.API
	// IPPools are whereabouts' IPPools (ippools.go), for the addresses of
	// Macvlan Networks. Nil: Macvlan Networks report no addresses.
	IPPools *ipPools
	// UsageWriteInterval is the shortest time between two writes of a
	// Network's usage figures alone (usage.go).
	UsageWriteInterval time.Duration
}

// Defaults for Options.
const (
	defaultConflictRecheckPeriod = time.Minute
	defaultShutdownTimeout       = 20 * time.Second
	// defaultUsageWriteInterval keeps a busy Network's status writes to
	// one per five seconds, while a figure that changed alone is never
	// more than that late.
	defaultUsageWriteInterval = 5 * time.Second
)

// Stopping budget. A graceful stop takes at most ShutdownTimeout for the
// in-flight syncs, eventFlushTimeout for the Events, then (main.go) the
// Lease release, which client-go bounds by --leader-elect-renew-deadline,
// and httpserve.ShutdownTimeout for each of the two HTTP servers: with the
// defaults 20 + 10 + 10 + 2×2 = 44 s, inside the 60 s
// terminationGracePeriodSeconds of artifacts/deploy/deployment.yaml. In
// practice a stop takes well under a second: syncs and Event writes take
// milliseconds, and the budgets only matter when the API server does not
// answer.
const (
	// eventFlushTimeout bounds how long stopping waits for recorded Events
	// to be written. Ten seconds writes thousands of queued Events, or rides
	// out a few retries of a short API server hiccup; Events still unwritten
	// then are dropped and counted.
	eventFlushTimeout = 10 * time.Second
)

// errShutdownTimeout is the cause of the cancellation of syncs that did not
// finish within Options.ShutdownTimeout.
var errShutdownTimeout = errors.New("shutdown timeout: in-flight sync cancelled")

// Controller realises Network objects as NetworkAttachmentDefinitions
// holding a CNI network configuration and reports the result in each
// Network's status.
type Controller struct {
	kubeclientset    kubernetes.Interface
	networkclientset clientset.Interface
	nadclientset     nadclientset.Interface

	networksLister    listers.NetworkLister
	networksIndexer   cache.Indexer
	attachmentsLister nadlisters.NetworkAttachmentDefinitionLister
	namespacesLister  corelisters.NamespaceLister
	// podsIndexer is the pod cache: *podrefs.Pod objects, indexed by the
	// Networks each pod holds and is attached to (pkg/podrefs). It has no
	// typed lister: read it through the indexer and podrefs.FromCache.
	podsIndexer cache.Indexer
	// crdIndexer holds the metadata of the Network CRD alone: its
	// deletion is an uninstall, which releases every held Network
	// (protection.go).
	crdIndexer cache.Indexer
	// cachesSynced report whether each of those caches has synced.
	cachesSynced []cache.InformerSynced

	// expectations lets a sync tell a cache that lags behind the
	// controller's own writes from one that is current.
	expectations *expectations.Writes

	// workqueue holds namespace/name keys of Networks to sync. It is rate
	// limited so that a failing Network backs off instead of hot-looping,
	// and it never holds the same key twice.
	workqueue workqueue.TypedRateLimitingInterface[cache.ObjectName]
	// serverHealth holds the workers while the API server does not answer
	// (pkg/serverhealth).
	serverHealth *serverhealth.Health
	// attachmentAPI holds them while NetworkAttachmentDefinitions are not
	// served (pkg/apiserved); nil counts them as served.
	attachmentAPI *apiserved.API
	// bursts tells when to return memory (pkg/freemem).
	bursts freemem.Tracker

	// ipPools are whereabouts' IPPools; nil without them (usage.go).
	ipPools *ipPools
	// usageThrottle paces the writes of usage figures (usage.go).
	usageThrottle *usage.Throttle
	// statusWritten holds the keys of the Networks whose status the
	// running sync has written, figures included, so that reportUsage
	// writes nothing more: a sync empties it for its key when it ends.
	// The workqueue never hands one key to two workers at once.
	statusWritten sync.Map
	// skippedBehind holds the keys of the Networks whose sync was skipped
	// because the cache did not show the controller's last status write
	// yet; the echo of that write queues them again (updateNetwork). The
	// sync may have been queued by something the writing sync did not see
	// (a pod that started meanwhile), which must not wait for
	// expectations.TTL.
	skippedBehind sync.Map

	// events writes the Events of recorder; Run flushes and stops it.
	events *events.Recorder
	// recorder is what syncs record Events with: events, which unit tests
	// replace with client-go's FakeRecorder.
	recorder record.EventRecorder
	opts     Options
}

// complete returns o with its zero fields given their defaults, or an
// error if a required one is missing.
func (o Options) complete() (Options, error) {
	if o.ServerHealth == nil {
		return o, errors.New("Options.ServerHealth is required: the controller cannot tell an outage from a failure without it")
	}
	if o.ConflictRecheckPeriod <= 0 {
		o.ConflictRecheckPeriod = defaultConflictRecheckPeriod
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.ObserveSync == nil {
		o.ObserveSync = func(syncOutcome, time.Duration) {}
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = defaultShutdownTimeout
	}
	if o.UsageWriteInterval <= 0 {
		o.UsageWriteInterval = defaultUsageWriteInterval
	}
	return o, nil
}

// Informers are the caches a Controller reads, and whose events feed its
// queue. NewController adds its indexes and handlers to them, so it must be
// called before they start.
type Informers struct {
	Networks    informers.NetworkInformer
	Attachments nadinformers.NetworkAttachmentDefinitionInformer
	Namespaces  coreinformers.NamespaceInformer
	// Pods must have podrefs.Transform as its transform: its cache holds
	// *podrefs.Pod.
	Pods coreinformers.PodInformer
	// CRD holds the metadata (metav1.Object) of the Network CRD, crdName,
	// and of no other.
	CRD cache.SharedIndexInformer
}

// NewController returns a Controller fed by the given informers. It adds the
// Network types to client-go's scheme so that Events can refer to Networks,
// and registers the overlap and pool indexes on the Network informer and the
// podrefs indexes on the pod informer.
func NewController(
	ctx context.Context,
	kubeclientset kubernetes.Interface,
	networkclientset clientset.Interface,
	nadclient nadclientset.Interface,
	inf Informers,
	opts Options,
) (*Controller, error) {
	logger := klog.FromContext(ctx)
	opts, err := opts.complete()
	if err != nil {
		return nil, err
	}
	utilruntime.Must(samplescheme.AddToScheme(scheme.Scheme))
	if err := inf.Networks.Informer().AddIndexers(cache.Indexers{cidrIndex: cidrIndexFunc, poolIndex: poolIndexFunc}); err != nil {
		return nil, fmt.Errorf("adding the Network indexes: %w", err)
	}
	if err := inf.Pods.Informer().AddIndexers(podrefs.Indexers()); err != nil {
		return nil, fmt.Errorf("adding the pod indexes: %w", err)
	}

	logger.V(4).Info("Creating event recorder")
	// Event recording outlives ctx: Run flushes the last Events after the
	// workers have stopped, then stops the recorder.
	recorder := events.NewRecorder(ctx, &typedcorev1.EventSinkImpl{Interface: kubeclientset.CoreV1().Events("")},
		scheme.Scheme, corev1.EventSource{Component: controllerAgentName},
		events.Options{Dropped: metrics.DroppedEvents})

	c := &Controller{
		kubeclientset:     kubeclientset,
		networkclientset:  networkclientset,
		nadclientset:      nadclient,
		networksLister:    inf.Networks.Lister(),
		networksIndexer:   inf.Networks.Informer().GetIndexer(),
		attachmentsLister: inf.Attachments.Lister(),
		namespacesLister:  inf.Namespaces.Lister(),
		podsIndexer:       inf.Pods.Informer().GetIndexer(),
		crdIndexer:        inf.CRD.GetIndexer(),
		cachesSynced: []cache.InformerSynced{inf.Networks.Informer().HasSynced, inf.Attachments.Informer().HasSynced,
			inf.Namespaces.Informer().HasSynced, inf.Pods.Informer().HasSynced, inf.CRD.HasSynced},
		expectations: expectations.New(opts.Clock),
		workqueue: workqueue.NewTypedRateLimitingQueueWithConfig(serverhealth.NewRateLimiter(),
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: "networks"},
		),
		serverHealth:  opts.ServerHealth,
		attachmentAPI: opts.AttachmentAPI,
		ipPools:       opts.IPPools,
		usageThrottle: usage.NewThrottle(opts.UsageWriteInterval, opts.Clock),
		events:        recorder,
		recorder:      recorder,
		opts:          opts,
	}

	logger.Info("Setting up event handlers")
	if err := c.addEventHandlers(inf); err != nil {
		return nil, err
	}
	return c, nil
}

// addEventHandlers connects the informers to the handlers (handlers.go),
// which decide what gets queued.
func (c *Controller) addEventHandlers(inf Informers) error {
	if _, err := inf.Networks.Informer().AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    c.addNetwork,
		UpdateFunc: c.updateNetwork,
		DeleteFunc: c.deleteNetwork,
	}); err != nil {
		return fmt.Errorf("adding Network event handlers: %w", err)
	}
	if _, err := inf.Attachments.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addAttachment,
		UpdateFunc: c.updateAttachment,
		DeleteFunc: c.deleteAttachment,
	}); err != nil {
		return fmt.Errorf("adding NetworkAttachmentDefinition event handlers: %w", err)
	}
	if _, err := inf.Namespaces.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addNamespace,
		UpdateFunc: c.updateNamespace,
	}); err != nil {
		return fmt.Errorf("adding Namespace event handlers: %w", err)
	}
	if _, err := inf.Pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return fmt.Errorf("adding Pod event handlers: %w", err)
	}
	if _, err := inf.CRD.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addCRD,
		UpdateFunc: c.updateCRD,
	}); err != nil {
		return fmt.Errorf("adding CustomResourceDefinition event handlers: %w", err)
	}
	if c.ipPools != nil {
		if err := c.addIPPoolHandlers(c.ipPools); err != nil {
			return fmt.Errorf("adding IPPool event handlers: %w", err)
		}
	}
	return nil
}

// Run waits for the informer caches, then runs workers until ctx is
// cancelled. Stopping is graceful: workers take no new keys, in-flight syncs
// get up to Options.ShutdownTimeout to finish (their API calls are not
// cancelled with ctx, so a sync is not cut off half-way), then the Events
// recorded so far are flushed, for up to eventFlushTimeout, and the Event
// writers are stopped.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return c.RunWithAbort(ctx, context.Background(), workers)
}

// RunWithAbort is Run that also stops when abort ends, and then without
// grace: in-flight syncs are cancelled at once, with abort's cause, even if
// a graceful stop had begun. A leader that lost its Lease stops this way:
// another replica may be leading already, and a sync that went on writing
// would race it. The Events recorded are flushed either way: they only tell
// what was done.
func (c *Controller) RunWithAbort(ctx, abort context.Context, workers int) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.events.Stop()
	logger := klog.FromContext(ctx)

	// stop ends with ctx or abort: then workers take no new keys.
	stop, cancelStop := context.WithCancel(ctx)
	defer cancelStop()
	defer context.AfterFunc(abort, cancelStop)()

	logger.Info("Starting Network controller")
	logger.Info("Waiting for informer caches to sync")
	if ok := cache.WaitForCacheSync(stop.Done(), c.cachesSynced...); !ok {
		c.workqueue.ShutDown()
		if stop.Err() != nil {
			// Asked to stop before the caches filled: not a failure.
			return nil
		}
		return errors.New("failed to wait for caches to sync")
	}

	// Syncs run under a context of their own that outlives ctx, so that a
	// graceful stop lets them finish; it is cancelled when abort ends or
	// when time runs out.
	syncCtx, cancelSyncs := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelSyncs(nil)
	defer context.AfterFunc(abort, func() { cancelSyncs(context.Cause(abort)) })()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { c.runWorker(stop, syncCtx) })
	}
	wg.Go(func() {
		c.bursts.Run(stop, func() bool { return c.workqueue.Len() == 0 && c.events.Pending() == 0 })
	})
	logger.Info("Started workers", "count", workers)

	<-stop.Done()
	c.stopWorkers(ctx, abort, &wg, cancelSyncs)
	return nil
}

// stopWorkers shuts the queue down and waits for the workers: for their
// in-flight syncs until the shutdown timeout (at once if abort ended), then
// cancels those left; and flushes the Events recorded, for at most
// eventFlushTimeout.
func (c *Controller) stopWorkers(ctx, abort context.Context, wg *sync.WaitGroup, cancelSyncs context.CancelCauseFunc) {
	logger := klog.FromContext(ctx)
	if abort.Err() != nil {
		logger.Info("Stopping at once: cancelling in-flight syncs", "cause", context.Cause(abort))
	} else {
		logger.Info("Shutting down: waiting for in-flight syncs", "timeout", c.opts.ShutdownTimeout)
	}
	c.workqueue.ShutDown()
	if !waitTimeout(wg, c.opts.ShutdownTimeout) {
		logger.Info("In-flight syncs did not finish in time; cancelling them")
		cancelSyncs(errShutdownTimeout)
		wg.Wait()
	}
	flushCtx, cancelFlush := context.WithTimeout(context.WithoutCancel(ctx), eventFlushTimeout)
	defer cancelFlush()
	if unwritten := c.events.Flush(flushCtx); unwritten > 0 {
		logger.Info("Events not written in time; dropping them", "count", unwritten, "timeout", eventFlushTimeout)
	}
	logger.Info("Workers stopped and Events flushed")
}

// HasSynced reports whether the informer caches have synced.
func (c *Controller) HasSynced() bool {
	for _, synced := range c.cachesSynced {
		if !synced() {
			return false
		}
	}
	return true
}

// Ready is nil when the controller can work (/readyz): the
// NetworkAttachmentDefinition API is served and the informer caches have
// synced. Otherwise it says what is missing.
func (c *Controller) Ready() error {
	if err := c.attachmentAPI.Ready(); err != nil {
		return err
	}
	if !c.HasSynced() {
		return errors.New("informer caches have not synced yet")
	}
	return nil
}

// requeueAll queues every Network now, its backoff forgotten. The
// NetworkAttachmentDefinition API is served again after a loss, which took
// every attachment with it: each Network has its own to create again, and
// none of them should wait for the backoff of syncs that failed while the
// API was gone. Nor trust what the controller wrote before: an attachment
// created just before the loss may never have reached the cache, to be
// deleted from it.
func (c *Controller) requeueAll() {
	c.expectations.ForgetAttachments()
	networks, err := c.networksLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, n := range networks {
		key := cache.MetaObjectToName(n)
		c.workqueue.Forget(key)
		c.workqueue.Add(key)
	}
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
// syncs themselves run under syncCtx. While the API server does not answer,
// or does not serve NetworkAttachmentDefinitions, it waits, leaving the
// keys queued.
func (c *Controller) runWorker(stop, syncCtx context.Context) {
	for {
		if c.attachmentAPI.Wait(stop) != nil {
			return
		}
		probed, err := c.serverHealth.Wait(stop)
		if err != nil {
			return
		}
		more := c.processNextWorkItem(stop, syncCtx)
		probed()
		if !more {
			return
		}
	}
}

// processNextWorkItem syncs one key and decides whether it comes back:
// success forgets its failure history, a transient error requeues it with
// backoff, an API server found away requeues it without (see
// pkg/serverhealth). Permanent problems are reported by the sync and return
// nil.
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
	c.bursts.Synced()
	start := time.Now()
	outcome, err := c.syncHandler(ctx, key)
	more := true
	if err == nil {
		c.workqueue.Forget(key)
		logger.V(4).Info("Synced", "outcome", outcome, "duration", time.Since(start))
	} else {
		outcome, more = c.afterFailedSync(ctx, key, outcome, err)
	}
	c.opts.ObserveSync(outcome, time.Since(start))
	return more
}

// afterFailedSync decides what becomes of key, whose sync failed with err,
// and returns the outcome to record and whether the worker goes on.
func (c *Controller) afterFailedSync(ctx context.Context, key cache.ObjectName, outcome syncOutcome, err error) (syncOutcome, bool) {
	logger := klog.FromContext(ctx)
	switch {
	case ctx.Err() != nil:
		// Stopping cut the sync off: not an error of the Network's, and
		// the next leader syncs it.
		logger.V(2).Info("Sync cancelled", "cause", context.Cause(ctx), "err", err)
		return outcome, false
	case errors.Is(err, errAttachmentAPIGone):
		// Not the Network's failure either: it waits with the workers for
		// the API, which queues every Network again when it is back.
		logger.V(2).Info("NetworkAttachmentDefinition API gone; requeuing for when it is back")
		c.workqueue.Add(key)
		return outcome, true
	case serverhealth.Unavailable(err) && !c.serverHealth.Up():
		// Not the Network's failure: it waits with the workers for the
		// server, and its own backoff does not grow meanwhile.
		logger.V(2).Info("API server away; requeuing for when it answers", "err", err)
		c.workqueue.Add(key)
		return outcome, true
	case apierrors.IsConflict(err):
		// The cache had not caught up with a write yet: expected now and
		// then, and the retry reads the newer object.
		outcome = outcomeStale
		logger.V(2).Info("Conflict, requeuing", "err", err)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "Error syncing; requeuing for later retry", "objectReference", key)
	}
	c.workqueue.AddRateLimited(key)
	return outcome, true
}

// syncHandler brings one Network's attachment and status in line with its
// spec. A sync that finds everything in order makes no API writes.
func (c *Controller) syncHandler(ctx context.Context, key cache.ObjectName) (syncOutcome, error) {
	logger := klog.FromContext(ctx)

	network, err := c.networksLister.Networks(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return c.syncGone(ctx, key)
	}
	if err != nil {
		return outcomeError, err
	}
	if c.cacheIsBehind(key, network) {
		// The echo this waits for queues the Network again (skippedBehind);
		// the delayed add is only a safety net should it never come.
		logger.V(4).Info("Cache has not caught up with the last write yet; skipping")
		c.skipBehind(key, network)
		c.workqueue.AddAfter(key, expectations.TTL)
		return outcomeStale, nil
	}
	if network, err = c.ensureProtected(ctx, network); err != nil {
		return outcomeError, err
	}
	if err := c.removeOrphanedAttachment(ctx, key); err != nil {
		return outcomeError, err
	}
	defer c.statusWritten.Delete(key)
	outcome, err := c.syncNetwork(ctx, network)
	if err != nil {
		return outcome, err
	}
	if err := c.reportUsage(ctx, network); err != nil {
		return outcomeError, err
	}
	return outcome, nil
}

// syncNetwork brings the attachment and the status of a Network in the
// cache in line with its spec, or reports why it cannot.
func (c *Controller) syncNetwork(ctx context.Context, network *samplecrdv1.Network) (syncOutcome, error) {
	logger := klog.FromContext(ctx)
	verdict, err := c.holdsRange(network)
	if errors.Is(err, errNamespaceNotCached) {
		logger.V(4).Info("Namespace not in the cache yet; its add event queues the Network again")
		return outcomeStale, nil
	}
	if err != nil {
		return outcomeError, err
	}
	spec, specErr := netspec.ParseSpec(network.Spec)
	switch {
	case network.DeletionTimestamp != nil:
		return c.syncTerminating(ctx, network, verdict, specErr)
	case specErr != nil:
		return outcomeInvalid, c.reportInvalid(ctx, network, specErr, verdict)
	case !verdict.Holds:
		return outcomeConflict, c.reportLostRange(ctx, network, verdict.Reason, verdict.Message)
	}
	return c.realise(ctx, network, spec)
}

// syncGone handles the key of a Network that no longer exists. The garbage
// collector removes its attachment through the owner reference, and the
// delete handler already queued the Networks it may have been blocking; an
// attachment of its name left without a controller (the Network was
// deleted with --cascade=orphan) is removed here.
func (c *Controller) syncGone(ctx context.Context, key cache.ObjectName) (syncOutcome, error) {
	klog.FromContext(ctx).V(4).Info("Network no longer exists")
	c.expectations.Forget(key)
	c.usageThrottle.Forget(key.String())
	c.skippedBehind.Delete(key)
	if err := c.removeOrphanedAttachment(ctx, key); err != nil {
		return outcomeError, err
	}
	return outcomeDeleted, nil
}

// realise makes the attachment of a Network that holds its range match its
// spec and reports the Network Ready, or reports why the attachment could
// not be written.
func (c *Controller) realise(ctx context.Context, network *samplecrdv1.Network, spec cni.Network) (syncOutcome, error) {
	desired, err := newAttachment(network, spec)
	if err != nil {
		// netspec.ParseSpec accepted the spec, so this is a bug, not user input.
		return outcomeError, fmt.Errorf("rendering the CNI configuration: %w", err)
	}
	changed, err := c.ensureAttachment(ctx, network, desired)
	if err != nil {
		return c.reportAttachmentError(ctx, network, desired.Name, err)
	}
	if err := c.reportReady(ctx, network, desired.Name, changed); err != nil {
		return outcomeError, err
	}
	return outcomeSuccess, nil
}

// reportAttachmentError sorts out why the attachment could not be written.
// A CRD deleted under it is no fault of the Network's; a foreign
// attachment holding the name is a conflict, rechecked now and then; a
// refusal (quota, policy, RBAC) is reported and still backs off and
// retries, since what caused it can change without any event this
// controller watches; anything else is retried.
func (c *Controller) reportAttachmentError(ctx context.Context, network *samplecrdv1.Network, name string, err error) (syncOutcome, error) {
	var refused refusedError
	switch {
	case c.attachmentAPI.GoneWith(ctx, err):
		return outcomeError, errAttachmentAPIGone
	case errors.Is(err, errNotControlled):
		c.workqueue.AddAfter(cache.MetaObjectToName(network), c.opts.ConflictRecheckPeriod)
		msg := fmt.Sprintf(MessageResourceExists, name)
		return outcomeConflict, c.reportProblem(ctx, network, samplecrdv1.ReasonAttachmentConflict, ErrResourceExists, msg, "")
	case errors.As(err, &refused):
		msg := fmt.Sprintf(MessageAttachmentRefused, name, serverMessage(err))
		if reportErr := c.reportProblem(ctx, network, samplecrdv1.ReasonAttachmentRefused, samplecrdv1.ReasonAttachmentRefused, msg, network.Status.AttachmentName); reportErr != nil {
			return outcomeError, reportErr
		}
		return outcomeError, err
	default:
		return outcomeError, err
	}
}

// syncTerminating syncs a Network that is being deleted (foreground
// deletion, a finalizer, or its namespace terminating). Nothing is created
// or repaired for it: the garbage collector may be removing its attachment,
// and a write would bring back what it deletes. But a finalizer nobody
// removes keeps it terminating for ever, so it still loses its attachment,
// as a live Network would, once it no longer holds the range that
// attachment serves; deleting is safe.
//
// In-use protection comes first (protection.go): a Network no pod holds
// is released and goes, and one still held says so in its Deleting
// condition. Should the attachment then need a status write too (a held
// Network that also lost its range), that write conflicts with the
// condition's and the retry makes it.
func (c *Controller) syncTerminating(ctx context.Context, network *samplecrdv1.Network, v rangeVerdict, specErr error) (syncOutcome, error) {
	if released, err := c.syncProtection(ctx, network); released || err != nil {
		return outcomeDeleted, err
	}
	served, serves := c.servedRange(network)
	if v.Holds && (!serves || served == v.Prefix) {
		klog.FromContext(ctx).V(4).Info("Network is being deleted")
		return outcomeDeleted, nil
	}
	switch {
	case specErr != nil:
		return outcomeInvalid, c.reportInvalid(ctx, network, specErr, v)
	case !v.Holds:
		return outcomeConflict, c.reportLostRange(ctx, network, v.Reason, v.Message)
	}
	// It holds the range its spec names, but its attachment serves another
	// (spec.cidr was edited after the deletion): that one cannot be
	// repaired, so it goes. (One whose configuration names no range, edited
	// by hand, is left as it is, as before.)
	return outcomeDeleted, c.removeLostAttachment(ctx, network)
}

// skipBehind records that a sync of the Network was skipped on a cache
// behind the controller's write. Should the echo have come since the sync
// read the cache, its handler found nothing recorded: queue it now.
func (c *Controller) skipBehind(key cache.ObjectName, network *samplecrdv1.Network) {
	c.skippedBehind.Store(key, true)
	if current, err := c.networksLister.Networks(key.Namespace).Get(key.Name); err == nil && current.ResourceVersion != network.ResourceVersion {
		c.skippedBehind.Delete(key)
		c.workqueue.Add(key)
	}
}

// cacheIsBehind reports whether the Network cache does not show yet the
// status the controller last wrote. (A cache behind on the attachment is
// no reason to wait: the sync reads what the controller wrote instead.)
func (c *Controller) cacheIsBehind(key cache.ObjectName, network *samplecrdv1.Network) bool {
	return c.expectations.NetworkBehind(key, network.ResourceVersion)
}
