package httpserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/klog/v2"
)

// ShutdownTimeout bounds how long stopping a server waits for requests in
// flight; probes and scrapes take milliseconds.
const ShutdownTimeout = 2 * time.Second

// Check is one check /healthz runs; client-go's
// leaderelection.HealthzAdaptor and leadership.Health are ones.
type Check interface {
	Name() string
	Check(*http.Request) error
}

// Probes serves the kubelet's probes: /healthz (liveness) fails when
// check fails (with leader election: the Lease was lost, or the process
// holds a Lease it no longer renews; check is nil without), /readyz
// (readiness) succeeds while ready does, and otherwise says why.
func Probes(ready func() error, check Check) http.Handler {
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

// Serve listens on addr at once, so a busy port fails startup instead
// of going unnoticed, and serves handler until ctx ends. The returned
// function shuts the server down gracefully and waits for it. An addr of
// "" or "0" disables the server.
func Serve(ctx context.Context, name, addr string, handler http.Handler) (func(), error) {
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
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
		defer cancel()
		_ = server.Shutdown(shutdownCtx)
		<-done
	}, nil
}
