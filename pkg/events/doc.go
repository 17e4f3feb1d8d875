// Package events records a controller's Kubernetes Events so that none is
// lost on the way out and none holds a sync up.
//
// A Recorder does what client-go's recorder and broadcaster do between them:
// it builds each Event, correlates it with earlier ones (a repeat patches
// the count of the first, similar Events are aggregated, a noisy object is
// rate limited) and logs it. It differs in two ways that matter to a
// controller that stops or loses its lease:
//
//   - The Event is queued in the caller's goroutine, before Event returns,
//     so Flush after the workers have stopped sees every Event they
//     recorded. client-go hands Events to a goroutine of its own that
//     nothing can flush.
//   - Writes go through a few writers at once, each retrying what may pass
//     (no answer, 429, 5xx) with backoff for a bounded window; queues are
//     bounded, and an Event that cannot be written is dropped and counted
//     (Options.Dropped), never waited for.
//
// The lifecycle is NewRecorder, any number of Event calls, Flush once the
// callers are done, then Stop.
package events
