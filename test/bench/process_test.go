package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samplecrd/network-controller/internal/apiserverproc"
	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// clockTicks is the unit of the CPU times in /proc/PID/stat (USER_HZ),
// 100 on every Linux this runs on.
const clockTicks = 100

// controller is a running controller binary.
type controller struct {
	cmd     *exec.Cmd
	started time.Time
	metrics string // base URL of the metrics server
	probes  string // base URL of the probe server
	log     string
}

// startController starts the binary with default flags except the ones
// that would clash (ports), then -controller-flags and args.
func startController(b *testing.B, args ...string) *controller {
	b.Helper()
	metricsAddr, probeAddr := freeAddr(b), freeAddr(b)
	args = append(append([]string{"--kubeconfig", kubeconfig, "--metrics-bind-address", metricsAddr, "--health-probe-bind-address", probeAddr},
		strings.Fields(*controllerFlags)...), args...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), strings.Fields(os.Getenv("BENCH_CONTROLLER_ENV"))...)
	logFile, err := os.CreateTemp("", "bench-controller-*.log")
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	c := &controller{cmd: cmd, metrics: "http://" + metricsAddr, probes: "http://" + probeAddr, log: logFile.Name()}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	running.Store(c, struct{}{})
	// A benchmark that fails before it stops the controller must not
	// leave it running.
	b.Cleanup(func() {
		if _, ok := running.LoadAndDelete(c); ok {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return c
}

// running holds the controllers started and not stopped yet, for
// stopOnSignal.
var running sync.Map

// stopOnSignal stops the running controllers and the control plane when
// the benchmark is interrupted or terminated, so that a run cut short
// leaves no kube-apiserver, etcd or controller behind; then it exits.
func stopOnSignal(stopPlane func()) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-signals
		fmt.Fprintf(os.Stderr, "bench: %v: stopping the controllers and the control plane\n", s)
		running.Range(func(c, _ any) bool {
			_ = c.(*controller).cmd.Process.Kill()
			return true
		})
		stopPlane()
		os.Exit(1)
	}()
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitSynced polls /readyz until the controller's caches have synced and
// returns when they had.
func (c *controller) waitSynced(b *testing.B, timeout time.Duration) time.Time {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(c.probes + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("the controller was not ready within %v; log: %s", timeout, c.log)
	return time.Time{}
}

// stop sends SIGTERM and waits for the process.
func (c *controller) stop(b *testing.B) {
	b.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	err := c.cmd.Wait()
	running.Delete(c)
	if err != nil {
		b.Errorf("controller exited with %v; log: %s", err, c.log)
		return
	}
	if *keepLogs {
		b.Logf("controller log: %s", c.log)
		return
	}
	os.Remove(c.log)
}

// cpuSeconds is the CPU time the process has used, user and system.
func (c *controller) cpuSeconds(b *testing.B) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is the 3rd field, utime and stime the 14th and 15th.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks
}

// memory returns a field of /proc/PID/status in MiB: VmRSS is the resident
// memory now, VmHWM its peak.
func (c *controller) memory(b *testing.B, field string) float64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		name, value, ok := strings.Cut(scanner.Text(), ":")
		if !ok || name != field {
			continue
		}
		kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			b.Fatal(err)
		}
		return kib / 1024
	}
	b.Fatalf("no %s in /proc/%d/status", field, c.cmd.Process.Pid)
	return 0
}

// samples returns the controller's /metrics samples whose line starts with
// prefix. Scraping costs the controller a walk of its cache, so the
// benchmarks scrape only outside what they time.
func (c *controller) samples(b *testing.B, prefix string) map[string]float64 {
	b.Helper()
	resp, err := http.Get(c.metrics + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// writes sums the controller's REST requests with the given method, or
// all that are not reads when method is "".
func (c *controller) writes(b *testing.B, method string) float64 {
	b.Helper()
	total := 0.0
	for series, v := range c.samples(b, "rest_client_requests_total{") {
		switch {
		case method == "" && !strings.Contains(series, `method="GET"`),
			method != "" && strings.Contains(series, `method="`+method+`"`):
			total += v
		}
	}
	return total
}

// queueDepth is the depth of the controller's workqueue.
func (c *controller) queueDepth(b *testing.B) float64 {
	b.Helper()
	return c.samples(b, "workqueue_depth{")[`workqueue_depth{name="networks"}`]
}

// waitIdle waits until the controller's workqueue is empty.
func (c *controller) waitIdle(b *testing.B, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for c.queueDepth(b) > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("the controller's queue was not empty within %v", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// profileCPU fetches a CPU profile of d from the controller (which must
// run with --profiling) into dir/name, in the background; the returned
// function waits for it.
func (c *controller) profileCPU(b *testing.B, d time.Duration, dir, name string) func() {
	b.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", c.metrics, int(d.Seconds()))
		resp, err := http.Get(url)
		for deadline := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(deadline); {
			// The server does not listen yet.
			time.Sleep(20 * time.Millisecond)
			resp, err = http.Get(url)
		}
		if err != nil {
			b.Errorf("CPU profile: %v", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			b.Errorf("CPU profile: %v", err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
			b.Errorf("CPU profile: %v (HTTP %d; is --profiling on?)", err, resp.StatusCode)
		}
	}()
	return func() { <-done }
}

// killAPIServer kills the API server at once, as a crash or a lost node
// would, rather than let it stop gracefully: a graceful stop takes long and
// varying times to drain its requests, and the outage should start when
// the benchmark says.
func killAPIServer(b *testing.B) {
	b.Helper()
	if err := apiserverproc.KillByCertDir(certDir); err != nil {
		b.Fatal(err)
	}
	// envtest notices the exit; Stop then only tidies up.
	if err := plane.ControlPlane.APIServer.Stop(); err != nil {
		b.Fatal(err)
	}
}

// profileHeap fetches a heap profile from the controller (which must run
// with --profiling) into dir/name.
func (c *controller) profileHeap(b *testing.B, dir, name string) {
	b.Helper()
	resp, err := http.Get(c.metrics + "/debug/pprof/heap")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("heap profile: %v (HTTP %d)", err, resp.StatusCode)
	}
}

// logMemory logs what the resident memory is made of: anonymous and file
// pages, and the Go heap as the runtime sees it.
func (c *controller) logMemory(b *testing.B, when string) {
	b.Helper()
	go_ := c.samples(b, "go_memstats_")
	mib := func(name string) string { return fmt.Sprintf("%.1f", go_[name]/(1<<20)) }
	b.Logf("%s: RSS %.1f MiB (anonymous %.1f, file %.1f); Go heap in use %s MiB, idle %s, released %s, next GC at %s",
		when, c.memory(b, "VmRSS"), c.memory(b, "RssAnon"), c.memory(b, "RssFile"),
		mib("go_memstats_heap_inuse_bytes"), mib("go_memstats_heap_idle_bytes"), mib("go_memstats_heap_released_bytes"), mib("go_memstats_next_gc_bytes"))
}

// probeNetwork is the Network a revisionClock writes to.
var probeNetwork *samplecrdv1.Network

// outageProbe returns probeNetwork, creating it the first time, in a
// namespace of its own that no run watches.
func outageProbe(b *testing.B) *samplecrdv1.Network {
	b.Helper()
	if probeNetwork == nil {
		set := newSet(b, "outage-probe", 1, pool{first: 192, second: 168, size: 1})
		probeNetwork = set.create(b, 0, nil)[0]
	}
	return probeNetwork
}
