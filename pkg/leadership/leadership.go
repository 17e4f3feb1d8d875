package leadership

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// ErrLeaseLost is what Run returns when another replica took the Lease
// while this one was leading. The process should exit: its pod restarts
// with clean caches and no half-finished work, rather than carry on as a
// follower.
var ErrLeaseLost = errors.New("leader election lost")

// Defaults of the --leader-elect-* timing flags, client-go's usual ones.
// A leader gives up renewal after DefaultRenewDeadline, before a follower
// may take the Lease at DefaultLeaseDuration, so two replicas lead at once
// only if the old leader's syncs outlive that gap: on a lost Lease they are
// cancelled at once.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Config is the Lease and its timing (the --leader-elect-* flags).
type Config struct {
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	// Name and Namespace name the Lease.
	Name      string
	Namespace string
}

// inClusterNamespaceFile holds the pod's namespace when running in a pod.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// DefaultNamespace is the pod's namespace in a cluster, else "default".
func DefaultNamespace() string {
	if ns, err := os.ReadFile(inClusterNamespaceFile); err == nil && len(strings.TrimSpace(string(ns))) > 0 {
		return strings.TrimSpace(string(ns))
	}
	return metav1.NamespaceDefault
}

// identity names this process in the Lease: the hostname (the pod
// name in a cluster) plus a unique suffix, so two processes on one host, or
// a restarted one, never mistake the other's lease for their own.
func identity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", err
	}
	return host + "_" + string(uuid.NewUUID()), nil
}

// healthTimeout is how long past the lease duration a leader that
// has not renewed its Lease still passes /healthz (client-go's watchdog).
const healthTimeout = 20 * time.Second

// Health is the /healthz check of leader election. It fails while
// this process holds the Lease but has not renewed it for the lease
// duration plus healthTimeout (a leader stuck without giving up), and
// for good once the Lease was lost: the process is exiting then, and if the
// exit hangs the kubelet restarts it rather than keep a replica that will
// never lead again.
type Health struct {
	watchdog *leaderelection.HealthzAdaptor
	lost     atomic.Bool
}

// NewHealth returns the check to hand to Run and to /healthz.
func NewHealth() *Health {
	return &Health{watchdog: leaderelection.NewLeaderHealthzAdaptor(healthTimeout)}
}

// Name names the check in /healthz's answer.
func (h *Health) Name() string { return "leaderElection" }

// Check fails when the Lease was lost or the leader stopped renewing it.
func (h *Health) Check(r *http.Request) error {
	if h.lost.Load() {
		return ErrLeaseLost
	}
	return h.watchdog.Check(r)
}

// Where Run is: waiting for the Lease, leading (run was called), or
// finished (run will not be called any more).
const (
	electionWaiting = iota
	electionLeading
	electionFinished
)

// Run calls run only while this process holds the Lease, and
// returns run's error, or ErrLeaseLost when the Lease was lost.
//
// run's ctx is ctx: when it ends, run stops gracefully and the Lease is
// kept, and renewed, until run has returned, so a successor never works
// alongside syncs that are still finishing; then it is released at once
// rather than left to expire. run's lost ends, with cause ErrLeaseLost,
// when the elector gives up renewing the Lease (another replica took it, or
// the API server did not answer for --leader-elect-renew-deadline): run
// must stop writing at once, as the successor may already lead. (client-go
// ends leadership after one last attempt to release the Lease: a single
// request when the API server answers, at most the renew deadline when it
// does not.) Run waits for run to return in both cases.
func Run(ctx context.Context, cfg Config, client kubernetes.Interface,
	health *Health, run func(ctx, lost context.Context) error) error {
	id, err := identity()
	if err != nil {
		return fmt.Errorf("leader election identity: %w", err)
	}
	// The elector's context outlives ctx: it ends when run has returned, or
	// with ctx if this process is not leading yet. So the elector stops on
	// its own, with electorCtx still alive, only when it lost the Lease.
	electorCtx, stopElector := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElector()
	e := &candidacy{
		ctx: ctx, electorCtx: electorCtx, stopElector: stopElector,
		id: id, lease: klog.KRef(cfg.Namespace, cfg.Name), logger: klog.FromContext(ctx),
		run: run, runDone: make(chan error, 1),
	}
	defer context.AfterFunc(ctx, e.stopWaiting)()

	elector, err := e.newElector(cfg, client, health)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	// NewLeaderElector does not attach the watchdog (only RunOrDie does):
	// without this /healthz would never see the elector.
	health.watchdog.SetLeaderElection(elector)
	e.logger.Info("Waiting to become leader", "identity", id, "lease", e.lease)
	elector.Run(electorCtx)
	return e.finish(health)
}

