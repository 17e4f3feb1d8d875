package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/record/util"
	"k8s.io/client-go/tools/reference"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// eventRecorder is the controller's record.EventRecorder. It does what
// client-go's recorder and broadcaster do between them (build the Event,
// correlate it with earlier ones to count repeats, aggregate similar ones
// and filter spam, and log it) but hands the Event to the asyncSink in the
// caller's goroutine. So the sink counts an Event before the sync that
// recorded it returns, and a flush after the workers have stopped sees every
// Event. client-go's broadcaster passes Events through a channel and a
// goroutine of its own, which nothing can flush: the Event of the last sync
// before a shutdown was lost in 95 of 100 runs.
type eventRecorder struct {
	scheme *runtime.Scheme
	source corev1.EventSource
	sink   *asyncSink
	clock  clock.PassiveClock
	logger klog.Logger

	// mu makes correlating an Event and queueing it one step, so that the
	// sink gets an object's Events in the order the correlator counted them.
	mu         sync.Mutex
	correlator *record.EventCorrelator
}

var _ record.EventRecorder = &eventRecorder{}

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

// newEventRecorder returns a recorder of Events from source about objects
// in scheme, written by sink. It correlates Events with client-go's
// defaults, for the eventCorrelationCacheSize objects that emitted Events
// last: repeats are counted on one Event, similar ones aggregated past 10 in
// 10 minutes, and at most 25 Events per object are kept in a burst.
func newEventRecorder(ctx context.Context, sink *asyncSink, scheme *runtime.Scheme, source corev1.EventSource) *eventRecorder {
	return &eventRecorder{
		scheme: scheme,
		source: source,
		sink:   sink,
		clock:  clock.RealClock{},
		logger: klog.FromContext(ctx),
		correlator: record.NewEventCorrelatorWithOptions(record.CorrelatorOptions{
			LRUCacheSize: eventCorrelationCacheSize,
		}),
	}
}

// Event records an Event about object.
func (r *eventRecorder) Event(object runtime.Object, eventtype, reason, message string) {
	r.record(object, nil, eventtype, reason, message)
}

// Eventf records an Event about object with a formatted message.
func (r *eventRecorder) Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...interface{}) {
	r.record(object, nil, eventtype, reason, fmt.Sprintf(messageFmt, args...))
}

// AnnotatedEventf is Eventf with annotations on the Event.
func (r *eventRecorder) AnnotatedEventf(object runtime.Object, annotations map[string]string, eventtype, reason, messageFmt string, args ...interface{}) {
	r.record(object, annotations, eventtype, reason, fmt.Sprintf(messageFmt, args...))
}

// record builds, logs, correlates and queues one Event. A repeat of an
// Event is a patch of it; the first occurrence is a create. Unlike
// client-go, nothing feeds the server's answer back to the correlator
// (UpdateState): correlating already recorded the Event's name and count,
// which is all a later patch needs, and an answer arriving from a writer
// after a newer repeat was correlated would set the count back.
func (r *eventRecorder) record(object runtime.Object, annotations map[string]string, eventtype, reason, message string) {
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
		r.sink.Patch(result.Event, result.Patch)
		return
	}
	r.sink.Create(result.Event)
}

