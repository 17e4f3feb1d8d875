package main

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Retrying, and what an API server outage does to it.
//
// client-go's default controller rate limiter combines per-key exponential
// backoff with one token bucket of 10 retries per second shared by all keys.
// That is fine while failures are rare, but an outage makes every key fail:
// each failure takes a token in advance, so a thousand failing keys reserve
// a hundred seconds of the bucket, and their own backoff keeps doubling while
// the server is away. Once the server is back the backlog drains at 10
// Networks per second, whatever the server could take.
//
// So the controller tells two kinds of failure apart:
//
//   - The API server did not answer, or said it is overloaded (no response,
//     429 Too Many Requests, 503 Service Unavailable, 504 Gateway Timeout).
//     That is no fault of the Network. serverHealth watches every write the
//     controller makes; after serverTripFailures failed writes in a row, with
//     no answer in between, it counts the server as away and holds the
//     workers, letting one sync through as a probe every serverProbeFirstDelay,
//     doubling to serverProbeMaxDelay. Keys that failed this way go back to
//     the queue without counting a failure of their own. The first answer to
//     any write (a probe's, an Event's) releases all workers, and the
//     whole backlog goes on at full speed within serverProbeMaxDelay of the
//     server's return. While the server is away the controller makes one sync
//     per delay, not a retry per key. A probe is a real sync rather than a
//     health check: a restarting API server takes writes seconds before it
//     reports ready or serves reads (it first fills its watch cache).
//   - Anything else (a refusal, a conflict, a 500 from a webhook, one key
//     getting 503s while others succeed) is the key's: it backs off on its
//     own, from keyRetryBaseDelay doubling to keyRetryMaxDelay, and no shared
//     bucket holds up the other keys. The client-side QPS limit and the API
//     server's Priority and Fairness bound the total rate.
const (
	// keyRetryBaseDelay and keyRetryMaxDelay bound a failing key's own
	// backoff, as client-go's default does.
	keyRetryBaseDelay = 5 * time.Millisecond
	keyRetryMaxDelay  = 1000 * time.Second

	// serverTripFailures is how many writes in a row must fail, with no
	// answer in between, before the API server counts as away. One failed
	// request (a connection reset) does not stop the workers; an outage
	// fails every write in flight at once.
	serverTripFailures = 3

	// serverProbeFirstDelay and serverProbeMaxDelay bound the backoff
	// between probe syncs while the server is away. The maximum is also the
	// longest the backlog waits once the server is back.
	serverProbeFirstDelay = 100 * time.Millisecond
	serverProbeMaxDelay   = 500 * time.Millisecond
)

// newRateLimiter returns the workqueue's rate limiter: per-key exponential
// backoff, for failures that are the key's own (see above).
func newRateLimiter() workqueue.TypedRateLimiter[cache.ObjectName] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[cache.ObjectName](keyRetryBaseDelay, keyRetryMaxDelay)
}

// serverHealth tells whether the API server answers, from the outcome of
// every write the controller makes, and holds the workers while it does
// not. The zero value is not usable; use newServerHealth.
type serverHealth struct {
	logger klog.Logger
	clock  clock.Clock

	mu        sync.Mutex
	failures  int           // requests failed in a row
	seen      uint64        // requests whose outcome said something
	back      chan struct{} // closed while the server answers
	awaySince time.Time
	nextProbe time.Time     // while away, when a worker may probe next
	delay     time.Duration // while away, the wait after that probe

	// probe asks the server whether it answers, for the held reads
	// (holdReads); round is the probe loop they wait on, if one runs.
	probe   func(context.Context) bool
	probeMu sync.Mutex
	round   *probeRound
}

// newServerHealth returns a serverHealth that considers the server up.
func newServerHealth(logger klog.Logger) *serverHealth {
	return newServerHealthWithClock(logger, clock.RealClock{})
}

// newServerHealthWithClock is newServerHealth with the clock that probes
// wait on; tests pass a fake one.
func newServerHealthWithClock(logger klog.Logger, c clock.Clock) *serverHealth {
	h := &serverHealth{logger: logger, clock: c, back: make(chan struct{})}
	close(h.back)
	return h
}

// requestOutcome is what one request says about the server.
type requestOutcome int

const (
	// neutral says nothing: the request was cancelled, or the server failed
	// in a way that may be the request's (a 500).
	neutral requestOutcome = iota
	// answered: the server handled the request, whatever it decided.
	answered
	// unanswered: no response, or the server said it cannot take requests.
	unanswered
)

