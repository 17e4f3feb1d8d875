package main

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	k8smetrics "k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	// Registered for their side effects: client-go's leader election, REST
	// client and workqueue metrics, through component-base's well-kept
	// providers, in the same registry as ours (with Go and process metrics).
	_ "k8s.io/component-base/metrics/prometheus/clientgo/leaderelection"
	_ "k8s.io/component-base/metrics/prometheus/restclient"
	_ "k8s.io/component-base/metrics/prometheus/workqueue"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	listers "github.com/samplecrd/network-controller/pkg/generated/listers/samplecrd/v1"
)

// metricsSubsystem prefixes the controller's own metric names.
const metricsSubsystem = "network_controller"

// The controller's own metrics. They live in component-base's legacy
// registry, which /metrics serves.
var (
	// syncsTotal counts syncs by how they ended; "error" ones are retried.
	syncsTotal = k8smetrics.NewCounterVec(&k8smetrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "syncs_total",
		Help:           "Syncs of a Network by result: success, error (retried), stale (the cache lagged behind the controller's own write: skipped, or a 409 Conflict; retried), invalid (InvalidSpec), conflict (CIDRConflict or AttachmentConflict).",
		StabilityLevel: k8smetrics.ALPHA,
	}, []string{"result"})

	// syncDuration is the time one sync takes, API calls included.
	syncDuration = k8smetrics.NewHistogram(&k8smetrics.HistogramOpts{
		Subsystem:      metricsSubsystem,
		Name:           "sync_duration_seconds",
		Help:           "How long a sync of one Network takes, including its API calls.",
		Buckets:        k8smetrics.ExponentialBuckets(0.0005, 2, 16),
		StabilityLevel: k8smetrics.ALPHA,
	})

	// isLeader is 1 while this process runs workers: always when leader
	// election is off, only while it holds the lease when it is on.
	isLeader = k8smetrics.NewGauge(&k8smetrics.GaugeOpts{
		Subsystem:      metricsSubsystem,
		Name:           "leader",
		Help:           "1 while this process runs the workers (holds the lease, or leader election is off), else 0.",
		StabilityLevel: k8smetrics.ALPHA,
	})

	// eventsDropped counts Events that could not be written: the sink's
	// queue was full, or the API server refused or never took them.
	eventsDropped = k8smetrics.NewCounter(&k8smetrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "events_dropped_total",
		Help:           "Events not written to the API server: the queue was full or the write failed.",
		StabilityLevel: k8smetrics.ALPHA,
	})

	// orphansRemoved counts managed attachments removed because no Network
	// controlled them (orphans.go); there is no Network to record an Event on.
	orphansRemoved = k8smetrics.NewCounter(&k8smetrics.CounterOpts{
		Subsystem:      metricsSubsystem,
		Name:           "orphaned_attachments_removed_total",
		Help:           "Managed NetworkAttachmentDefinitions removed because no Network controlled them (a Network deleted with --cascade=orphan, say).",
		StabilityLevel: k8smetrics.ALPHA,
	})

	// networksDesc describes the per-Ready-status count of Networks, which
	// networksCollector computes from the informer cache at scrape time.
	networksDesc = k8smetrics.NewDesc(
		metricsSubsystem+"_networks",
		"Networks in the controller's cache by the status of their Ready condition (Unknown: not synced yet).",
		[]string{"ready"}, nil, k8smetrics.ALPHA, "")
)

func init() {
	legacyregistry.MustRegister(syncsTotal, syncDuration, isLeader, eventsDropped, orphansRemoved)
	// Every result is exported from the start, at zero, so that rates and
	// alerts work before the first failure rather than on absent series.
	for _, result := range []syncOutcome{outcomeSuccess, outcomeError, outcomeStale, outcomeInvalid, outcomeConflict} {
		syncsTotal.WithLabelValues(string(result))
	}
}

// recordSync is the default Options.ObserveSync: it feeds the sync metrics.
// A sync of a deleted Network counts as a success: nothing was left to do.
func recordSync(outcome syncOutcome, d time.Duration) {
	if outcome == outcomeDeleted {
		outcome = outcomeSuccess
	}
	syncsTotal.WithLabelValues(string(outcome)).Inc()
	syncDuration.Observe(d.Seconds())
}

// networksCollector counts cached Networks by Ready status when scraped, so
// the numbers are always those of the cache and cost nothing between scrapes.
type networksCollector struct {
	k8smetrics.BaseStableCollector
	lister listers.NetworkLister
}

// registerNetworksCollector adds the Networks-by-status gauge for the
// controller's cache to the registry. Call it once per process.
func registerNetworksCollector(c *Controller) {
	legacyregistry.CustomMustRegister(&networksCollector{lister: c.networksLister})
}

// DescribeWithStability describes the one metric this collector emits.
func (nc *networksCollector) DescribeWithStability(ch chan<- *k8smetrics.Desc) {
	ch <- networksDesc
}

// CollectWithStability counts the cached Networks by Ready status.
func (nc *networksCollector) CollectWithStability(ch chan<- k8smetrics.Metric) {
	counts := map[string]int{"True": 0, "False": 0, "Unknown": 0}
	networks, err := nc.lister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range networks {
		status := "Unknown"
		if ready := meta.FindStatusCondition(n.Status.Conditions, samplecrdv1.ConditionReady); ready != nil {
			status = string(ready.Status)
		}
		counts[status]++
	}
	for status, count := range counts {
		ch <- k8smetrics.NewLazyConstMetric(networksDesc, k8smetrics.GaugeValue, float64(count), status)
	}
}