// newEvent returns a first occurrence of an Event about object, in its
// namespace (default for cluster-scoped objects).
func (r *eventRecorder) newEvent(object runtime.Object, annotations map[string]string, eventtype, reason, message string) (*corev1.Event, error) {
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

// Sizing of the asynchronous Event sink.
const (
	// eventWriters is how many Event writes may be in flight at once.
	// client-go's broadcaster writes one Event at a time; under a burst the
	// API server answers slowly, its queue of 1000 fills, and it drops the
	// rest (measured: 93% of a 2000-Network burst's Synced Events lost).
	eventWriters = 8
	// eventQueuePerWriter bounds the Events waiting for each writer; past it
	// an Event is dropped and counted, never blocking a sync.
	eventQueuePerWriter = 2000
	// eventRetryWindow is how long after it was recorded an Event is still
	// worth writing: a write that may pass (see mayPass) is tried again with
	// backoff until then, so an API server outage of up to two minutes (a
	// restart, an etcd leader change) loses no Event; client-go's recorder
	// keeps trying for about as long. Past it the condition on the Network
	// has long said the same, and memory stays bounded by the queues.
	eventRetryWindow = 2 * time.Minute
	// eventRetryFirstDelay and eventRetryMaxDelay bound the backoff between
	// tries, which doubles from the first to the max. Retries need no
	// jitter: at most eventWriters of them are in flight at once.
	eventRetryFirstDelay = 200 * time.Millisecond
	eventRetryMaxDelay   = 10 * time.Second
)

// asyncSink writes the Events eventRecorder hands it. It gives each write
// to one of eventWriters goroutines and returns at once, so a sync never
// waits for an Event. Writes about the same object go to the same writer,
// in order, so that a repeated Event's patch follows its create. flush
// waits for everything queued.
type asyncSink struct {
	sink   record.EventSink
	queues []chan func(context.Context)
	logger klog.Logger
	clock  clock.Clock // measures the retry window and backoff

	mu      sync.Mutex
	pending int           // queued or being written
	idle    chan struct{} // closed while pending is 0
}

// newAsyncSink starts the writers, which run until ctx ends.
func newAsyncSink(ctx context.Context, sink record.EventSink) *asyncSink {
	return newAsyncSinkWithClock(ctx, sink, clock.RealClock{})
}

// newAsyncSinkWithClock is newAsyncSink with the clock that retries wait
// on; tests pass a fake one.
func newAsyncSinkWithClock(ctx context.Context, sink record.EventSink, clk clock.Clock) *asyncSink {
	s := &asyncSink{sink: sink, queues: make([]chan func(context.Context), eventWriters), logger: klog.FromContext(ctx), clock: clk,
		idle: make(chan struct{})}
	close(s.idle)
	for i := range s.queues {
		s.queues[i] = make(chan func(context.Context), eventQueuePerWriter)
		go s.write(ctx, s.queues[i])
	}
	return s
}

// Create queues the creation of an Event.
func (s *asyncSink) Create(event *corev1.Event) {
	s.enqueue(event, func() error { _, err := s.sink.Create(event); return err })
}

// Patch queues a patch of a repeated Event.
func (s *asyncSink) Patch(event *corev1.Event, data []byte) {
	s.enqueue(event, func() error { return s.patchOrCreate(event, data) })
}

// patchOrCreate patches a repeated Event, or creates it when the Event it
// counts is gone: it expired (the API server keeps Events for an hour by
// default) or its create was never written. client-go's recorder does the
// same; without it every later repeat of such an Event would be lost too.
func (s *asyncSink) patchOrCreate(event *corev1.Event, data []byte) error {
	_, err := s.sink.Patch(event, data)
	if !apierrors.IsNotFound(err) {
		return err
	}
	created := event.DeepCopy()
	// A create must not name a version: the object is new.
	created.ResourceVersion = ""
	_, err = s.sink.Create(created)
	return err
}

// enqueue hands a write to the writer of the Event's object, or drops it
// when that writer's queue is full.
func (s *asyncSink) enqueue(event *corev1.Event, write func() error) {
	h := fnv.New32a()
	h.Write([]byte(event.InvolvedObject.Namespace + "/" + event.InvolvedObject.Name))
	queue := s.queues[h.Sum32()%uint32(len(s.queues))]

	s.mu.Lock()
	if s.pending == 0 {
		s.idle = make(chan struct{})
	}
	s.pending++
	s.mu.Unlock()
	recorded := s.clock.Now()
	job := func(ctx context.Context) {
		defer s.done()
		s.writeWithRetries(ctx, event, recorded, write)
	}
	select {
	case queue <- job:
	default:
		s.done()
		eventsDropped.Inc()
		s.logger.V(2).Info("Event queue full; dropping Event", "object", klog.KRef(event.InvolvedObject.Namespace, event.InvolvedObject.Name), "reason", event.Reason)
	}
}

// pendingWrites is how many Event writes are queued or in flight.
func (s *asyncSink) pendingWrites() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// done marks one queued write as finished.
func (s *asyncSink) done() {
	s.mu.Lock()
	s.pending--
	if s.pending == 0 {
		close(s.idle)
	}
	s.mu.Unlock()
}

// write runs one writer until ctx ends.
func (s *asyncSink) write(ctx context.Context, queue chan func(context.Context)) {
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-queue:
			job(ctx)
		}
	}
}

// writeWithRetries writes an Event, and while the failure may pass (see
// mayPass) tries again with backoff until eventRetryWindow after the Event
// was recorded, or until ctx ends. Events are best effort: a sync never
// waits for them, and one that cannot be written is counted and logged.
// A writer retrying holds up the Events queued behind it; they are about
// the same unreachable server, and each gets at least one try when its
// turn comes.
func (s *asyncSink) writeWithRetries(ctx context.Context, event *corev1.Event, recorded time.Time, write func() error) {
	delay := eventRetryFirstDelay
	for {
		err := write()
		if err == nil || apierrors.IsAlreadyExists(err) {
			return
		}
		wait := retryDelay(delay, err)
		if !mayPass(err) || s.clock.Since(recorded)+wait > eventRetryWindow {
			s.drop(event, err)
			return
		}
		select {
		case <-ctx.Done():
			s.drop(event, context.Cause(ctx))
			return
		case <-s.clock.After(wait):
		}
		delay = min(2*delay, eventRetryMaxDelay)
	}
}

// drop counts and logs an Event that will not be written. Most such
// losses are passing (an outage) or about the Event (its namespace is being
// deleted), and are logged at -v=2 only. A refusal by RBAC or an admission
// policy is not: it lasts until whoever deployed the controller fixes it,
// and the Events are how users learn what happened to their Networks, so
// it is logged at the default verbosity.
func (s *asyncSink) drop(event *corev1.Event, err error) {
	eventsDropped.Inc()
	logger := s.logger.V(2)
	if apierrors.IsForbidden(err) && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		logger = s.logger
	}
	logger.Info("Could not write Event", "object", klog.KRef(event.InvolvedObject.Namespace, event.InvolvedObject.Name), "reason", event.Reason, "err", err)
}

// retryDelay is how long to wait before the next try: the backoff delay, or
// longer when the server said how long to wait (Retry-After).
func retryDelay(delay time.Duration, err error) time.Duration {
	if seconds, ok := apierrors.SuggestsClientDelay(err); ok {
		delay = max(delay, time.Duration(seconds)*time.Second)
	}
	return delay
}

// mayPass reports whether a failed write is worth trying again: the server
// never answered (a transport error), asked to slow down (429), or failed
// on its side (5xx: unavailable while starting, an etcd leader change, a
// timeout). Any other answer is about the Event and would be the same again.
func mayPass(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	code := status.Status().Code
	return code == http.StatusTooManyRequests || code >= http.StatusInternalServerError
}

// flush waits until every Event handed to the sink has been written (or
// given up on), or until ctx ends, and returns how many were still queued
// or being written then. Call it once no more Events are being recorded.
func (s *asyncSink) flush(ctx context.Context) (unwritten int) {
	for {
		s.mu.Lock()
		idle, pending := s.idle, s.pending
		s.mu.Unlock()
		if pending == 0 {
			return 0
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return pending
		}
	}
}
