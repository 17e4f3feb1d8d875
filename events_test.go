package main

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// slowSink is an EventSink whose writes take a while.
type slowSink struct{ delay time.Duration }

func (s slowSink) Create(e *corev1.Event) (*corev1.Event, error) { time.Sleep(s.delay); return e, nil }
func (s slowSink) Update(e *corev1.Event) (*corev1.Event, error) { time.Sleep(s.delay); return e, nil }
func (s slowSink) Patch(e *corev1.Event, _ []byte) (*corev1.Event, error) {
	time.Sleep(s.delay)
	return e, nil
}

func TestFlushWaitsForEventWritesInFlight(t *testing.T) {
	sink := &flushableSink{EventSink: slowSink{delay: 300 * time.Millisecond}}
	written := make(chan struct{})
	go func() {
		_, _ = sink.Create(&corev1.Event{})
		close(written)
	}()
	time.Sleep(20 * time.Millisecond) // let the write start
	sink.flush(context.Background())
	select {
	case <-written:
	default:
		t.Fatal("flush returned while an Event write was in flight")
	}
}

func TestFlushGivesUpWhenTheContextEnds(t *testing.T) {
	sink := &flushableSink{EventSink: slowSink{delay: time.Hour}}
	go func() { _, _ = sink.Patch(&corev1.Event{}, nil) }()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	sink.flush(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("flush took %v despite a 200ms deadline", took)
	}
}

func TestFlushOfAnIdleSinkReturns(t *testing.T) {
	sink := &flushableSink{EventSink: slowSink{}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sink.flush(ctx)
	if ctx.Err() != nil {
		t.Error("flush of a sink that never wrote waited for the deadline")
	}
}
