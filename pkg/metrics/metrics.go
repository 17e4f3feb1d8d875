package metrics

import (
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	k8smetrics "k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	// Registered for their side effects: client-go's leader election, REST
	// client and workqueue metrics, through component-base's well-kept
	// providers, in the same registry as ours (with Go and process metrics).
	_ "k8s.io/component-base/metrics/prometheus/clientgo/leaderelection"
	_ "k8s.io/component-base/metrics/prometheus/restclient"
	_ "k8s.io/component-base/metrics/prometheus/workqueue"
)

// Subsystem prefixes the controller's own metric names.
const Subsystem = "network_controller"

// The results of a sync, the values of syncs_total's result label.
const (
	ResultSuccess  = "success"
	ResultError    = "error"
	ResultStale    = "stale"
	ResultInvalid  = "invalid"
	ResultConflict = "conflict"
)

var (
	// syncsTotal counts syncs by how they ended; "error" ones are retried.
	syncsTotal = k8smetrics.NewCounterVec(&k8smetrics.CounterOpts{
		Subsystem:      Subsystem,
		Name:           "syncs_total",
		Help:           "Syncs of a Network by result: success, error (retried), stale (the cache lagged behind the controller's own write: skipped, or a 409 Conflict; retried), invalid (InvalidSpec), conflict (CIDRConflict or AttachmentConflict).",
		StabilityLevel: k8smetrics.ALPHA,
	}, []string{"result"})

	// syncDuration is the time one sync takes, API calls included.
	syncDuration = k8smetrics.NewHistogram(&k8smetrics.HistogramOpts{
		Subsystem:      Subsystem,
		Name:           "sync_duration_seconds",
		Help:           "How long a sync of one Network takes, including its API calls.",
		Buckets:        k8smetrics.ExponentialBuckets(0.0005, 2, 16),
		StabilityLevel: k8smetrics.ALPHA,
	})

	// leader is 1 while this process runs workers: always when leader
	// election is off, only while it holds the lease when it is on.
	leader = k8smetrics.NewGauge(&k8smetrics.GaugeOpts{
		Subsystem:      Subsystem,
		Name:           "leader",
		Help:           "1 while this process runs the workers (holds the lease, or leader election is off), else 0.",
		StabilityLevel: k8smetrics.ALPHA,
	})

	// eventsDropped counts Events that could not be written: the queue
	// was full, or the API server refused or never took them.
	eventsDropped = k8smetrics.NewCounter(&k8smetrics.CounterOpts{
		Subsystem:      Subsystem,
		Name:           "events_dropped_total",
		Help:           "Events not written to the API server: the queue was full or the write failed.",
		StabilityLevel: k8smetrics.ALPHA,
	})

	// orphansRemoved counts managed attachments removed because no Network
	// controlled them; there is no Network to record an Event on.
	orphansRemoved = k8smetrics.NewCounter(&k8smetrics.CounterOpts{
		Subsystem:      Subsystem,
		Name:           "orphaned_attachments_removed_total",
		Help:           "Managed NetworkAttachmentDefinitions removed because no Network controlled them (a Network deleted with --cascade=orphan, say).",
		StabilityLevel: k8smetrics.ALPHA,
	})

	// networksDesc describes the count of Networks by the status of their
	// Ready condition, which networksCollector asks for at scrape time.
	networksDesc = k8smetrics.NewDesc(
		Subsystem+"_networks",
		"Networks in the controller's cache by the status of their Ready condition (Unknown: not synced yet).",
		[]string{"ready"}, nil, k8smetrics.ALPHA, "")

	// exhaustedDesc and leakedDesc describe the usage totals, which
	// usageCollector asks for at scrape time: aggregates, never a series
	// per Network (50k Networks must not mean 50k series).
	exhaustedDesc = k8smetrics.NewDesc(
		Subsystem+"_networks_addresses_exhausted",
		"Networks whose AddressesExhausted condition is True: no address left for pods.",
		nil, nil, k8smetrics.ALPHA, "")
	leakedDesc = k8smetrics.NewDesc(
		Subsystem+"_leaked_addresses",
		"Addresses the Networks' status reports leaked, in all: allocated by whereabouts for pods that no longer exist.",
		nil, nil, k8smetrics.ALPHA, "")
)

