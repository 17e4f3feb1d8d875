package main

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// Returning memory after a burst.
//
// A burst (the first list of every Network, a thousand Networks created at
// once) allocates far more than the caches keep: every object is decoded,
// transformed and dropped, every sync builds its writes. The Go runtime
// keeps the heap it grew to, up to twice what is live, and returns the rest
// to the system only slowly, so a controller that spends most of its life
// idle would hold on to its burst-time footprint. Once a burst is over (the
// queue is empty, its Events are written, and at least memoryReturnSyncs
// syncs ran since the last time) the controller collects garbage once and returns the free memory at
// once: one collection of a heap of tens of megabytes, a few tens of
// milliseconds of CPU, per burst.
const (
	// memoryReturnSyncs is how many syncs count as a burst.
	memoryReturnSyncs = 1000
	// memoryReturnCheck is how often the controller looks whether a burst
	// is over.
	memoryReturnCheck = 5 * time.Second
)

// burstTracker counts syncs and tells when a burst has ended.
type burstTracker struct {
	syncs atomic.Int64 // since memory was last returned
}

// synced counts one sync.
func (b *burstTracker) synced() { b.syncs.Add(1) }

// returnMemoryAfterBursts returns free memory to the system whenever a
// burst is over, until ctx ends. idle reports whether there is no work.
func (b *burstTracker) returnMemoryAfterBursts(ctx context.Context, idle func() bool) {
	logger := klog.FromContext(ctx)
	ticker := time.NewTicker(memoryReturnCheck)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if b.syncs.Load() < memoryReturnSyncs || !idle() {
			continue
		}
		syncs := b.syncs.Swap(0)
		start := time.Now()
		debug.FreeOSMemory()
		logger.V(2).Info("Returned free memory after a burst", "syncs", syncs, "took", time.Since(start))
	}
}
