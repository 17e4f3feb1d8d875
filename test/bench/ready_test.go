package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// watchRetry is how soon the Ready watch tries again when the API server
// is away. An informer backs off for up to tens of seconds, which would
// hide when the Networks really became Ready after an outage; this watch
// is back within this much of the server.
const watchRetry = 100 * time.Millisecond

// readyWatch follows the Networks of one run and records when it first saw
// each of them Ready. It lists once and then watches, so waiting costs the
// API server next to nothing. While it cannot watch (a restarted API server
// refuses watches until its watch cache has filled, seconds after it
// serves writes) it polls instead, so that the Networks made Ready
// meanwhile are seen when they are, not when watching works again.
type readyWatch struct {
	want   int
	cancel context.CancelFunc
	ended  sync.WaitGroup

	mu       sync.Mutex
	watching bool
	seen     map[string]bool
	times    []time.Time // when each Ready Network was first seen, in order
	all      chan struct{}
}

// watchReady starts following the Networks labelled run, in namespaces,
// until want of them are Ready.
func watchReady(b *testing.B, run string, namespaces []string, want int) *readyWatch {
	b.Helper()
	_, networks, _ := clients(b)
	ctx, cancel := context.WithCancel(context.Background())
	w := &readyWatch{want: want, cancel: cancel, seen: map[string]bool{}, all: make(chan struct{})}
	selector := runLabel + "=" + run
	w.ended.Go(func() {
		rv := ""
		for ctx.Err() == nil {
			if rv == "" {
				list, err := networks.SamplecrdV1().Networks("").List(ctx, metav1.ListOptions{LabelSelector: selector})
				if err != nil {
					sleep(ctx, watchRetry)
					continue
				}
				for i := range list.Items {
					w.observe(list.Items[i].Namespace, list.Items[i].Name, readyStatus(&list.Items[i]))
				}
				rv = list.ResourceVersion
			}
			rv = w.follow(ctx, networks.SamplecrdV1().Networks(""), selector, rv)
			sleep(ctx, watchRetry)
		}
	})
	w.ended.Go(func() {
		for ctx.Err() == nil {
			sleep(ctx, pollPeriod)
			w.mu.Lock()
			watching := w.watching
			w.mu.Unlock()
			if !watching {
				w.poll(ctx, networks.SamplecrdV1().RESTClient(), namespaces, selector)
			}
		}
	})
	return w
}

// pollPeriod is how often a readyWatch that cannot watch polls.
const pollPeriod = 500 * time.Millisecond

// poll lists the Networks as a table of their printer columns, without the
// objects: a small answer, read past the API server's watch cache.
func (w *readyWatch) poll(ctx context.Context, client rest.Interface, namespaces []string, selector string) {
	for _, ns := range namespaces {
		raw, err := client.Get().Namespace(ns).Resource("networks").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").
			Param("labelSelector", selector).Param("includeObject", string(metav1.IncludeNone)).
			Do(ctx).Raw()
		if err != nil {
			return
		}
		var table metav1.Table
		if err := json.Unmarshal(raw, &table); err != nil {
			return
		}
		ready := slices.IndexFunc(table.ColumnDefinitions, func(c metav1.TableColumnDefinition) bool { return c.Name == "Ready" })
		if ready < 0 {
			return
		}
		for _, row := range table.Rows {
			name, _ := row.Cells[0].(string)
			status, _ := row.Cells[ready].(string)
			w.observe(ns, name, status)
		}
	}
}

// readyStatus is the status of a Network's Ready condition, "" if none.
func readyStatus(n *samplecrdv1.Network) string {
	if c := meta.FindStatusCondition(n.Status.Conditions, samplecrdv1.ConditionReady); c != nil {
		return string(c.Status)
	}
	return ""
}

// watcher is the part of the Network client a readyWatch uses.
type watcher interface {
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// follow watches from rv until the watch ends and returns the
// resourceVersion to resume from, "" when a new list is needed.
func (w *readyWatch) follow(ctx context.Context, client watcher, selector, rv string) string {
	wi, err := client.Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			return ""
		}
		return rv
	}
	w.setWatching(true)
	defer w.setWatching(false)
	defer wi.Stop()
	for ev := range wi.ResultChan() {
		switch ev.Type {
		case watch.Error:
			if status := apierrors.FromObject(ev.Object); apierrors.IsResourceExpired(status) || apierrors.IsGone(status) {
				return ""
			}
			return rv
		case watch.Added, watch.Modified, watch.Bookmark:
			if n, ok := ev.Object.(*samplecrdv1.Network); ok {
				rv = n.ResourceVersion
				if ev.Type != watch.Bookmark {
					w.observe(n.Namespace, n.Name, readyStatus(n))
				}
			}
		}
	}
	return rv
}

// setWatching records whether a watch is established.
func (w *readyWatch) setWatching(watching bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.watching = watching
}

// observe records a Network seen Ready for the first time.
func (w *readyWatch) observe(namespace, name, ready string) {
	if ready != string(metav1.ConditionTrue) {
		return
	}
	key := namespace + "/" + name
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[key] {
		return
	}
	w.seen[key] = true
	w.times = append(w.times, time.Now())
	if len(w.times) == w.want {
		close(w.all)
	}
}

// wait waits until all the Networks are Ready, stops watching and returns
// when the first and the last were seen Ready.
func (w *readyWatch) wait(b *testing.B, timeout time.Duration) (first, last time.Time) {
	b.Helper()
	defer w.stop()
	select {
	case <-w.all:
	case <-time.After(timeout):
		w.mu.Lock()
		got := len(w.times)
		w.mu.Unlock()
		b.Fatalf("only %d of %d Networks became Ready within %v", got, w.want, timeout)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.times[0], w.times[len(w.times)-1]
}

// stop ends the watch.
func (w *readyWatch) stop() {
	w.cancel()
	w.ended.Wait()
}

// readyTimes returns when the Networks were seen Ready, in order.
func (w *readyWatch) readyTimes() readyTimes {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.times)
}

