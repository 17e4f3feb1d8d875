// Command pause is the pause container of the real-node tests' pods: the
// process that holds a pod sandbox's namespaces while its containers come
// and go. It does what Kubernetes' own pause does, in Go so that it builds
// here without a C toolchain or a registry (hack/images.sh makes the
// image): it sleeps until SIGINT or SIGTERM and then exits 0, so that
// stopping a sandbox takes no grace period; and since it is PID 1 of the
// pod when the pod shares its PID namespace, it reaps the zombies that
// orphans leave, on every SIGCHLD.
//
// Build it static (CGO_ENABLED=0): the image holds nothing else.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: pause (no arguments; exits 0 on SIGINT or SIGTERM)")
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	os.Exit(wait(sigs, reapAll))
}

// wait handles signals until SIGINT or SIGTERM, calling reap on each
// SIGCHLD, and returns the exit code: 0. Signals coalesce, so one SIGCHLD
// may stand for many exited children; reap must collect them all.
func wait(sigs <-chan os.Signal, reap func() int) int {
	for sig := range sigs {
		switch sig {
		case syscall.SIGINT, syscall.SIGTERM:
			return 0
		case syscall.SIGCHLD:
			reap()
		}
	}
	return 0
}

// reapAll collects every child that has exited, without blocking, and
// returns how many it collected. It stops when no exited child is left
// (0) or there is no child at all (ECHILD).
func reapAll() int {
	n := 0
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return n
		}
		n++
	}
}
