package main

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
)

// eventQuietPeriod is how long the Event sink must have been idle before a
// flush considers it drained. Events travel from the recorder to the sink
// through in-memory channels, which takes microseconds, so once the workers
// have stopped this much silence means nothing is left.
const eventQuietPeriod = 100 * time.Millisecond

// flushableSink wraps the sink the event broadcaster writes to and tracks
// its activity. client-go's broadcaster drops whatever it has not sent when
// it shuts down and has no flush of its own; waiting until the sink is idle
// gives the last syncs' Events their chance to reach the API server.
type flushableSink struct {
	record.EventSink

	mu       sync.Mutex
	inFlight int
	lastUsed time.Time
}

// Create records an Event through the wrapped sink.
func (s *flushableSink) Create(event *corev1.Event) (*corev1.Event, error) {
	defer s.track()()
	return s.EventSink.Create(event)
}

// Update updates an Event through the wrapped sink.
func (s *flushableSink) Update(event *corev1.Event) (*corev1.Event, error) {
	defer s.track()()
	return s.EventSink.Update(event)
}

// Patch patches an Event through the wrapped sink.
func (s *flushableSink) Patch(event *corev1.Event, data []byte) (*corev1.Event, error) {
	defer s.track()()
	return s.EventSink.Patch(event, data)
}

// track marks a write as started and returns the function that marks it done.
func (s *flushableSink) track() func() {
	s.mu.Lock()
	s.inFlight++
	s.lastUsed = time.Now()
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.inFlight--
		s.lastUsed = time.Now()
		s.mu.Unlock()
	}
}

// idle reports whether no write is in flight and none started or ended
// within quiet.
func (s *flushableSink) idle(quiet time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight == 0 && time.Since(s.lastUsed) >= quiet
}

// flush waits until the sink has been idle for eventQuietPeriod, or until
// ctx ends. Call it after the last Event has been recorded.
func (s *flushableSink) flush(ctx context.Context) {
	ticker := time.NewTicker(eventQuietPeriod / 4)
	defer ticker.Stop()
	for !s.idle(eventQuietPeriod) {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
