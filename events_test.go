package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	testclock "k8s.io/utils/clock/testing"
)

// recordingSink is an EventSink that logs its calls, optionally waiting on
// gate before each one, failing the first failures calls with err, and
// failing every patch with patchErr.
type recordingSink struct {
	mu       sync.Mutex
	calls    []string
	entered  chan struct{} // if set, told when a call starts
	gate     chan struct{}
	err      error
	failures int
	patchErr error
	created  *corev1.Event // the last Event created
}

func (s *recordingSink) call(op string, e *corev1.Event) (*corev1.Event, error) {
	if s.entered != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
	}
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, op+" "+e.InvolvedObject.Name+" "+e.Message)
	if s.failures > 0 {
		s.failures--
		return nil, s.err
	}
	return e, nil
}
func (s *recordingSink) Create(e *corev1.Event) (*corev1.Event, error) {
	s.mu.Lock()
	s.created = e.DeepCopy()
	s.mu.Unlock()
	return s.call("create", e)
}
func (s *recordingSink) Update(e *corev1.Event) (*corev1.Event, error) { return s.call("update", e) }
func (s *recordingSink) Patch(e *corev1.Event, _ []byte) (*corev1.Event, error) {
	if _, err := s.call("patch", e); err != nil {
		return nil, err
	}
	if s.patchErr != nil {
		return nil, s.patchErr
	}
	return e, nil
}
func (s *recordingSink) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func event(object, message string) *corev1.Event {
	return &corev1.Event{InvolvedObject: corev1.ObjectReference{Namespace: "default", Name: object}, Message: message}
}

// newTestSink returns an asyncSink writing to sink whose retries do not
// wait: its clock jumps ahead by eventRetryMaxDelay whenever a writer waits.
func newTestSink(t *testing.T, sink record.EventSink) *asyncSink {
	s, clk := newFakeClockSink(t, sink)
	fastForward(t, clk, eventRetryMaxDelay)
	return s
}

// newFakeClockSink returns an asyncSink writing to sink whose retries wait
// on the returned fake clock.
func newFakeClockSink(t *testing.T, sink record.EventSink) (*asyncSink, *testclock.FakeClock) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	clk := testclock.NewFakeClock(epoch)
	return newAsyncSinkWithClock(ctx, sink, clk), clk
}

// fastForward steps clk by step whenever something waits on it, until the
// test ends, so that time passes only while the sink's writers wait.
func fastForward(t *testing.T, clk *testclock.FakeClock, step time.Duration) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if clk.HasWaiters() {
				clk.Step(step)
			}
		}
	}()
}

func TestAsyncSinkReturnsAtOnceAndFlushWaitsForTheWrite(t *testing.T) {
	inner := &recordingSink{gate: make(chan struct{})}
	sink := newTestSink(t, inner)
	sink.Create(event("blue", "m"))
	flushed := make(chan struct{})
	go func() { sink.flush(context.Background()); close(flushed) }()
	select {
	case <-flushed:
		t.Fatal("flush returned while the write was held")
	case <-time.After(300 * time.Millisecond):
	}
	close(inner.gate)
	select {
	case <-flushed:
	case <-time.After(5 * time.Second):
		t.Fatal("flush did not return after the write finished")
	}
	if got := inner.recorded(); !slices.Equal(got, []string{"create blue m"}) {
		t.Errorf("writes = %v", got)
	}
}

func TestAsyncSinkKeepsTheOrderOfWritesAboutOneObject(t *testing.T) {
	inner := &recordingSink{}
	sink := newTestSink(t, inner)
	for i := range 50 {
		for _, object := range []string{"a", "b", "c"} {
			e := event(object, fmt.Sprint(i))
			if i == 0 {
				sink.Create(e)
			} else {
				sink.Patch(e, nil)
			}
		}
	}
	sink.flush(context.Background())
	for _, object := range []string{"a", "b", "c"} {
		var got []string
		for _, c := range inner.recorded() {
			var op, obj, msg string
			fmt.Sscan(c, &op, &obj, &msg)
			if obj == object {
				got = append(got, op+" "+msg)
			}
		}
		if len(got) != 50 || got[0] != "create 0" {
			t.Fatalf("%s: writes %v", object, got)
		}
		for i, g := range got[1:] {
			if g != fmt.Sprintf("patch %d", i+1) {
				t.Errorf("%s: write %d is %q, out of order", object, i+1, g)
			}
		}
	}
}