// candidacy is one call of Run: the elector's context, where it stands
// (electionWaiting, electionLeading, electionFinished, under mu) and run's
// outcome.
type candidacy struct {
	ctx         context.Context
	electorCtx  context.Context
	stopElector context.CancelFunc
	id          string
	lease       klog.ObjectRef
	logger      klog.Logger
	run         func(ctx, lost context.Context) error
	runDone     chan error

	// lost is set when the elector gave the Lease up while Run still
	// wanted it. It cannot be read from electorCtx alone once run has
	// returned: lead stops the elector then, possibly before the elector
	// itself returned.
	lost atomic.Bool

	mu    sync.Mutex
	state int
}

// newElector is client-go's elector for cfg's Lease, calling e.lead when
// this process becomes leader.
func (e *candidacy) newElector(cfg Config, client kubernetes.Interface, health *Health) (*leaderelection.LeaderElector, error) {
	return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: cfg.Name, Namespace: cfg.Namespace},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: e.id},
		},
		LeaseDuration:   cfg.LeaseDuration,
		RenewDeadline:   cfg.RenewDeadline,
		RetryPeriod:     cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            cfg.Name,
		WatchDog:        health.watchdog,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: e.lead,
			// Required by client-go; losing the Lease is handled after the
			// elector returns.
			OnStoppedLeading: func() {},
			OnNewLeader: func(identity string) {
				if identity != e.id {
					e.logger.Info("Another replica leads", "leader", identity)
				}
			},
		},
	})
}

// stopWaiting stops the elector when Run's ctx ends before this process
// leads; once it leads, run decides when to stop.
func (e *candidacy) stopWaiting() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == electionWaiting {
		e.state = electionFinished
		e.stopElector()
	}
}

// lead runs run while leaderCtx (the elector's hold on the Lease) lasts:
// run's lost ends when the elector gives the Lease up while Run still wants
// it. When run returns, the elector is stopped, which releases the Lease.
func (e *candidacy) lead(leaderCtx context.Context) {
	e.mu.Lock()
	if e.state != electionWaiting {
		// Stopped, or lost the Lease, before this callback ran.
		e.mu.Unlock()
		return
	}
	e.state = electionLeading
	e.mu.Unlock()
	e.logger.Info("Became leader", "identity", e.id, "lease", e.lease)
	lost, markLost := context.WithCancelCause(context.WithoutCancel(e.ctx))
	stopWatching := context.AfterFunc(leaderCtx, func() {
		if e.electorCtx.Err() == nil {
			e.lost.Store(true)
			markLost(ErrLeaseLost)
		}
	})
	e.runDone <- e.run(e.ctx, lost)
	stopWatching()
	markLost(nil)
	e.stopElector()
}

// finish is Run's outcome once the elector returned: ErrLeaseLost if it
// stopped on its own (the Lease was lost), else run's error, after run
// returned if it was called.
func (e *candidacy) finish(health *Health) error {
	lost := e.lost.Load() || e.electorCtx.Err() == nil
	if lost {
		health.lost.Store(true)
		e.logger.Info("Lost the Lease; stopping", "identity", e.id, "lease", e.lease)
	}
	e.mu.Lock()
	started := e.state == electionLeading
	e.state = electionFinished
	e.mu.Unlock()
	var runErr error
	if started {
		runErr = <-e.runDone
	}
	if lost {
		return ErrLeaseLost
	}
	return runErr
}
