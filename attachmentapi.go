package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/samplecrd/network-controller/pkg/serverhealth"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/klog/v2"
)

// attachmentResource is the resource the controller writes; clusters with
// Multus serve it already.
const attachmentResource = "network-attachment-definitions"

// attachmentCRDName is the CustomResourceDefinition that serves it.
const attachmentCRDName = attachmentResource + "." + "k8s.cni.cncf.io"

// attachmentCRDHint says how to install that CRD where it is missing.
const attachmentCRDHint = "install Multus, or run: kubectl create -f artifacts/examples/network-attachment-definition-crd.yaml (from the network-controller repository)"

// msgAttachmentAPIMissing is what the log says, once, when the API server
// does not serve NetworkAttachmentDefinitions, at start-up or later.
const msgAttachmentAPIMissing = "The API server does not serve NetworkAttachmentDefinitions: the controller waits, writes nothing and is not ready until it does"

// defaultAPIPollPeriod is how often the controller looks whether the
// NetworkAttachmentDefinition API is (still) served.
const defaultAPIPollPeriod = 5 * time.Second

// errAttachmentAPIMissing is why the controller is not ready while the
// NetworkAttachmentDefinition API is not served (/readyz says it).
var errAttachmentAPIMissing = fmt.Errorf("the API server does not serve NetworkAttachmentDefinitions (%s, CRD %s): %s",
	nadv1.SchemeGroupVersion, attachmentCRDName, attachmentCRDHint)

// errAttachmentAPIGone ends a sync whose write found the
// NetworkAttachmentDefinition API gone: the Network waits, unreported and
// without backoff, for the API to come back.
var errAttachmentAPIGone = errors.New("the NetworkAttachmentDefinition API is no longer served")

// attachmentAPI follows whether the API server serves
// NetworkAttachmentDefinitions, from discovery, which every authenticated
// client may read (a watch on the CRD would need the controller's RBAC to
// read CustomResourceDefinitions, which it has no other use for).
//
// Without that API the controller can do nothing right: its creates fail,
// and it would report every Network as refused while the cause is the
// cluster's. So while the API is not served, at start-up or because its
// CRD was deleted, the controller says so once in its log, is not ready
// (/readyz names the API and how to install it), and its workers write
// nothing. It needs no restart when the API is served (again): the first
// time the attachment informer starts; after a loss every Network is
// queued at once, its backoff forgotten, since the attachments went with
// the CRD and each Network must create its own again.
type attachmentAPI struct {
	discovery discovery.ServerResourcesInterfaceWithContext
	health    *serverhealth.Health
	period    time.Duration

	mu     sync.Mutex
	served chan struct{} // closed while the API is served
	seen   bool          // it has been served since the start
	said   bool          // the log said it is missing, since it last was served
	// recheck asks run to look again now, rather than after period.
	recheck chan struct{}
}

// newAttachmentAPI returns an attachmentAPI that does not know yet
// whether the API is served, and counts it as not served.
func newAttachmentAPI(client discovery.ServerResourcesInterfaceWithContext, health *serverhealth.Health, period time.Duration) *attachmentAPI {
	return &attachmentAPI{discovery: client, health: health, period: period, served: make(chan struct{}), recheck: make(chan struct{}, 1)}
}

// watchDiscovery looks at discovery every period until ctx ends: start is called the
// first time the API is served, back whenever it is served again after a
// loss. A nil attachmentAPI is not used by the binary.
func (a *attachmentAPI) watchDiscovery(ctx context.Context, start, back func()) {
	logger := klog.FromContext(ctx)
	for {
		served, why := a.look(ctx)
		if ctx.Err() != nil {
			return
		}
		if served {
			a.setServed(logger, start, back)
		} else {
			a.setMissing(logger, why)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.period):
		case <-a.recheck:
		}
	}
}

// look asks discovery whether the API is served and takes writes; why is
// what discovery said when not. An API server that does not answer says
// nothing about the API: look waits for it. Nor does a 404 from a server
// that is not ready yet: a restarting server answers 404 for custom
// resources until it has loaded their definitions.
func (a *attachmentAPI) look(ctx context.Context) (served bool, why error) {
	for ctx.Err() == nil {
		resources, err := a.discovery.ServerResourcesForGroupVersionWithContext(ctx, nadv1.SchemeGroupVersion.String())
		switch {
		case err == nil:
			return servesAttachments(resources), nil
		case serverhealth.Answered(err) && (!apierrors.IsNotFound(err) || a.health.Answers(ctx)):
			return false, err
		}
		_ = a.health.AwaitServer(ctx)
	}
	return false, ctx.Err()
}

