// Package signals turns SIGINT and SIGTERM into context cancellation, the
// way operators expect a controller to stop: the first signal asks for a
// graceful shutdown, a second one exits at once.
package signals

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// shutdownSignals are the signals a process manager or a user at a terminal
// sends to stop a process.
var shutdownSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// SetupSignalHandler returns a context that is cancelled on the first
// SIGINT or SIGTERM. On the second it calls exit(1) without waiting for
// anything, for an operator who does not want to wait for a graceful stop.
// exit is os.Exit outside tests.
func SetupSignalHandler(parent context.Context, exit func(int)) context.Context {
	ctx, cancel := context.WithCancel(parent)
	c := make(chan os.Signal, 2)
	signal.Notify(c, shutdownSignals...)
	go func() {
		<-c
		cancel()
		<-c
		exit(1)
	}()
	return ctx
}