func TestAsyncSinkDropsAndCountsWhenAWritersQueueIsFull(t *testing.T) {
	eventsDropped.Reset()
	inner := &recordingSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	defer close(inner.gate)
	sink := newTestSink(t, inner)
	// One object: one writer, held on its first write; its queue then
	// takes eventQueuePerWriter more before dropping.
	sink.Create(event("blue", "m"))
	<-inner.entered
	for range eventQueuePerWriter + 5 {
		sink.Create(event("blue", "m"))
	}
	if got, _ := testutil.GetCounterMetricValue(eventsDropped); got != 5 {
		t.Errorf("events_dropped_total = %v, want 5", got)
	}
}

func TestAsyncSinkRetriesOnlyFailuresThatMayPass(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		failures  int
		wantCalls int
		wantDrops float64
	}{
		{"a transport error is retried", errors.New("connection refused"), 1, 2, 0},
		{"throttling is retried", apierrors.NewTooManyRequests("slow down", 1), 1, 2, 0},
		{"an unavailable server is retried", apierrors.NewServiceUnavailable("starting"), 1, 2, 0},
		{"an internal error is retried", apierrors.NewInternalError(errors.New("etcd leader changed")), 1, 2, 0},
		{"a short outage outlasts three tries", errors.New("connection refused"), 4, 5, 0},
		{"a refusal is final", apierrors.NewForbidden(corev1.Resource("events"), "x", errors.New("no")), 1, 1, 1},
		{"already existing counts as written", apierrors.NewAlreadyExists(corev1.Resource("events"), "x"), 1, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eventsDropped.Reset()
			inner := &recordingSink{err: tc.err, failures: tc.failures}
			sink := newTestSink(t, inner)
			sink.Create(event("blue", "m"))
			sink.flush(context.Background())
			if got := len(inner.recorded()); got != tc.wantCalls {
				t.Errorf("write attempts = %d, want %d", got, tc.wantCalls)
			}
			if got, _ := testutil.GetCounterMetricValue(eventsDropped); got != tc.wantDrops {
				t.Errorf("events_dropped_total = %v, want %v", got, tc.wantDrops)
			}
		})
	}
}

// TestAsyncSinkLogsALastingRefusalAtDefaultVerbosity: an Event the API
// server refuses because the controller may not write it (RBAC, an
// admission policy) shows in the log of a default deployment; other losses
// only at -v=2.
func TestAsyncSinkLogsALastingRefusalAtDefaultVerbosity(t *testing.T) {
	terminating := apierrors.NewForbidden(corev1.Resource("events"), "x", errors.New("namespace default is being terminated"))
	terminating.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}
	tests := []struct {
		name    string
		err     error
		wantLog bool
	}{
		{"a refusal by RBAC is logged", apierrors.NewForbidden(corev1.Resource("events"), "x", errors.New(`User "system:serviceaccount:a:b" cannot create resource "events"`)), true},
		{"a namespace being deleted is not", terminating, false},
		{"an invalid Event is not", apierrors.NewBadRequest("bad"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(0), ktesting.BufferLogs(true)))
			ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
			defer cancel()
			sink := newAsyncSinkWithClock(ctx, &recordingSink{err: tc.err, failures: 1}, testclock.NewFakeClock(epoch))
			sink.Create(event("blue", "m"))
			sink.flush(context.Background())
			logged := logger.GetSink().(ktesting.Underlier).GetBuffer().String()
			if got := strings.Contains(logged, "Could not write Event"); got != tc.wantLog {
				t.Errorf("logged at verbosity 0: %v, want %v; the log:\n%s", got, tc.wantLog, logged)
			}
		})
	}
}

func TestAsyncSinkFlushGivesUpWhenTheContextEnds(t *testing.T) {
	inner := &recordingSink{gate: make(chan struct{})}
	defer close(inner.gate)
	sink := newTestSink(t, inner)
	sink.Create(event("blue", "m"))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	sink.flush(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("flush took %v despite a 200ms deadline", took)
	}
}

