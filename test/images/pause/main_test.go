package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samplecrd/network-controller/test/images"
)

func TestWaitReapsOnSIGCHLDAndExitsZeroOnStop(t *testing.T) {
	tests := []struct {
		name      string
		signals   []os.Signal
		wantReaps int
	}{
		{"SIGTERM", []os.Signal{syscall.SIGTERM}, 0},
		{"SIGINT", []os.Signal{syscall.SIGINT}, 0},
		{"children exit, then SIGTERM", []os.Signal{syscall.SIGCHLD, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGCHLD}, 2},
		{"a signal it does not handle is ignored", []os.Signal{syscall.SIGHUP, syscall.SIGCHLD, syscall.SIGINT}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigs := make(chan os.Signal, len(tt.signals))
			for _, s := range tt.signals {
				sigs <- s
			}
			reaps := 0
			if code := wait(sigs, func() int { reaps++; return 1 }); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			if reaps != tt.wantReaps {
				t.Errorf("reaped on %d SIGCHLDs, want %d (the ones before the stop)", reaps, tt.wantReaps)
			}
		})
	}
}

// TestReapAllCollectsEveryExitedChild starts children that exit at once and
// checks that one call collects them all, zombies included: SIGCHLDs
// coalesce, so one signal may stand for several children.
func TestReapAllCollectsEveryExitedChild(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for range 3 {
		pid, err := syscall.ForkExec(truePath, []string{"true"}, &syscall.ProcAttr{})
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		if !waitFor(func() bool { return state(pid) == "Z" }) {
			t.Fatalf("child %d is not a zombie after 5 s: state %q", pid, state(pid))
		}
	}
	if n := reapAll(); n != len(pids) {
		t.Errorf("reapAll collected %d children, want %d", n, len(pids))
	}
	for _, pid := range pids {
		if s := state(pid); s != "" {
			t.Errorf("child %d is still there, state %s", pid, s)
		}
	}
	if n := reapAll(); n != 0 {
		t.Errorf("reapAll with no child collected %d", n)
	}
}

// TestPauseStopsOnSignal runs the built program as a pod sandbox's runtime
// would: it keeps running until SIGTERM or SIGINT, then exits 0 at once.
func TestPauseStopsOnSignal(t *testing.T) {
	bin := buildPause(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				t.Fatalf("pause exited without a signal: %v", err)
			case <-time.After(300 * time.Millisecond):
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("pause after %v: %v, want exit 0", sig, err)
				}
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("pause still running 5 s after %v", sig)
			}
		})
	}
	if err := exec.Command(bin, "-v").Run(); err == nil {
		t.Error("pause with an argument exited 0, want a usage error")
	}
}

// TestPauseReapsOrphansAsPID1 runs pause as PID 1 of a new PID namespace,
// as in a pod that shares its PID namespace, and leaves an orphan in it:
// the orphan is reparented to pause and, once it exits, must not stay a
// zombie.
func TestPauseReapsOrphansAsPID1(t *testing.T) {
	images.RequireRoot(t, "nsenter")
	bin := buildPause(t)
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("pause after SIGTERM: %v, want exit 0", err)
		}
	})
	pause := cmd.Process.Pid
	// sh runs in pause's namespace and exits at once; its sleep is
	// orphaned there, so the kernel makes pause its parent. The sleep must
	// not hold the output pipe: CombinedOutput would wait for it to exit,
	// and pause could reap it before the test ever saw it.
	out, err := exec.Command("nsenter", "--target", strconv.Itoa(pause), "--pid", "--",
		"/bin/sh", "-c", "sleep 1 </dev/null >/dev/null 2>&1 & exit 0").CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter: %v: %s", err, out)
	}
	var orphan int
	if !waitFor(func() bool { orphan = childOf(pause); return orphan != 0 }) {
		t.Fatal("no orphan was reparented to pause within 5 s")
	}
	if !waitFor(func() bool { return state(orphan) == "" }) {
		t.Fatalf("the orphan %d is still there 5 s later, state %q (Z: pause did not reap it)", orphan, state(orphan))
	}
}

func buildPause(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pause")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return bin
}

// state is the state letter of pid from /proc (R, S, Z...), or "" when
// there is no such process.
func state(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// pid (comm) S ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+3 > len(b) {
		return ""
	}
	return string(b[i+2])
}

// childOf returns a child of parent, or 0 when it has none.
func childOf(parent int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(parent) + "/task/" + strconv.Itoa(parent) + "/children")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

// waitFor reports whether cond became true within 5 s.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
