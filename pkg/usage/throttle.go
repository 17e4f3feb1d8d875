package usage

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Throttle decides when a Network's usage figures may be written: only
// when one of them changed, and at most once per window per Network. A
// change that comes inside the window waits for its end; by then the
// caller writes whatever the figures are, so a burst of pod starts costs
// one write per window however long it is, and the last figures are never
// lost. It is safe for concurrent use.
type Throttle struct {
	window time.Duration
	clock  clock.PassiveClock

	mu     sync.Mutex
	last   map[string]time.Time // key → when its last write was allowed
	pruned int                  // len(last) after the last prune
}

// NewThrottle returns a Throttle that allows one write per window per key.
func NewThrottle(window time.Duration, c clock.PassiveClock) *Throttle {
	return &Throttle{window: window, clock: c, last: map[string]time.Time{}}
}

// Decide reports whether the figures of the Network key may be written
// now, given whether they differ from the written ones. When write is
// true the caller writes at once: the window starts now, whether or not
// the write succeeds (a failing write is retried no faster either). When
// the figures changed but the window is still open, write is false and
// after is how long until it closes: sync the Network again then (with a
// delaying queue's AddAfter), and call Decide with the figures of that
// moment. Unchanged figures are never written: (false, 0).
func (t *Throttle) Decide(key string, changed bool) (write bool, after time.Duration) {
	if !changed {
		return false, 0
	}
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.last[key]; ok {
		if wait := last.Add(t.window).Sub(now); wait > 0 {
			return false, wait
		}
	}
	t.last[key] = now
	t.prune(now)
	return true, 0
}

// Forget drops what t remembers of key; call it when the Network is gone.
func (t *Throttle) Forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.last, key)
}

// prune drops the keys whose window has closed once the map holds twice
// as many keys as at the last prune, so that it stays the size of the
// Networks written within one window, at amortised constant cost, even
// if the caller never calls Forget.
func (t *Throttle) prune(now time.Time) {
	if len(t.last) < 2*t.pruned+64 {
		return
	}
	for k, last := range t.last {
		if !now.Before(last.Add(t.window)) {
			delete(t.last, k)
		}
	}
	t.pruned = len(t.last)
}
