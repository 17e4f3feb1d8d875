package events

import (
	"context"
	"errors"
	"hash/fnv"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Sizing of the asynchronous Event sink.
const (
	// eventWriters is how many Event writes may be in flight at once.
	// client-go's broadcaster writes one Event at a time; under a burst the
	// API server answers slowly, its queue of 1000 fills, and it drops most
	// of the burst's Events.
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

// writer writes the Events a Recorder hands it. It gives each write
// to one of eventWriters goroutines and returns at once, so a sync never
// waits for an Event. Writes about the same object go to the same writer,
// in order, so that a repeated Event's patch follows its create. flush
// waits for everything queued.
type writer struct {
	sink   record.EventSink
	queues []chan func(context.Context)
	logger klog.Logger
	clock  clock.Clock // measures the retry window and backoff
	// dropped counts Events given up on.
	dropped func(int)

	mu      sync.Mutex
	pending int           // queued or being written
	idle    chan struct{} // closed while pending is 0
}

// newWriter starts the writers, which run until ctx ends. Retries wait on
// clk; dropped is told of every Event given up on.
func newWriter(ctx context.Context, sink record.EventSink, clk clock.Clock, dropped func(int)) *writer {
	s := &writer{sink: sink, queues: make([]chan func(context.Context), eventWriters), logger: klog.FromContext(ctx), clock: clk,
		dropped: dropped, idle: make(chan struct{})}
	close(s.idle)
	for i := range s.queues {
		s.queues[i] = make(chan func(context.Context), eventQueuePerWriter)
		go s.write(ctx, s.queues[i])
	}
	return s
}

// Create queues the creation of an Event.
func (s *writer) Create(event *corev1.Event) {
	s.enqueue(event, func() error { _, err := s.sink.Create(event); return err })
}

// Patch queues a patch of a repeated Event.
func (s *writer) Patch(event *corev1.Event, data []byte) {
	s.enqueue(event, func() error { return s.patchOrCreate(event, data) })
}

// patchOrCreate patches a repeated Event, or creates it when the Event it
// counts is gone: it expired (the API server keeps Events for an hour by
// default) or its create was never written. client-go's recorder does the
// same; without it every later repeat of such an Event would be lost too.
func (s *writer) patchOrCreate(event *corev1.Event, data []byte) error {
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
func (s *writer) enqueue(event *corev1.Event, write func() error) {
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
		s.dropped(1)
		s.logger.V(2).Info("Event queue full; dropping Event", "object", klog.KRef(event.InvolvedObject.Namespace, event.InvolvedObject.Name), "reason", event.Reason)
	}
}

// pendingWrites is how many Event writes are queued or in flight.
func (s *writer) pendingWrites() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// done marks one queued write as finished.
func (s *writer) done() {
	s.mu.Lock()
	s.pending--
	if s.pending == 0 {
		close(s.idle)
	}
	s.mu.Unlock()
}

// write runs one writer until ctx ends.
func (s *writer) write(ctx context.Context, queue chan func(context.Context)) {
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
func (s *writer) writeWithRetries(ctx context.Context, event *corev1.Event, recorded time.Time, write func() error) {
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
// and the Events are how users learn what happened to their objects, so
// it is logged at the default verbosity.
func (s *writer) drop(event *corev1.Event, err error) {
	s.dropped(1)
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
func (s *writer) flush(ctx context.Context) (unwritten int) {
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
