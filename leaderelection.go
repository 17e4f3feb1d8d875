package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// errLeaseLost ends the process when another replica took the lease while
// this one was leading: exiting lets the pod restart with clean caches and
// no half-finished work, rather than carry on as a follower.
var errLeaseLost = errors.New("leader election lost")

// Defaults of the --leader-elect-* timing flags, client-go's usual ones.
// A leader gives up renewal after defaultRenewDeadline, before a follower
// may take the Lease at defaultLeaseDuration, so two replicas lead at once
// only if the old leader's syncs outlive that gap.
const (
	defaultLeaseDuration = 15 * time.Second
	defaultRenewDeadline = 10 * time.Second
	defaultRetryPeriod   = 2 * time.Second
)

// leaderElectionConfig holds the --leader-elect-* flags.
type leaderElectionConfig struct {
	enabled       bool
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
	name          string
	namespace     string
}

// inClusterNamespaceFile holds the pod's namespace when running in a pod.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// defaultLeaseNamespace is the pod's namespace in a cluster, else "default".
func defaultLeaseNamespace() string {
	if ns, err := os.ReadFile(inClusterNamespaceFile); err == nil && len(strings.TrimSpace(string(ns))) > 0 {
		return strings.TrimSpace(string(ns))
	}
	return metav1.NamespaceDefault
}

// leaderIdentity names this process in the Lease: the hostname (the pod
// name in a cluster) plus a unique suffix, so two processes on one host, or
// a restarted one, never mistake the other's lease for their own.
func leaderIdentity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", err
	}
	return host + "_" + string(uuid.NewUUID()), nil
}

// runLeading calls run only while this process holds the Lease. run's
// context ends when ctx ends or the lease is lost. The lease is released
// only after run has returned, so a successor never works alongside syncs
// that are still finishing; on a graceful stop it is released at once
// rather than left to expire. It returns run's error, or errLeaseLost.
func runLeading(ctx context.Context, cfg leaderElectionConfig, client kubernetes.Interface,
	watchdog *leaderelection.HealthzAdaptor, run func(context.Context) error) error {
	logger := klog.FromContext(ctx)
	id, err := leaderIdentity()
	if err != nil {
		return fmt.Errorf("leader election identity: %w", err)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: cfg.name, Namespace: cfg.namespace},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}

	// The elector's context outlives ctx: it ends when run has returned, or
	// with ctx if this process never became leader.
	electorCtx, stopElector := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElector()
	var leading atomic.Bool
	stopWaiting := context.AfterFunc(ctx, func() {
		if !leading.Load() {
			stopElector()
		}
	})
	defer stopWaiting()

	var runErr error
	lost := false
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   cfg.leaseDuration,
		RenewDeadline:   cfg.renewDeadline,
		RetryPeriod:     cfg.retryPeriod,
		ReleaseOnCancel: true,
		Name:            cfg.name,
		WatchDog:        watchdog,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaderCtx context.Context) {
				leading.Store(true)
				logger.Info("Became leader", "identity", id, "lease", klog.KRef(cfg.namespace, cfg.name))
				runCtx, cancel := context.WithCancel(leaderCtx)
				defer context.AfterFunc(ctx, cancel)()
				runErr = run(runCtx)
				cancel()
				stopElector()
			},
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					lost = true
				}
			},
			OnNewLeader: func(identity string) {
				if identity != id {
					logger.Info("Another replica leads", "leader", identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	logger.Info("Waiting to become leader", "identity", id, "lease", klog.KRef(cfg.namespace, cfg.name))
	elector.Run(electorCtx)
	if lost {
		return errLeaseLost
	}
	return runErr
}