// outcomeOf classifies an HTTP round trip. Only writes count: what the
// workers need is a server that takes writes, and a restarted API server
// takes them seconds before it serves reads and watches again (it answers
// those with 429 until its watch cache has filled), so the informers'
// reads would hold the workers for nothing.
func outcomeOf(req *http.Request, resp *http.Response, err error) requestOutcome {
	switch {
	case req.Method == http.MethodGet:
		return neutral
	case req.Context().Err() != nil:
		return neutral // cancelled by the controller, not refused by the server
	case err != nil:
		return unanswered
	}
	switch code := resp.StatusCode; {
	case serverUnavailableCode(code):
		return unanswered
	case code >= http.StatusInternalServerError:
		return neutral
	}
	return answered
}

// serverUnavailableCode reports whether an HTTP status says the server is
// away or overloaded rather than anything about the request.
func serverUnavailableCode(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// serverUnavailable reports whether a sync's error is the API server being
// away or overloaded (see outcomeOf) rather than anything about the key.
func serverUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true // the request got no response at all
	}
	return serverUnavailableCode(int(status.Status().Code))
}

// wrap returns a round tripper that reports each request's outcome to h;
// the controller's clients are built with it (rest.Config.Wrap).
func (h *serverHealth) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		h.observe(outcomeOf(req, resp, err))
		return resp, err
	})
}

// roundTripperFunc is an http.RoundTripper made of a function.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// observe records one request's outcome: an answer brings the server back,
// serverTripFailures failures in a row take it away.
func (h *serverHealth) observe(o requestOutcome) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o != neutral {
		h.seen++
	}
	switch o {
	case answered:
		h.failures = 0
		if !h.upLocked() {
			close(h.back)
			h.logger.Info("The API server answers again; workers resume", "after", h.clock.Since(h.awaySince).Round(time.Millisecond))
		}
	case unanswered:
		h.failures++
		if h.failures >= serverTripFailures && h.upLocked() {
			h.back = make(chan struct{})
			h.awaySince = h.clock.Now()
			h.delay = serverProbeFirstDelay
			h.nextProbe = h.awaySince.Add(jitter(h.delay))
			h.logger.Info("The API server does not answer; workers wait for it", "failedRequests", h.failures)
		}
	}
}

// upLocked reports whether the server counts as up; h.mu must be held.
func (h *serverHealth) upLocked() bool {
	select {
	case <-h.back:
		return true
	default:
		return false
	}
}

// up reports whether the server counts as up.
func (h *serverHealth) up() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.upLocked()
}

// wait returns once the server counts as up, or when it is this worker's
// turn to probe it, or with ctx's error. A probing worker gets a function
// to call once its sync is done: a sync that asked the server nothing (the
// cache said there was nothing to do) hands the turn on at once.
func (h *serverHealth) wait(ctx context.Context) (probed func(), err error) {
	for {
		h.mu.Lock()
		if h.upLocked() {
			h.mu.Unlock()
			return func() {}, nil
		}
		now := h.clock.Now()
		if !now.Before(h.nextProbe) {
			h.delay = min(2*h.delay, serverProbeMaxDelay)
			h.nextProbe = now.Add(jitter(h.delay))
			seen := h.seen
			h.mu.Unlock()
			return func() { h.probed(seen) }, nil
		}
		back, turn := h.back, h.nextProbe.Sub(now)
		h.mu.Unlock()
		select {
		case <-back:
			return func() {}, nil
		case <-h.clock.After(turn):
		case <-ctx.Done():
			return func() {}, ctx.Err()
		}
	}
}

// probed ends a probe that started when h had seen seen outcomes: if none
// came since, the probe asked nothing and the next worker may probe now.
func (h *serverHealth) probed(seen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == seen && !h.upLocked() {
		h.nextProbe = h.clock.Now()
	}
}

// jitter spreads d by up to a fifth either way, so that the replicas of
// many controllers do not probe in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()-0.5)*0.4*float64(d))
}