// A repeated Event is a patch of the Event it counts. When that Event is gone
// (it expired, or its create was never written), the repeat is created
// instead, as client-go's own recorder does, rather than lost.
func TestAsyncSinkCreatesARepeatWhoseEventIsGone(t *testing.T) {
	eventsDropped.Reset()
	inner := &recordingSink{patchErr: apierrors.NewNotFound(corev1.Resource("events"), "blue.1")}
	sink := newTestSink(t, inner)
	first := event("blue", "m")
	first.Count = 1
	sink.Create(first)
	repeat := event("blue", "m")
	repeat.Count, repeat.ResourceVersion = 2, "41"
	sink.Patch(repeat, []byte(`{"count":2}`))
	sink.flush(context.Background())

	if got, want := inner.recorded(), []string{"create blue m", "patch blue m", "create blue m"}; !slices.Equal(got, want) {
		t.Errorf("writes = %v, want %v", got, want)
	}
	if c := inner.created; c.Count != 2 || c.ResourceVersion != "" {
		t.Errorf("the repeat was created with count %d and resourceVersion %q, want 2 and none", c.Count, c.ResourceVersion)
	}
	if got, _ := testutil.GetCounterMetricValue(eventsDropped); got != 0 {
		t.Errorf("events_dropped_total = %v, want 0", got)
	}
}

// outageSink is an EventSink behind an API server that refuses connections
// until end, by clk; it logs when each write was tried.
type outageSink struct {
	clk   *testclock.FakeClock
	end   time.Time
	mu    sync.Mutex
	tries []time.Time
}

func (s *outageSink) try(e *corev1.Event) (*corev1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	s.tries = append(s.tries, now)
	if now.Before(s.end) {
		return nil, errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
	}
	return e, nil
}
func (s *outageSink) Create(e *corev1.Event) (*corev1.Event, error)          { return s.try(e) }
func (s *outageSink) Update(e *corev1.Event) (*corev1.Event, error)          { return s.try(e) }
func (s *outageSink) Patch(e *corev1.Event, _ []byte) (*corev1.Event, error) { return s.try(e) }

// An Event recorded while the API server is down is written once it is back,
// if that is within eventRetryWindow; past it, the Event is dropped and
// counted. Time is the sink's fake clock, stepped in small increments while
// a writer waits.
func TestAsyncSinkRetriesThroughAnOutageForTheRetryWindow(t *testing.T) {
	const step = 100 * time.Millisecond
	tests := []struct {
		name      string
		outage    time.Duration
		wantDrops float64
	}{
		{"an outage shorter than the window loses nothing", eventRetryWindow * 3 / 4, 0},
		{"an outage longer than the window drops the Event", time.Hour, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eventsDropped.Reset()
			inner := &outageSink{}
			sink, clk := newFakeClockSink(t, inner)
			inner.clk, inner.end = clk, clk.Now().Add(tc.outage)
			recorded := clk.Now()
			fastForward(t, clk, step)
			sink.Create(event("blue", "m"))
			sink.flush(context.Background())

			if got, _ := testutil.GetCounterMetricValue(eventsDropped); got != tc.wantDrops {
				t.Errorf("events_dropped_total = %v, want %v", got, tc.wantDrops)
			}
			last := inner.tries[len(inner.tries)-1].Sub(recorded)
			t.Logf("%d tries, the last %v after the Event was recorded", len(inner.tries), last)
			if tc.wantDrops == 0 {
				// Written at the first try after the outage, which the
				// backoff may put up to eventRetryMaxDelay late.
				if last < tc.outage || last > tc.outage+eventRetryMaxDelay+step {
					t.Errorf("written %v after it was recorded, want within %v of the end of the %v outage", last, eventRetryMaxDelay, tc.outage)
				}
				return
			}
			if last > eventRetryWindow || last < eventRetryWindow-eventRetryMaxDelay-step {
				t.Errorf("last try %v after the Event was recorded, want within %v before the %v window ends", last, eventRetryMaxDelay, eventRetryWindow)
			}
			for i := 1; i < len(inner.tries); i++ {
				if gap := inner.tries[i].Sub(inner.tries[i-1]); gap > eventRetryMaxDelay+step {
					t.Errorf("tries %d and %d are %v apart, more than the %v backoff cap", i-1, i, gap, eventRetryMaxDelay)
				}
			}
		})
	}
}

