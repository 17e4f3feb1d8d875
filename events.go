package main

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

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
	// eventWriteTries is how often a write that failed in transit is tried.
	eventWriteTries = 3
	// eventQuietPeriod: a flush also waits until no Event has arrived for
	// this long, since Events reach the sink through the broadcaster's
	// channels a moment after they are recorded.
	eventQuietPeriod = 100 * time.Millisecond
)

// asyncSink is the EventSink the broadcaster records to. It hands each write
// to one of eventWriters goroutines and returns at once, so the broadcaster
// never backs up. Writes about the same object go to the same writer, in
// order, so that a repeated Event's patch follows its create. flush waits
// for everything queued; client-go's broadcaster has no flush of its own.
type asyncSink struct {
	sink   record.EventSink
	queues []chan func()
	logger klog.Logger

	mu          sync.Mutex
	pending     int // queued or being written
	lastArrival time.Time
}

// newAsyncSink starts the writers, which run until ctx ends.
func newAsyncSink(ctx context.Context, sink record.EventSink) *asyncSink {
	s := &asyncSink{sink: sink, queues: make([]chan func(), eventWriters), logger: klog.FromContext(ctx)}
	for i := range s.queues {
		s.queues[i] = make(chan func(), eventQueuePerWriter)
		go s.write(ctx, s.queues[i])
	}
	return s
}

// Create queues the creation of an Event and returns it as if created: the
// recorder only keeps it to patch repeats, which it addresses by name.
func (s *asyncSink) Create(event *corev1.Event) (*corev1.Event, error) {
	s.enqueue(event, func() error { _, err := s.sink.Create(event); return err })
	return event, nil
}

// Update queues an update of an Event.
func (s *asyncSink) Update(event *corev1.Event) (*corev1.Event, error) {
	s.enqueue(event, func() error { _, err := s.sink.Update(event); return err })
	return event, nil
}

// Patch queues a patch of a repeated Event.
func (s *asyncSink) Patch(event *corev1.Event, data []byte) (*corev1.Event, error) {
	s.enqueue(event, func() error { return s.patchOrCreate(event, data) })
	return event, nil
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
	s.pending++
	s.lastArrival = time.Now()
	s.mu.Unlock()
	job := func() {
		defer s.done()
		s.writeWithRetries(event, write)
	}
	select {
	case queue <- job:
	default:
		s.done()
		eventsDropped.Inc()
		s.logger.V(2).Info("Event queue full; dropping Event", "object", klog.KRef(event.InvolvedObject.Namespace, event.InvolvedObject.Name), "reason", event.Reason)
	}
}

// done marks one queued write as finished.
func (s *asyncSink) done() {
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
}

// write runs one writer until ctx ends.
func (s *asyncSink) write(ctx context.Context, queue chan func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-queue:
			job()
		}
	}
}

// writeWithRetries writes an Event, trying again briefly when the failure
// may pass (a transport error, throttling, a timeout). Events are best
// effort: a sync never waits for them, and one that cannot be written is
// counted and logged, not retried forever.
func (s *asyncSink) writeWithRetries(event *corev1.Event, write func() error) {
	for try := 1; ; try++ {
		err := write()
		if err == nil || apierrors.IsAlreadyExists(err) {
			return
		}
		if try == eventWriteTries || !mayPass(err) {
			eventsDropped.Inc()
			s.logger.V(2).Info("Could not write Event", "object", klog.KRef(event.InvolvedObject.Namespace, event.InvolvedObject.Name), "reason", event.Reason, "err", err)
			return
		}
		time.Sleep(time.Duration(try) * 200 * time.Millisecond)
	}
}

// mayPass reports whether a failed write is worth trying again: the server
// never answered, or answered that it is busy.
func mayPass(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	return apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err)
}

// idle reports whether nothing is queued or in flight and nothing arrived
// within eventQuietPeriod.
func (s *asyncSink) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending == 0 && time.Since(s.lastArrival) >= eventQuietPeriod
}

// flush waits until every Event handed to the sink has been written (or
// given up on), or until ctx ends. Call it after the last Event is recorded.
func (s *asyncSink) flush(ctx context.Context) {
	ticker := time.NewTicker(eventQuietPeriod / 4)
	defer ticker.Stop()
	for !s.idle() {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
