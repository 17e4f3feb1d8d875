package events

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/record/util"
	"k8s.io/client-go/tools/reference"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Recorder is a record.EventRecorder whose Events can be flushed; see the
// package documentation.
type Recorder struct {
	scheme *runtime.Scheme
	source corev1.EventSource
	writer *writer
	clock  clock.PassiveClock
	logger klog.Logger
	stop   context.CancelFunc

	// mu makes correlating an Event and queueing it one step, so that the
	// writer gets an object's Events in the order the correlator counted them.
	mu         sync.Mutex
	correlator *record.EventCorrelator
}

var _ record.EventRecorder = &Recorder{}

// Options tune a Recorder; the zero value of a field means its default.
type Options struct {
	// Clock stamps Events and times retries; tests pass a fake one.
	// Default: the real clock.
	Clock clock.Clock
	// Dropped is told how many Events were not written each time some are
	// given up on (a full queue, a refusal, the retry window or a flush
	// running out); it feeds a metric. Default: not counted.
	Dropped func(n int)
}

// eventCorrelationCacheSize is how many objects' recent Events the
// correlator remembers, in each of its three LRU caches: repeats (to patch
// an Event's count), aggregation of similar Events and the per-object spam
// filter. client-go's default of 4096 holds 6-7 MB after a burst in which
// thousands of Networks each emitted one Event. That memory buys nothing:
// the controller emits Events only when a Network's state changes, so a
// burst gives each object one first Event, which there is nothing to
// correlate with. Correlation matters only for the few objects that emit
// Events again and again within minutes (aggregation looks back 10 minutes,
// the spam filter refills a token every 5), and those stay at the recent end
// of the caches. What an object pushed out of them loses is harmless: its
// next Event is created anew instead of patching the count of the last one,
// and its spam allowance starts afresh.
const eventCorrelationCacheSize = 512

// NewRecorder returns a Recorder of Events from source about objects in
// scheme, written to sink. Its writers run until Stop, not until ctx ends
// (ctx gives the logger): Events recorded while a controller shuts down are
// still written by Flush. It correlates Events with client-go's defaults,
// for the eventCorrelationCacheSize objects that emitted Events last:
// repeats are counted on one Event, similar ones aggregated past 10 in 10
// minutes, and at most 25 Events per object are kept in a burst.
func NewRecorder(ctx context.Context, sink record.EventSink, scheme *runtime.Scheme, source corev1.EventSource, opts Options) *Recorder {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Dropped == nil {
		opts.Dropped = func(int) {}
	}
	writersCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	return &Recorder{
		scheme: scheme,
		source: source,
		writer: newWriter(writersCtx, sink, opts.Clock, opts.Dropped),
		clock:  opts.Clock,
		logger: klog.FromContext(ctx),
		stop:   stop,
		correlator: record.NewEventCorrelatorWithOptions(record.CorrelatorOptions{
			LRUCacheSize: eventCorrelationCacheSize,
			Clock:        opts.Clock,
		}),
	}
}

// Pending is how many Events are queued or being written.
func (r *Recorder) Pending() int { return r.writer.pendingWrites() }

// Flush waits until every Event recorded so far has been written (or given
// up on), or until ctx ends. Events still unwritten then are counted as
// dropped, and their number returned. Call it once no more Events are being
// recorded.
func (r *Recorder) Flush(ctx context.Context) (unwritten int) {
	unwritten = r.writer.flush(ctx)
	if unwritten > 0 {
		r.writer.dropped(unwritten)
	}
	return unwritten
}

// Stop stops the writers. Events still queued are not written; Flush first.
func (r *Recorder) Stop() { r.stop() }

// Event records an Event about object.
func (r *Recorder) Event(object runtime.Object, eventtype, reason, message string) {
	r.record(object, nil, eventtype, reason, message)
}

// Eventf records an Event about object with a formatted message.
func (r *Recorder) Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...interface{}) {
	r.record(object, nil, eventtype, reason, fmt.Sprintf(messageFmt, args...))
}

// AnnotatedEventf is Eventf with annotations on the Event.
func (r *Recorder) AnnotatedEventf(object runtime.Object, annotations map[string]string, eventtype, reason, messageFmt string, args ...interface{}) {
	r.record(object, annotations, eventtype, reason, fmt.Sprintf(messageFmt, args...))
}

// record builds, logs, correlates and queues one Event. A repeat of an
// Event is a patch of it; the first occurrence is a create. Unlike
// client-go, nothing feeds the server's answer back to the correlator
// (UpdateState): correlating already recorded the Event's name and count,
// which is all a later patch needs, and an answer arriving from a writer
// after a newer repeat was correlated would set the count back.
func (r *Recorder) record(object runtime.Object, annotations map[string]string, eventtype, reason, message string) {
	event, err := r.newEvent(object, annotations, eventtype, reason, message)
	if err != nil {
		utilruntime.HandleErrorWithLogger(r.logger, err, "Not recording Event", "reason", reason, "message", message)
		return
	}
	ref := event.InvolvedObject
	// Warnings are logged as client-go's broadcaster logs every Event;
	// a Normal Event per Network, thousands in a burst, only at -v=2.
	logger := r.logger
	if eventtype == corev1.EventTypeNormal {
		logger = logger.V(2)
	}
	logger.Info("Event occurred", "object", klog.KRef(ref.Namespace, ref.Name), "kind", ref.Kind, "apiVersion", ref.APIVersion,
		"type", eventtype, "reason", reason, "message", message)

	r.mu.Lock()
	defer r.mu.Unlock()
	result, err := r.correlator.EventCorrelate(event)
	if err != nil {
		// As client-go does: the Event is still written, maybe without a
		// patch to count it as a repeat.
		utilruntime.HandleErrorWithLogger(r.logger, err, "Event correlation failed", "object", klog.KRef(ref.Namespace, ref.Name), "reason", reason)
	}
	if result.Skip {
		return
	}
	if result.Event.Count > 1 {
		r.writer.Patch(result.Event, result.Patch)
		return
	}
	r.writer.Create(result.Event)
}

// newEvent returns a first occurrence of an Event about object, in its
// namespace (default for cluster-scoped objects).
func (r *Recorder) newEvent(object runtime.Object, annotations map[string]string, eventtype, reason, message string) (*corev1.Event, error) {
	ref, err := reference.GetReference(r.scheme, object)
	if err != nil {
		return nil, fmt.Errorf("referring to the object: %w", err)
	}
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		return nil, fmt.Errorf("unsupported Event type %q", eventtype)
	}
	now := metav1.NewTime(r.clock.Now())
	namespace := ref.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:        util.GenerateEventName(ref.Name, now.UnixNano()),
			Namespace:   namespace,
			Annotations: annotations,
		},
		InvolvedObject:      *ref,
		Type:                eventtype,
		Reason:              reason,
		Message:             message,
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		Source:              r.source,
		ReportingController: r.source.Component,
		ReportingInstance:   r.source.Host,
	}, nil
}
