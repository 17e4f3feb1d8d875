package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
)

// httpShutdownTimeout bounds how long stopping an HTTP server waits for
// requests in flight; probes and scrapes take milliseconds.
const httpShutdownTimeout = 2 * time.Second

// healthCheck is one check /healthz runs; leaderelection.HealthzAdaptor is
// one.
type healthCheck interface {
	Name() string
	Check(*http.Request) error
}

// probeHandler serves the kubelet's probes: /healthz (liveness) fails when
// check fails (with leader election: the Lease was lost, or the process
// holds a Lease it no longer renews; check is nil without), /readyz
// (readiness) succeeds while ready does, and otherwise says why.
func probeHandler(ready func() error, check healthCheck) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if check != nil {
			if err := check.Check(r); err != nil {
				http.Error(w, check.Name()+": "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// metricsHandler serves /metrics in the Prometheus text format from
// component-base's registry and, with profiling (--profiling), Go's pprof
// endpoints under /debug/pprof/, as Kubernetes components do. Profiles
// show the process's internals and a CPU profile costs CPU while it runs,
// so they are off unless asked for.
func metricsHandler(profiling bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", legacyregistry.Handler())
	if profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// serveHTTP listens on addr at once, so a busy port fails startup instead
// of going unnoticed, and serves handler until ctx ends. The returned
// function shuts the server down gracefully and waits for it. An addr of
// "" or "0" disables the server.
func serveHTTP(ctx context.Context, name, addr string, handler http.Handler) (func(), error) {
	if addr == "" || addr == "0" {
		return func() {}, nil
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s server: %w", name, err)
	}
	logger := klog.FromContext(ctx)
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		logger.Info("Serving", "server", name, "address", listener.Addr().String())
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(err, "HTTP server failed", "server", name)
		}
	}()
	return func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), httpShutdownTimeout)
		defer cancel()
		_ = server.Shutdown(shutdownCtx)
		<-done
	}, nil
}
