// Package expectations remembers what a controller's own last writes left
// on the API server until its informer caches show them, so that a sync
// does not decide on a cache that lags behind the controller itself: it
// skips a Network whose cached status predates its last status write, and
// reads the attachment it last wrote (or deleted) instead of a cache that
// does not show that yet. Event handlers use it to tell the echo of the
// controller's own write from someone else's change.
//
// Expectations are per Network key, compared by resourceVersion as numbers
// (which Kubernetes documents for objects of one resource), and forgotten
// once the cache catches up or after TTL, whichever comes first.
package expectations