// servesAttachments reports whether a discovery answer lists the
// attachments with the verb create. The API server lists the resource of
// a CRD being deleted without it, and refuses creates, while it deletes
// the custom resources: that is the API going away.
func servesAttachments(resources *metav1.APIResourceList) bool {
	for _, r := range resources.APIResources {
		if r.Name == attachmentResource {
			return slices.Contains(r.Verbs, "create")
		}
	}
	return false
}

// setServed records the API as served: it calls start the first time,
// back after a loss, and then lets the workers resume.
func (a *attachmentAPI) setServed(logger klog.Logger, start, back func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.servedLocked() {
		return
	}
	switch {
	case !a.seen:
		if a.said {
			logger.Info("The NetworkAttachmentDefinition API is served now; starting", "crd", attachmentCRDName)
		}
		start()
	default:
		logger.Info("The NetworkAttachmentDefinition API is served again; syncing every Network now", "crd", attachmentCRDName)
		back()
	}
	a.seen, a.said = true, false
	close(a.served)
}

// setMissing records the API as not served and, the first time since it
// last was, says so in the log.
func (a *attachmentAPI) setMissing(logger klog.Logger, why error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.servedLocked() {
		a.served = make(chan struct{})
	}
	if !a.said {
		a.said = true
		logger.Error(why, msgAttachmentAPIMissing, "crd", attachmentCRDName, "fix", attachmentCRDHint)
	}
}

// servedLocked reports whether the API counts as served; a.mu is held.
func (a *attachmentAPI) servedLocked() bool {
	select {
	case <-a.served:
		return true
	default:
		return false
	}
}

// errAttachmentAPIUnknown is why the controller is not ready before it
// has learnt whether the API is served: the API server has not answered
// discovery yet.
var errAttachmentAPIUnknown = errors.New("waiting for the API server to say whether it serves NetworkAttachmentDefinitions")

// ready is nil while the API is served, errAttachmentAPIMissing once it
// is known not to be, errAttachmentAPIUnknown before that.
func (a *attachmentAPI) ready() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.servedLocked():
		return nil
	case a.said:
		return errAttachmentAPIMissing
	}
	return errAttachmentAPIUnknown
}

// wait returns once the API is served, or with ctx's error.
func (a *attachmentAPI) wait(ctx context.Context) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	served := a.served
	a.mu.Unlock()
	select {
	case <-served:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// goneWith reports whether a failed write of an attachment failed because
// the API is gone: the errors a deleted CRD gives (404 for the resource,
// 403 or 405 while it is being deleted) make it look at discovery at once,
// rather than at its next poll, so that the sync reports nothing and the
// workers stop before more Networks fail the same way.
func (a *attachmentAPI) goneWith(ctx context.Context, err error) bool {
	if a == nil || !(apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsMethodNotSupported(err)) {
		return false
	}
	resources, derr := a.discovery.ServerResourcesForGroupVersionWithContext(ctx, nadv1.SchemeGroupVersion.String())
	if derr == nil && servesAttachments(resources) || derr != nil && !apierrors.IsNotFound(derr) {
		return false
	}
	if derr == nil {
		derr = err
	}
	a.setMissing(klog.FromContext(ctx), derr)
	a.lookAgain()
	return true
}

// lookAgain has run look at discovery now.
func (a *attachmentAPI) lookAgain() {
	select {
	case a.recheck <- struct{}{}:
	default:
	}
}

// holdWhileMissing returns a round tripper for the attachment informer's
// client: a read answered 404, which a list gets while the CRD is gone,
// waits until the API is served again and is sent again, instead of
// failing into the reflector's backoff, so that the cache fills again as
// soon as the CRD is back.
func (a *attachmentAPI) holdWhileMissing(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		for {
			resp, err := rt.RoundTrip(req)
			if err != nil || req.Method != http.MethodGet || resp.StatusCode != http.StatusNotFound {
				return resp, err
			}
			serverhealth.Discard(resp)
			a.lookAgain()
			// Paced: a 404 the API's return does not end would otherwise
			// be asked again at once.
			select {
			case <-req.Context().Done():
				return nil, req.Context().Err()
			case <-time.After(serverhealth.ReadRetry):
			}
			if err := a.wait(req.Context()); err != nil {
				return nil, err
			}
		}
	})
}

// roundTripperFunc is an http.RoundTripper made of a function.
type roundTripperFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f.
func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
