package apiserved

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/samplecrd/network-controller/pkg/serverhealth"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/klog/v2"
)

// Config names the resource an API follows and what to tell people.
type Config struct {
	// GroupVersion and Resource name the resource.
	GroupVersion schema.GroupVersion
	Resource     string
	// Kinds is how messages name its objects: "NetworkAttachmentDefinitions".
	Kinds string
	// CRD names the CustomResourceDefinition that serves it.
	CRD string
	// Hint says how to install it.
	Hint string
	// Missing is the log message, said once each time the resource is
	// found missing; it should say what the caller does meanwhile.
	Missing string
	// Period is how often Watch looks at discovery.
	Period time.Duration
	// Optional says that the caller works without the resource, only with
	// less: Missing is logged as information, not as an error.
	Optional bool
}

// NotServedError is Ready's error once the resource is known not to be
// served: it names the resource, its CRD and the Hint.
type NotServedError struct{ msg string }

func (e *NotServedError) Error() string { return e.msg }

// API follows whether the API server serves one resource. A nil *API
// counts it as always served, as unit tests on fake clientsets want.
type API struct {
	discovery discovery.ServerResourcesInterfaceWithContext
	health    *serverhealth.Health
	cfg       Config
	missing   error
	unknown   error

	mu     sync.Mutex
	served chan struct{} // closed while the resource is served
	seen   bool          // it has been served since the start
	said   bool          // the log said it is missing, since it last was served
	// recheck asks Watch to look again now, rather than after Period.
	recheck chan struct{}
}

// New returns an API that does not know yet whether the resource is
// served, and counts it as not served. health follows the API server the
// discovery client talks to.
func New(d discovery.ServerResourcesInterfaceWithContext, health *serverhealth.Health, cfg Config) *API {
	return &API{
		discovery: d, health: health, cfg: cfg,
		missing: &NotServedError{fmt.Sprintf("the API server does not serve %s (%s, CRD %s): %s",
			cfg.Kinds, cfg.GroupVersion, cfg.CRD, cfg.Hint)},
		unknown: fmt.Errorf("waiting for the API server to say whether it serves %s", cfg.Kinds),
		served:  make(chan struct{}), recheck: make(chan struct{}, 1),
	}
}

// Watch looks at discovery every Period until ctx ends: start is called
// the first time the resource is served, back whenever it is served again
// after a loss. Neither may block: they are called under the API's lock.
func (a *API) Watch(ctx context.Context, start, back func()) {
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
		case <-time.After(a.cfg.Period):
		case <-a.recheck:
		}
	}
}

// look asks discovery whether the resource is served and takes writes;
// why is what discovery said when not. It waits for an API server that
// does not answer, or answers 404 while it is not ready.
func (a *API) look(ctx context.Context) (served bool, why error) {
	for ctx.Err() == nil {
		resources, err := a.discovery.ServerResourcesForGroupVersionWithContext(ctx, a.cfg.GroupVersion.String())
		switch {
		case err == nil:
			return a.lists(resources), nil
		case serverhealth.Answered(err) && (!apierrors.IsNotFound(err) || a.health.Answers(ctx)):
			return false, err
		}
		_ = a.health.AwaitServer(ctx)
	}
	return false, ctx.Err()
}

// lists reports whether a discovery answer lists the resource with the
// verb create.
func (a *API) lists(resources *metav1.APIResourceList) bool {
	for _, r := range resources.APIResources {
		if r.Name == a.cfg.Resource {
			return slices.Contains(r.Verbs, "create")
		}
	}
	return false
}

// setServed records the resource as served: it calls start the first
// time, back after a loss, and then lets the workers resume.
func (a *API) setServed(logger klog.Logger, start, back func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.servedLocked() {
		return
	}
	switch {
	case !a.seen:
		if a.said {
			logger.Info("The API server serves the resource now; starting", "resource", a.cfg.Kinds, "crd", a.cfg.CRD)
		}
		start()
	default:
		logger.Info("The API server serves the resource again", "resource", a.cfg.Kinds, "crd", a.cfg.CRD)
		back()
	}
	a.seen, a.said = true, false
	close(a.served)
}

// setMissing records the resource as not served and, the first time since
// it last was, says so in the log.
func (a *API) setMissing(logger klog.Logger, why error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.servedLocked() {
		a.served = make(chan struct{})
	}
	if !a.said {
		a.said = true
		if a.cfg.Optional {
			logger.Info(a.cfg.Missing, "crd", a.cfg.CRD, "fix", a.cfg.Hint, "why", why)
		} else {
			logger.Error(why, a.cfg.Missing, "crd", a.cfg.CRD, "fix", a.cfg.Hint)
		}
	}
}

// servedLocked reports whether the resource counts as served; a.mu is held.
func (a *API) servedLocked() bool {
	select {
	case <-a.served:
		return true
	default:
		return false
	}
}

// Ready is nil while the resource is served, a *NotServedError once it is
// known not to be, and an error saying the API server has not answered
// discovery yet before that.
func (a *API) Ready() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.servedLocked():
		return nil
	case a.said:
		return a.missing
	}
	return a.unknown
}

// Wait returns once the resource is served, or with ctx's error.
func (a *API) Wait(ctx context.Context) error {
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

// GoneWith reports whether a failed write of the resource failed because
// it is no longer served: the errors a deleted CRD gives (404 for the
// resource, 403 or 405 while it is being deleted) make it look at
// discovery at once, rather than at its next poll, so that the caller
// reports nothing and its workers stop before more writes fail the same
// way.
func (a *API) GoneWith(ctx context.Context, err error) bool {
	if a == nil || !(apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsMethodNotSupported(err)) {
		return false
	}
	resources, derr := a.discovery.ServerResourcesForGroupVersionWithContext(ctx, a.cfg.GroupVersion.String())
	if derr == nil && a.lists(resources) || derr != nil && !apierrors.IsNotFound(derr) {
		return false
	}
	if derr == nil {
		derr = err
	}
	a.setMissing(klog.FromContext(ctx), derr)
	a.lookAgain()
	return true
}

// lookAgain has Watch look at discovery now.
func (a *API) lookAgain() {
	select {
	case a.recheck <- struct{}{}:
	default:
	}
}

// HoldWhileMissing wraps the round tripper of an informer's client for the
// resource: a read answered 404, which a list gets while the CRD is gone,
// waits until the resource is served again and is sent again, instead of
// failing into the reflector's backoff, so that the cache fills again as
// soon as the CRD is back.
func (a *API) HoldWhileMissing(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		for {
			resp, err := rt.RoundTrip(req)
			if err != nil || req.Method != http.MethodGet || resp.StatusCode != http.StatusNotFound {
				return resp, err
			}
			serverhealth.Discard(resp)
			a.lookAgain()
			// Paced: a 404 the resource's return does not end would
			// otherwise be asked again at once.
			select {
			case <-req.Context().Done():
				return nil, req.Context().Err()
			case <-time.After(serverhealth.ReadRetry):
			}
			if err := a.Wait(req.Context()); err != nil {
				return nil, err
			}
		}
	})
}

// roundTripperFunc is an http.RoundTripper made of a function.
type roundTripperFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f.
func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
