package main

import (
	"sync"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// expectationTTL bounds how long the controller trusts what it wrote over
// what its caches show. The watch normally delivers its own write within
// milliseconds; the bound only matters if an event is never delivered,
// after which the caches are believed again.
const expectationTTL = 30 * time.Second

// writeExpectations remembers, per Network, what the controller's own last
// writes produced until the informer caches show them, so that a sync does
// not decide on a cache that lags behind the controller itself.
//
//   - The Network: a sync that runs before the cache shows the status the
//     controller wrote (its attachment's event can re-queue the Network a
//     moment earlier) would write the status again and fail with 409
//     Conflict. Such a sync is skipped; the Network's own event queues it
//     again.
//   - Its attachment: the controller knows what it created, repaired or
//     deleted, so a sync reads that instead of a cache that does not show
//     it yet, rather than create the attachment again (and fail, and read
//     it back) or wait for the cache. That matters most after an API
//     server outage: the informers' watches come back long after the
//     server takes writes again, and a Network whose attachment was
//     created just before the outage would otherwise wait for them.
//
// Resource versions are compared as numbers, which Kubernetes documents
// for objects of one resource; when a server hands out versions that do not
// parse, the caches are always believed, as if this type did not exist.
type writeExpectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	m     map[cache.ObjectName]expectation
}

// expectation is what a Network's last writes left on the server.
type expectation struct {
	// networkRV is the resourceVersion of the Network's last status write.
	networkRV string
	// attachment is the attachment as the controller last wrote it (slim,
	// as the cache keeps it), nil if it wrote none since the cache caught up.
	attachment *nadv1.NetworkAttachmentDefinition
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

// wroteAttachment records an attachment as a create or update returned it.
func (e *writeExpectations) wroteAttachment(key cache.ObjectName, written *nadv1.NetworkAttachmentDefinition) {
	slim, _ := attachmentTransform(written.DeepCopy())
	e.update(key, func(x *expectation) { x.attachment, x.deletedUID = slim.(*nadv1.NetworkAttachmentDefinition), "" })
}

// deletedAttachment records the deletion of the attachment with uid.
func (e *writeExpectations) deletedAttachment(key cache.ObjectName, uid types.UID) {
	e.update(key, func(x *expectation) { x.attachment, x.deletedUID = nil, uid })
}

func (e *writeExpectations) update(key cache.ObjectName, set func(*expectation)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	set(&x)
	x.at = e.clock.Now()
	e.m[key] = x
}

// networkBehind reports whether the cached Network, at resourceVersion
// cachedRV, does not show the controller's last status write yet. Once it
// does, that part of the expectation is forgotten.
func (e *writeExpectations) networkBehind(key cache.ObjectName, cachedRV string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.live(key)
	if !ok || x.networkRV == "" {
		return false
	}
	if olderThan(cachedRV, x.networkRV) {
		return true
	}
	x.networkRV = ""
	e.store(key, x)
	return false
}

// attachment returns the Network's attachment as the controller knows it:
// what the cache returned (cached, err), unless the cache does not show
// the controller's last write of it yet. Once it does, that part of the
// expectation is forgotten. The result is shared: never mutate it.
func (e *writeExpectations) attachment(key cache.ObjectName, cached *nadv1.NetworkAttachmentDefinition, err error) (*nadv1.NetworkAttachmentDefinition, error) {
	if err != nil && !apierrors.IsNotFound(err) {
		return cached, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.live(key)
	if !ok {
		return cached, err
	}
	switch {
	case x.deletedUID != "" && cached != nil && cached.UID == x.deletedUID:
		return nil, apierrors.NewNotFound(nadv1.Resource("network-attachment-definitions"), key.Name)
	case x.attachment != nil && (cached == nil || olderThan(cached.ResourceVersion, x.attachment.ResourceVersion)):
		return x.attachment, nil
	}
	x.attachment, x.deletedUID = nil, ""
	e.store(key, x)
	return cached, err
}

// echoOfStatus reports whether a Network at resourceVersion rv is the
// controller's own last status write coming back through the watch, and
// forgets that write: the cache now shows it.
func (e *writeExpectations) echoOfStatus(key cache.ObjectName, rv string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.live(key)
	if !ok || x.networkRV == "" || x.networkRV != rv {
		return false
	}
	x.networkRV = ""
	e.store(key, x)
	return true
}

// echoOfAttachment reports whether an attachment at resourceVersion rv is
// the controller's own last write of the Network's attachment coming back
// through the watch, and forgets that write: the cache now shows it.
func (e *writeExpectations) echoOfAttachment(key cache.ObjectName, rv string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.live(key)
	if !ok || x.attachment == nil || x.attachment.ResourceVersion != rv {
		return false
	}
	x.attachment = nil
	e.store(key, x)
	return true
}

// live returns key's expectation unless it is older than expectationTTL,
// in which case it is forgotten; e.mu must be held.
func (e *writeExpectations) live(key cache.ObjectName) (expectation, bool) {
	x, ok := e.m[key]
	if ok && e.clock.Since(x.at) > expectationTTL {
		e.delete(key)
		return expectation{}, false
	}
	return x, ok
}

// store keeps x for key, or forgets key when x expects nothing; e.mu must
// be held.
func (e *writeExpectations) store(key cache.ObjectName, x expectation) {
	if x.networkRV == "" && x.attachment == nil && x.deletedUID == "" {
		e.delete(key)
		return
	}
	e.m[key] = x
}

// forget drops what is remembered for a Network that is gone.
func (e *writeExpectations) forget(key cache.ObjectName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.delete(key)
}

// forgetAttachments drops what is remembered of every attachment: the
// NetworkAttachmentDefinition API was gone, and every attachment the
// controller wrote went with it, whether or not the cache ever showed the
// write or the deletion.
func (e *writeExpectations) forgetAttachments() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for key, x := range e.m {
		x.attachment, x.deletedUID = nil, ""
		e.store(key, x)
	}
}

// delete forgets key; e.mu must be held. A map never gives back the room
// it grew to, and a burst of thousands of Networks grows this one to as
// many entries for a moment, so it starts afresh each time it empties.
func (e *writeExpectations) delete(key cache.ObjectName) {
	delete(e.m, key)
	if len(e.m) == 0 {
		e.m = map[cache.ObjectName]expectation{}
	}
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