// The recorder counts a repeated Event on the first one, by a patch, and
// creates the Event again when the patch finds it gone.
func TestEventRecorderPatchesRepeatsAndRecreatesAGoneEvent(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	inner := &recordingSink{}
	recorder := newEventRecorder(ctx, newTestSink(t, inner), scheme.Scheme, corev1.EventSource{Component: controllerAgentName})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "blue"}}

	recorder.Event(pod, corev1.EventTypeWarning, "Trouble", "m")
	recorder.Event(pod, corev1.EventTypeWarning, "Trouble", "m")
	recorder.sink.flush(context.Background())
	inner.mu.Lock()
	inner.patchErr = apierrors.NewNotFound(corev1.Resource("events"), "blue.1")
	inner.mu.Unlock()
	recorder.Event(pod, corev1.EventTypeWarning, "Trouble", "m")
	recorder.sink.flush(context.Background())

	if got, want := inner.recorded(), []string{"create blue m", "patch blue m", "patch blue m", "create blue m"}; !slices.Equal(got, want) {
		t.Errorf("writes = %v, want %v", got, want)
	}
	if c := inner.created; c.Count != 3 || c.Type != corev1.EventTypeWarning || c.Source.Component != controllerAgentName {
		t.Errorf("recreated Event has count %d, type %s, source %q; want 3, Warning, %q", c.Count, c.Type, c.Source.Component, controllerAgentName)
	}
}

// Events the recorder cannot build are refused before they reach the sink.
func TestEventRecorderRefusesUnknownTypes(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	inner := &recordingSink{}
	recorder := newEventRecorder(ctx, newTestSink(t, inner), scheme.Scheme, corev1.EventSource{Component: controllerAgentName})
	recorder.Event(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "blue"}}, "Fatal", "Trouble", "m")
	recorder.sink.flush(context.Background())
	if got := inner.recorded(); len(got) != 0 {
		t.Errorf("writes = %v, want none", got)
	}
}

// The recorder counts a repeat on the earlier Event while fewer than
// eventCorrelationCacheSize other objects emitted Events in between; past
// that it has forgotten the earlier Event and creates the repeat anew.
func TestEventRecorderForgetsObjectsPastTheCorrelationCache(t *testing.T) {
	tests := []struct {
		name   string
		others int
		want   string
	}{
		{"a repeat right after the first Event is patched", 0, "patch blue m"},
		{"a repeat after one fewer objects than the cache holds is patched", eventCorrelationCacheSize - 1, "patch blue m"},
		{"a repeat after as many objects as the cache holds is created anew", eventCorrelationCacheSize, "create blue m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			inner := &recordingSink{}
			recorder := newEventRecorder(ctx, newTestSink(t, inner), scheme.Scheme, corev1.EventSource{Component: controllerAgentName})
			pod := func(name string) *corev1.Pod {
				return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
			}

			recorder.Event(pod("blue"), corev1.EventTypeWarning, "Trouble", "m")
			for i := range tt.others {
				recorder.Event(pod(fmt.Sprintf("other-%d", i)), corev1.EventTypeWarning, "Trouble", "m")
			}
			recorder.Event(pod("blue"), corev1.EventTypeWarning, "Trouble", "m")
			recorder.sink.flush(context.Background())

			// The sink's writers may write different objects' Events in any
			// order, so only blue's writes are compared.
			writes := inner.recorded()
			blue := slices.DeleteFunc(slices.Clone(writes), func(w string) bool { return !strings.Contains(w, " blue ") })
			if want := []string{"create blue m", tt.want}; len(writes) != tt.others+2 || !slices.Equal(blue, want) {
				t.Errorf("%d writes, blue's %q; want %d writes, blue's %q", len(writes), blue, tt.others+2, want)
			}
		})
	}
}
