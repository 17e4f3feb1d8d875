// Package leadership runs a controller's workers only while this process
// holds a Lease, so that several replicas can run with one active.
//
// It wraps client-go's leader elector with the lifecycle a controller
// needs, which the elector's callbacks leave to each caller: the caches warm
// up before the Lease is won; a stop lets in-flight work finish while the
// Lease is still renewed, then releases it at once; a lost Lease aborts the
// work at once (another replica may already be writing), makes Run return
// ErrLeaseLost so the process exits, and fails /healthz for good (Health),
// so a process whose exit hangs is restarted.
package leadership
