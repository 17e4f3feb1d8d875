package main

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// expectationTTL bounds how long a sync waits for the cache to show one of
// the controller's own writes. The watch normally delivers it within
// milliseconds; the bound only matters if an event is never delivered,
// after which the sync goes ahead on what the cache holds.
const expectationTTL = 30 * time.Second

// writeExpectations remembers, per Network, what the controller's own last
// writes produced until the informer caches show them. A sync that runs
// before that (its own write's watch event re-queues the Network, and the
// other object's event may not have arrived yet) would decide on a stale
// Network: it would write the status again and fail with 409 Conflict, or
// try to create an attachment that exists. Such a sync is skipped instead;
// the event it waits for queues the Network again.
//
// Resource versions are compared as numbers, which Kubernetes documents
// for objects of one resource; when a server hands out versions that do not
// parse, nothing is ever considered stale and the controller behaves as if
// this type did not exist.
type writeExpectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	m     map[cache.ObjectName]expectation
}

// expectation is what a Network's last writes left on the server.
type expectation struct {
	// networkRV is the resourceVersion of the Network's last status write.
	networkRV string
	// attachmentRV is that of the attachment's last create or update.
	attachmentRV string
	// deletedUID is the UID of an attachment the controller deleted.
	deletedUID types.UID
	at         time.Time
}

func newWriteExpectations(c clock.PassiveClock) *writeExpectations {
	return &writeExpectations{clock: c, m: map[cache.ObjectName]expectation{}}
}

// wroteStatus records the resourceVersion a status write returned.
func (e *writeExpectations) wroteStatus(key cache.ObjectName, rv string) {
	e.update(key, func(x *expectation) { x.networkRV = rv })
}

// wroteAttachment records the resourceVersion an attachment write returned.
func (e *writeExpectations) wroteAttachment(key cache.ObjectName, rv string) {
	e.update(key, func(x *expectation) { x.attachmentRV, x.deletedUID = rv, "" })
}

// deletedAttachment records the deletion of the attachment with uid.
func (e *writeExpectations) deletedAttachment(key cache.ObjectName, uid types.UID) {
	e.update(key, func(x *expectation) { x.attachmentRV, x.deletedUID = "", uid })
}

func (e *writeExpectations) update(key cache.ObjectName, set func(*expectation)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	set(&x)
	x.at = e.clock.Now()
	e.m[key] = x
}

// cachedState is what the caches hold for one Network: the resourceVersion
// of the Network and of its attachment ("" when absent) and the
// attachment's UID.
type cachedState struct {
	networkRV, attachmentRV string
	attachmentUID           types.UID
}

// stale reports whether the caches have not yet caught up with the
// controller's last writes for key. It forgets an expectation once the
// caches have caught up or it is older than expectationTTL.
func (e *writeExpectations) stale(key cache.ObjectName, cached cachedState) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return false
	}
	behind := olderThan(cached.networkRV, x.networkRV) ||
		olderThan(cached.attachmentRV, x.attachmentRV) ||
		(x.deletedUID != "" && cached.attachmentUID == x.deletedUID)
	if !behind || e.clock.Since(x.at) > expectationTTL {
		delete(e.m, key)
		return false
	}
	return true
}

// forget drops what is remembered for a Network that is gone.
func (e *writeExpectations) forget(key cache.ObjectName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// olderThan reports whether the cached resourceVersion is known to be older
// than the written one. Nothing written means nothing to wait for; nothing
// cached after a write means the cache has not seen it yet.
func olderThan(cached, written string) bool {
	if written == "" {
		return false
	}
	if cached == "" {
		return true
	}
	cmp, err := resourceversion.CompareResourceVersion(cached, written)
	return err == nil && cmp < 0
}