func init() {
	legacyregistry.MustRegister(syncsTotal, syncDuration, leader, eventsDropped, orphansRemoved)
	// Every result is exported from the start, at zero, so that rates and
	// alerts work before the first failure rather than on absent series.
	for _, result := range []string{ResultSuccess, ResultError, ResultStale, ResultInvalid, ResultConflict} {
		syncsTotal.WithLabelValues(result)
	}
}

// ObserveSync counts one sync by its result and times it.
func ObserveSync(result string, d time.Duration) {
	syncsTotal.WithLabelValues(result).Inc()
	syncDuration.Observe(d.Seconds())
}

// leading mirrors the leader gauge, for Leading.
var leading atomic.Bool

// SetLeader says whether this process runs the workers.
func SetLeader(l bool) {
	leading.Store(l)
	if l {
		leader.Set(1)
		return
	}
	leader.Set(0)
}

// Leading reports what SetLeader last said.
func Leading() bool { return leading.Load() }

// DroppedEvents counts n Events that will not be written.
func DroppedEvents(n int) { eventsDropped.Add(float64(n)) }

// RemovedOrphan counts one managed attachment removed because no Network
// controlled it.
func RemovedOrphan() { orphansRemoved.Inc() }

// RegisterNetworkCounts adds the gauge of Networks by the status of their
// Ready condition ("True", "False", "Unknown"), which count computes when
// /metrics is scraped, so the numbers are always current and cost nothing
// between scrapes. Call it once per process.
func RegisterNetworkCounts(count func() map[string]int) {
	legacyregistry.CustomMustRegister(&networksCollector{count: count})
}

// networksCollector exports count's answer as the networks gauge.
type networksCollector struct {
	k8smetrics.BaseStableCollector
	count func() map[string]int
}

// DescribeWithStability describes the one metric this collector emits.
func (nc *networksCollector) DescribeWithStability(ch chan<- *k8smetrics.Desc) {
	ch <- networksDesc
}

// CollectWithStability exports the counts, each status at zero when absent.
func (nc *networksCollector) CollectWithStability(ch chan<- k8smetrics.Metric) {
	counts := nc.count()
	for _, status := range []string{"True", "False", "Unknown"} {
		ch <- k8smetrics.NewLazyConstMetric(networksDesc, k8smetrics.GaugeValue, float64(counts[status]), status)
	}
}

// UsageTotals are the usage of all Networks, summed.
type UsageTotals struct {
	// Exhausted counts the Networks that have no address left for pods.
	Exhausted int
	// Leaked is how many addresses they report leaked, in all.
	Leaked int64
}

// RegisterUsageTotals adds the gauges of Networks exhausted and of leaked
// addresses, which totals computes when /metrics is scraped. Call it once
// per process.
func RegisterUsageTotals(totals func() UsageTotals) {
	legacyregistry.CustomMustRegister(&usageCollector{totals: totals})
}

// usageCollector exports totals' answer as two gauges.
type usageCollector struct {
	k8smetrics.BaseStableCollector
	totals func() UsageTotals
}

// DescribeWithStability describes the two metrics this collector emits.
func (uc *usageCollector) DescribeWithStability(ch chan<- *k8smetrics.Desc) {
	ch <- exhaustedDesc
	ch <- leakedDesc
}

// CollectWithStability exports the totals.
func (uc *usageCollector) CollectWithStability(ch chan<- k8smetrics.Metric) {
	t := uc.totals()
	ch <- k8smetrics.NewLazyConstMetric(exhaustedDesc, k8smetrics.GaugeValue, float64(t.Exhausted))
	ch <- k8smetrics.NewLazyConstMetric(leakedDesc, k8smetrics.GaugeValue, float64(t.Leaked))
}

// Handler serves /metrics in the Prometheus text format and, with
// profiling (--profiling), Go's pprof endpoints under /debug/pprof/, as
// Kubernetes components do. Profiles show the process's internals and a CPU
// profile costs CPU while it runs, so they are off unless asked for.
func Handler(profiling bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", legacyregistry.Handler())
	if profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
