// Package freemem returns the memory a burst of work grew the heap to, once
// the burst is over.
//
// A burst (the first list of every Network, a thousand Networks created at
// once) allocates far more than the caches keep: every object is decoded,
// transformed and dropped, every sync builds its writes. The Go runtime
// keeps the heap it grew to, up to twice what is live, and returns the rest
// to the system only slowly, so a controller that spends most of its life
// idle would hold on to its burst-time footprint. Once a burst is over (no
// work queued and at least a burst's worth of syncs since the last time) a
// Tracker collects garbage once and returns the free memory at once: one
// collection of a heap of tens of megabytes, a few tens of milliseconds of
// CPU, per burst.
package freemem