// Reads, and an API server that is away.
//
// The informers list and watch through client-go's reflector, which backs
// off after each failed list or watch, from 0.8 s doubling with jitter
// towards 30 s (up to 60 s with the jitter). A controller started while the
// API server is away, or whose watches broke in a long outage, would so
// resume anywhere from at once to 30 s or more after the server's return,
// a lottery that a cluster power-cycle or a control-plane restart plays
// every time. So the informers' requests are held instead (holdReads): a
// read that gets no response, or 503 Service Unavailable or 504 Gateway
// Timeout (a starting server's answer while it loads its APIs), waits for
// the server to answer a probe, then is sent again. The reflector never
// sees the failure and never backs off for an outage; the informers resume
// within serverReadRetry of the server's return.
//
// The probe is GET serverProbePath, one of the API server's readiness
// checks, which every client may read: a starting server answers it with a
// failure until it has loaded the CustomResourceDefinitions, before which
// it answers lists of custom resources with 404, which the reflector would
// back off from. The whole of /readyz waits for more (bootstrap hooks the
// informers do not need) and succeeds up to seconds after the server takes
// writes and serves lists. A server without that check answers 404, which
// counts as an answer. One probe loop serves every waiting request, one
// probe per serverReadRetry. 429 Too Many Requests is not
// held: it is a server shedding load, which client-go retries after the
// server's Retry-After and the reflector's backoff then spreads, and a
// probe would not see it.
const (
	// serverReadRetry is how often a held read probes the server.
	serverReadRetry = 250 * time.Millisecond
	// serverProbeTimeout bounds one probe: a server that accepts
	// connections but answers nothing is away too.
	serverProbeTimeout = 2 * time.Second
	// serverProbePath is the readiness check the probe asks for.
	serverProbePath = "/readyz/poststarthook/crd-informer-synced"
)

// probeRound is one run of the shared probe loop: answered is closed once
// a probe was answered; waiters counts the reads waiting on it, and the
// loop stops when none is left.
type probeRound struct {
	answered chan struct{}
	waiters  int
}

// useProbe sets the request that tells whether the server answers: GET
// serverProbePath through client, which must not hold its reads
// (holdReads).
// Without one, held reads are only paced, serverReadRetry apart.
func (h *serverHealth) useProbe(client rest.Interface) {
	h.probe = func(ctx context.Context) bool {
		return serverAnswered(client.Get().AbsPath(serverProbePath).MaxRetries(0).Do(ctx).Error())
	}
}

// serverAnswered reports whether a request's error (nil for success)
// shows a server that handles requests: any answer but a failure of the
// server itself. A 403 from a cluster that denies the readiness checks
// still shows a server at work.
func serverAnswered(err error) bool {
	if err == nil {
		return true
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false // no response at all
	}
	code := int(status.Status().Code)
	return code < http.StatusInternalServerError && code != http.StatusTooManyRequests
}

// answers probes the server once, now: whether it answers and is ready.
func (h *serverHealth) answers(ctx context.Context) bool {
	if h.probe == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, serverProbeTimeout)
	defer cancel()
	return h.probe(ctx)
}

// awaitServer returns once the server has answered a probe made after
// the call, or with ctx's error. The waiting reads share one probe loop.
func (h *serverHealth) awaitServer(ctx context.Context) error {
	h.probeMu.Lock()
	r := h.round
	if r == nil {
		r = &probeRound{answered: make(chan struct{})}
		h.round = r
		go h.probeUntilAnswered(r)
	}
	r.waiters++
	h.probeMu.Unlock()
	defer func() {
		h.probeMu.Lock()
		r.waiters--
		h.probeMu.Unlock()
	}()
	select {
	case <-r.answered:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probeUntilAnswered probes every serverReadRetry until the server
// answers or nobody waits any more. It says once in the log that the
// server is away, unless the first probe finds it back already.
func (h *serverHealth) probeUntilAnswered(r *probeRound) {
	start := h.clock.Now()
	failed := 0
	for {
		<-h.clock.After(serverReadRetry)
		h.probeMu.Lock()
		if r.waiters == 0 {
			h.round = nil
			h.probeMu.Unlock()
			return
		}
		h.probeMu.Unlock()
		if h.answers(context.Background()) {
			h.probeMu.Lock()
			h.round = nil
			close(r.answered)
			h.probeMu.Unlock()
			if failed > 0 {
				h.logger.Info("The API server answers again; informers resume", "after", h.clock.Since(start).Round(time.Millisecond))
			}
			return
		}
		if failed++; failed == 1 {
			h.logger.Info("The API server does not answer; informers wait for it", "probeEvery", serverReadRetry)
		}
	}
}

// holdReads returns a round tripper that holds the reads of the informers'
// clients while the server is away (see above): a GET that gets no
// response, 503 or 504 waits for the server to answer a probe and is sent
// again, until its context ends.
func (h *serverHealth) holdReads(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		for {
			resp, err := rt.RoundTrip(req)
			if req.Method != http.MethodGet || req.Context().Err() != nil || !readUnanswered(resp, err) {
				return resp, err
			}
			discard(resp)
			if err := h.awaitServer(req.Context()); err != nil {
				return nil, err
			}
		}
	})
}

// readUnanswered reports whether a read got no response, or one that says
// the server cannot serve it now.
func readUnanswered(resp *http.Response, err error) bool {
	if err != nil {
		return true
	}
	return resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout
}

// discard reads and closes the body of a response that is not returned,
// so that its connection can be reused.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
