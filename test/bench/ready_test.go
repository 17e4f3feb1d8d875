package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// watchRetry is how soon the Ready watch tries again when the API server
// is away. An informer backs off for up to tens of seconds, which would
// hide when the Networks really became Ready after an outage; this watch
// is back within this much of the server.
const watchRetry = 100 * time.Millisecond

// readyWatch follows the Networks of one run, in every namespace, and
// records when it first saw each of them Ready. It lists once and then
// watches, so waiting costs the API server next to nothing.
type readyWatch struct {
	want   int
	cancel context.CancelFunc
	ended  chan struct{}

	mu    sync.Mutex
	seen  map[string]bool
	times []time.Time // when each Ready Network was first seen, in order
	all   chan struct{}
}

// watchReady starts following the Networks labelled run until want of them
// are Ready.
func watchReady(b *testing.B, run string, want int) *readyWatch {
	b.Helper()
	_, networks, _ := clients(b)
	ctx, cancel := context.WithCancel(context.Background())
	w := &readyWatch{want: want, cancel: cancel, ended: make(chan struct{}), seen: map[string]bool{}, all: make(chan struct{})}
	selector := runLabel + "=" + run
	go func() {
		defer close(w.ended)
		rv := ""
		for ctx.Err() == nil {
			if rv == "" {
				list, err := networks.SamplecrdV1().Networks("").List(ctx, metav1.ListOptions{LabelSelector: selector})
				if err != nil {
					sleep(ctx, watchRetry)
					continue
				}
				for i := range list.Items {
					w.observe(&list.Items[i])
				}
				rv = list.ResourceVersion
			}
			rv = w.follow(ctx, networks.SamplecrdV1().Networks(""), selector, rv)
			sleep(ctx, watchRetry)
		}
	}()
	return w
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
					w.observe(n)
				}
			}
		}
	}
	return rv
}

// observe records a Network seen Ready for the first time.
func (w *readyWatch) observe(n *samplecrdv1.Network) {
	if !meta.IsStatusConditionTrue(n.Status.Conditions, samplecrdv1.ConditionReady) {
		return
	}
	key := n.Namespace + "/" + n.Name
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
	<-w.ended
}

// readyBy returns how many Networks had been seen Ready by t.
func (w *readyWatch) readyBy(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, _ := slices.BinarySearchFunc(w.times, t, func(seen, t time.Time) int { return seen.Compare(t) })
	return n
}

// median returns the median time from start to Ready.
func (w *readyWatch) median(start time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.times) == 0 {
		return 0
	}
	return w.times[len(w.times)/2].Sub(start)
}

// writeTimeline writes, once per kind, the number of Ready Networks over
// time since start (seconds, count) into -timeline-dir, with the marks
// given (name, seconds) as comment lines.
func (w *readyWatch) writeTimeline(b *testing.B, kind string, start time.Time, marks map[string]time.Time) {
	b.Helper()
	if *timelineDir == "" {
		return
	}
	path := filepath.Join(*timelineDir, kind+".dat")
	if _, err := os.Stat(path); err == nil {
		return // the first run's
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for name, t := range marks {
		fmt.Fprintf(f, "# %s %.3f\n", name, t.Sub(start).Seconds())
	}
	fmt.Fprintf(f, "0 0\n")
	for i, t := range w.times {
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
