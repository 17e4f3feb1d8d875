package freemem

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// Defaults of a Tracker.
const (
	// DefaultBurst is how many syncs count as a burst.
	DefaultBurst = 1000
	// DefaultCheck is how often a Tracker looks whether a burst is over.
	DefaultCheck = 5 * time.Second
)

// Tracker counts syncs and, once a burst of them is over, returns free
// memory to the system. The zero value uses the defaults.
type Tracker struct {
	// Burst is how many syncs since memory was last returned make a burst.
	Burst int64
	// Check is how often Run looks whether a burst is over.
	Check time.Duration
	// free returns the memory; tests replace it.
	free func()

	syncs atomic.Int64 // since memory was last returned
}

// Synced counts one sync.
func (t *Tracker) Synced() { t.syncs.Add(1) }

// Run returns free memory to the system whenever a burst is over (at least
// Burst syncs since the last time, and idle reports no work left), until
// ctx ends.
func (t *Tracker) Run(ctx context.Context, idle func() bool) {
	burst, check, free := t.Burst, t.Check, t.free
	if burst <= 0 {
		burst = DefaultBurst
	}
	if check <= 0 {
		check = DefaultCheck
	}
	if free == nil {
		free = debug.FreeOSMemory
	}
	logger := klog.FromContext(ctx)
	ticker := time.NewTicker(check)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if t.syncs.Load() < burst || !idle() {
			continue
		}
		syncs := t.syncs.Swap(0)
		start := time.Now()
		free()
		logger.V(2).Info("Returned free memory after a burst", "syncs", syncs, "took", time.Since(start))
	}
}