// readyTimes are the times Networks became Ready, in order.
type readyTimes []time.Time

// readyBy returns how many Networks were Ready by t.
func (r readyTimes) readyBy(t time.Time) int {
	n, _ := slices.BinarySearchFunc(r, t, func(ready, t time.Time) int { return ready.Compare(t) })
	return n
}

// last returns when the last Network became Ready.
func (r readyTimes) last() time.Time { return r[len(r)-1] }

// median returns the median time from start to Ready.
func (r readyTimes) median(start time.Time) time.Duration {
	if len(r) == 0 {
		return 0
	}
	return r[len(r)/2].Sub(start)
}

// writeTimeline writes, once per kind, the number of Ready Networks over
// time since start (seconds, count) into -timeline-dir, with the marks
// given (name, seconds) as comment lines.
func (r readyTimes) writeTimeline(b *testing.B, kind string, start time.Time, marks map[string]time.Time) {
	b.Helper()
	if *timelineDir == "" {
		return
	}
	path := filepath.Join(*timelineDir, kind+".dat")
	if _, err := os.Stat(path); err == nil {
		return // the first run's
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for name, t := range marks {
		fmt.Fprintf(f, "# %s %.3f\n", name, t.Sub(start).Seconds())
	}
	fmt.Fprintf(f, "0 0\n")
	for i, t := range r {
		fmt.Fprintf(f, "%.3f %d\n", t.Sub(start).Seconds(), i+1)
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// revisionClock maps the API server's resourceVersions (etcd revisions,
// which grow with every write) to when they were written, by writing a
// probe Network every revisionTick and noting the version each write
// returns. It dates the Networks' Ready status writes even while the
// server takes writes but refuses reads and watches, as a restarted one
// does until its watch cache has filled.
type revisionClock struct {
	cancel  context.CancelFunc
	ended   chan struct{}
	mu      sync.Mutex
	samples []revisionSample
}

// revisionSample is one probe write: its version, and when it returned.
type revisionSample struct {
	revision uint64
	at       time.Time
}

// revisionTick is how often a revisionClock writes.
const revisionTick = 50 * time.Millisecond

// startRevisionClock starts writing the probe Network.
func startRevisionClock(b *testing.B) *revisionClock {
	b.Helper()
	probe := outageProbe(b)
	_, networks, _ := clients(b)
	ctx, cancel := context.WithCancel(context.Background())
	c := &revisionClock{cancel: cancel, ended: make(chan struct{})}
	go func() {
		defer close(c.ended)
		for i := 0; ctx.Err() == nil; i++ {
			var written samplecrdv1.Network
			// No retries: client-go would wait out a Retry-After.
			err := networks.SamplecrdV1().RESTClient().Patch(types.MergePatchType).
				Namespace(probe.Namespace).Resource("networks").Name(probe.Name).
				Body([]byte(fmt.Sprintf(`{"metadata":{"annotations":{"bench.samplecrd.k8s.io/tick":"%d"}}}`, i))).
				MaxRetries(0).Do(ctx).Into(&written)
			if rv, perr := strconv.ParseUint(written.ResourceVersion, 10, 64); err == nil && perr == nil {
				c.mu.Lock()
				c.samples = append(c.samples, revisionSample{revision: rv, at: time.Now()})
				c.mu.Unlock()
			}
			sleep(ctx, revisionTick)
		}
	}()
	return c
}

// stop ends the writes.
func (c *revisionClock) stop() {
	c.cancel()
	<-c.ended
}

// firstAnswerAfter returns when the first write after t returned.
func (c *revisionClock) firstAnswerAfter(t time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, _ := slices.BinarySearchFunc(c.samples, t, func(s revisionSample, t time.Time) int { return s.at.Compare(t) })
	if i == len(c.samples) {
		return time.Time{}, false
	}
	return c.samples[i].at, true
}

// waitPast waits until a probe write has returned after t, so that every
// write made before t has a later probe to be dated by.
func (c *revisionClock) waitPast(b *testing.B, t time.Time) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, ok := c.firstAnswerAfter(t); ok {
			return
		}
		time.Sleep(revisionTick)
	}
	b.Fatalf("no probe write returned within a minute of %v", t)
}

// readyTimes dates the Ready Networks of set by their resourceVersion:
// each was made Ready by its last write, which returned before the first
// probe write with a later version did. They come back sorted.
func (c *revisionClock) readyTimes(b *testing.B, set *networkSet) readyTimes {
	b.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var times readyTimes
	for _, n := range set.list(b) {
		if readyStatus(&n) != string(metav1.ConditionTrue) {
			continue
		}
		rv, err := strconv.ParseUint(n.ResourceVersion, 10, 64)
		if err != nil {
			b.Fatalf("resourceVersion %q of %s/%s is not a revision: %v", n.ResourceVersion, n.Namespace, n.Name, err)
		}
		i, _ := slices.BinarySearchFunc(c.samples, rv, func(s revisionSample, rv uint64) int { return cmp.Compare(s.revision, rv) })
		if i == len(c.samples) {
			b.Fatalf("%s/%s was written after the last probe write", n.Namespace, n.Name)
		}
		times = append(times, c.samples[i].at)
	}
	slices.SortFunc(times, time.Time.Compare)
	return times
}
