package bench

import (
	"fmt"
	"testing"
	"time"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// The benchmarks run in this order, each -count times: the fixed cost
// with no Networks, the footprint with -scale (which leaves -scale Ready
// Networks in the cluster), the bursts and the outages among them, and the
// opt-in large footprint last.

// idleWait is how long a controller is left alone before its resident
// memory counts as idle: long enough for the Go runtime to return what the
// start-up or the burst freed.
const idleWait = 15 * time.Second

// profileLength is how long the CPU profile of a footprint burst runs; a
// burst that ends sooner adds idle time, which holds next to no samples.
const profileLength = 30 * time.Second

// runs numbers the sets of Networks, so that each run's label is its own.
var runs int

// nextRun returns a fresh run label with the given prefix.
func nextRun(prefix string) string {
	runs++
	return fmt.Sprintf("%s-%d", prefix, runs)
}

// BenchmarkFootprintEmpty measures the controller's fixed cost: resident
// memory idle with no Networks in the cluster, and start-to-synced time.
func BenchmarkFootprintEmpty(b *testing.B) {
	for range b.N {
		b.StopTimer()
		ctrl := startController(b)
		synced := ctrl.waitSynced(b, time.Minute)
		time.Sleep(idleWait)
		b.ReportMetric(ctrl.memory(b, "VmRSS"), "MiB-idle")
		ctrl.logMemory(b, "idle, no Networks")
		b.ReportMetric(synced.Sub(ctrl.started).Seconds(), "s-to-synced")
		ctrl.stop(b)
	}
}

// BenchmarkFootprint measures the footprint with -scale Networks.
func BenchmarkFootprint(b *testing.B) { footprint(b, *scale, 0) }

// BenchmarkFootprintPods measures the footprint with -scale Networks and
// -pods-per-network pods attached to each, as API objects: the pod cache
// and the usage figures in status (issue 22) at the scale of a cluster.
func BenchmarkFootprintPods(b *testing.B) { footprint(b, *scale, *podsPerNetwork) }

// BenchmarkFootprintLarge measures it with -large-scale Networks, when
// that is set.
func BenchmarkFootprintLarge(b *testing.B) {
	if *largeScale == 0 {
		b.Skip("bench: -large-scale is not set")
	}
	footprint(b, *largeScale, 0)
}

// profiled remembers which scales have had their CPU profile taken.
var profiled = map[int]bool{}

// footprint starts the controller on n Networks none of which is Ready,
// and measures the burst: its rate, the controller's CPU per Network, its
// peak resident memory and its resident memory once idle, and its writes
// per Network. Then it restarts the controller, with a 1 s resync period,
// and measures its start-to-synced time, its writes (there should be none)
// and its resident memory once idle. With pods, each Network has that
// many pods attached to it (API objects, attachPods) for the whole run,
// deleted at its end so that the other benchmarks run without them.
func footprint(b *testing.B, n, pods int) {
	for range b.N {
		b.StopTimer()
		set := populate(b, n)
		set.unready(b)
		if pods > 0 {
			attachPods(b, set, n, pods)
		}
		w := watchReady(b, set.run, set.namespaces, n)
		var args []string
		profile := *profileDir != "" && !profiled[n] && pods == 0
		if profile {
			args = append(args, "--profiling")
		}
		ctrl := startController(b, args...)
		profileDone := func() {}
		if profile {
			profiled[n] = true
			profileDone = ctrl.profileCPU(b, profileLength, *profileDir, fmt.Sprintf("cpu-%d.pprof", n))
		}
		_, last := w.wait(b, 30*time.Minute)
		cpu := ctrl.cpuSeconds(b)
		peak := ctrl.memory(b, "VmHWM")
		writes, statusWrites := ctrl.writes(b, ""), ctrl.writes(b, "PUT")
		time.Sleep(idleWait)
		afterBurst := ctrl.memory(b, "VmRSS")
		ctrl.logMemory(b, "idle after the burst")
		if profile {
			ctrl.profileHeap(b, *profileDir, fmt.Sprintf("heap-burst-%d.pprof", n))
		}
		profileDone()
		ctrl.stop(b)
		b.ReportMetric(float64(n)/last.Sub(ctrl.started).Seconds(), "networks/s")
		b.ReportMetric(1000*cpu/float64(n), "ms-cpu/network")
		b.ReportMetric(peak, "MiB-peak")
		b.ReportMetric(afterBurst, "MiB-after-burst")
		b.ReportMetric(writes/float64(n), "writes/network")
		b.ReportMetric(statusWrites/float64(n), "status-writes/network")
		b.ReportMetric(float64(set.attachments(b))/float64(n), "attachments/network")
		b.ReportMetric(float64(set.syncedEvents(b))/float64(n), "synced-events/network")

		// A restart finds everything in order, and so do resyncs.
		again := startController(b, "--resync-period=1s")
		synced := again.waitSynced(b, 5*time.Minute)
		time.Sleep(5 * time.Second)
		b.ReportMetric(again.writes(b, ""), "writes-after-restart")
		b.ReportMetric(synced.Sub(again.started).Seconds(), "s-to-synced")
		again.stop(b)

		// Idle after a restart, with the default flags.
		idle := startController(b, args...)
		idle.waitSynced(b, 5*time.Minute)
		time.Sleep(idleWait)
		b.ReportMetric(idle.memory(b, "VmRSS"), "MiB-idle")
		idle.logMemory(b, "idle after a restart")
		if profile {
			idle.profileHeap(b, *profileDir, fmt.Sprintf("heap-%d.pprof", n))
		}
		idle.stop(b)
		if pods > 0 {
			b.ReportMetric(float64(n*pods), "pods")
			set.deletePods(b)
		}
	}
}

// BenchmarkBurst measures, per iteration and with -scale other Ready
// Networks in the cluster, the controller on -burst Networks that exist
// before it starts and on -burst Networks created while it runs, each next
// to the ceiling for the same writes.
func BenchmarkBurst(b *testing.B) {
	for range b.N {
		b.StopTimer()
		readyPopulation(b, *scale)
		ceilingExisting := ceilingForExisting(b)
		existing, afterFirst := burstOfExisting(b)
		ceilingLive := ceilingForLive(b)
		live := burstOfLive(b)
		b.ReportMetric(ceilingExisting, "ceiling-existing-networks/s")
		b.ReportMetric(existing, "existing-networks/s")
		b.ReportMetric(100*existing/ceilingExisting, "existing-%-of-ceiling")
		b.ReportMetric(100*afterFirst/ceilingExisting, "existing-after-first-%-of-ceiling")
		b.ReportMetric(ceilingLive, "ceiling-live-networks/s")
		b.ReportMetric(live, "live-networks/s")
		b.ReportMetric(100*live/ceilingLive, "live-%-of-ceiling")
	}
}

// ceilingForExisting makes the controller's writes for each Network of a
// backlog directly, as fast as the API server takes them, while a watch
// like the one the controller's runs are timed with runs too. It returns
// Networks per second.
func ceilingForExisting(b *testing.B) float64 {
	set := newSet(b, nextRun("ceiling-existing"), *burstSize, burstPool)
	defer set.cleanUp(b)
	backlog := set.create(b, 0, nil)
	w := watchReady(b, set.run, set.namespaces, set.n)
	start := time.Now()
	parallel(b, len(backlog), func(i int) error { return controllerWrites(b, backlog[i]) })
	rate := float64(set.n) / time.Since(start).Seconds()
	w.wait(b, 5*time.Minute)
	return rate
}

// burstOfExisting starts the controller on a backlog of new Networks and
// returns Networks per second from its start to the last Ready, and from
// the first Ready to the last: the difference is the start-up, mostly the
// first list of every Network and attachment in the cluster.
func burstOfExisting(b *testing.B) (fromStart, afterFirst float64) {
	set := newSet(b, nextRun("existing"), *burstSize, burstPool)
	defer set.cleanUp(b)
	set.create(b, 0, nil)
	w := watchReady(b, set.run, set.namespaces, set.n)
	ctrl := startController(b)
	first, last := w.wait(b, 10*time.Minute)
	ctrl.stop(b)
	w.readyTimes().writeTimeline(b, "existing", ctrl.started, nil)
	b.ReportMetric(float64(set.syncedEvents(b))/float64(set.n), "existing-synced-events/network")
	return float64(set.n) / last.Sub(ctrl.started).Seconds(), float64(set.n-1) / last.Sub(first).Seconds()
}

// ceilingForLive creates Networks as burstOfLive does and, as each is
// created, makes the controller's writes for it from clientWorkers other
// clients, as fast as the API server takes them. It returns Networks per
// second from the first create to the last write.
func ceilingForLive(b *testing.B) float64 {
	set := newSet(b, nextRun("ceiling-live"), *burstSize, burstPool)
	defer set.cleanUp(b)
	w := watchReady(b, set.run, set.namespaces, set.n)
	created := make(chan *samplecrdv1.Network, set.n)
	start := time.Now()
	writers := make(chan error)
	go func() { writers <- tryParallel(set.n, func(int) error { return controllerWrites(b, <-created) }) }()
	set.create(b, 0, func(n *samplecrdv1.Network) error { created <- n; return nil })
	if err := <-writers; err != nil {
		b.Fatal(err)
	}
	rate := float64(set.n) / time.Since(start).Seconds()
	w.wait(b, 5*time.Minute)
	return rate
}

// burstOfLive creates Networks while the controller runs, synced and idle,
// and returns Networks per second from the first create to the last Ready.
func burstOfLive(b *testing.B) float64 {
	set := newSet(b, nextRun("live"), *burstSize, burstPool)
	defer set.cleanUp(b)
	ctrl := startController(b)
	ctrl.waitSynced(b, 5*time.Minute)
	ctrl.waitIdle(b, 5*time.Minute)
	w := watchReady(b, set.run, set.namespaces, set.n)
	start := time.Now()
	set.create(b, 0, nil)
	_, last := w.wait(b, 10*time.Minute)
	ctrl.stop(b)
	w.readyTimes().writeTimeline(b, "live", start, nil)
	b.ReportMetric(float64(set.syncedEvents(b))/float64(set.n), "live-synced-events/network")
	return float64(set.n) / last.Sub(start).Seconds()
}

// BenchmarkOutage runs, per iteration and with -scale other Ready Networks
// in the cluster, a burst of -outage-burst Networks that exist before the
// controller starts, once as it is and once with the API server killed
// -outage-after the start and started again -outage later. It compares the
// rate at which the backlog drains once the server is back with the rate
// at which the same part of the burst drains without the fault, and with
// the rate at which the ceiling's writers drain it after the same outage:
// a restarted API server fills its caches while it serves, which no client
// can do anything about.
func BenchmarkOutage(b *testing.B) {
	for range b.N {
		b.StopTimer()
		readyPopulation(b, *scale)
		clean := outageRun(b, "no-fault", outagePlan{}, runController)
		faulty := outageRun(b, "outage", outagePlan{fault: true}, runController)
		ceiling := outageRun(b, "ceiling-outage", outagePlan{fault: true}, runCeiling)
		b.ReportMetric(clean.rate, "no-fault-networks/s")
		b.ReportMetric(clean.drain, "no-fault-drain-networks/s")
		b.ReportMetric(clean.median.Seconds(), "no-fault-p50-s")
		b.ReportMetric(faulty.drain, "drain-networks/s")
		b.ReportMetric(100*faulty.drain/clean.drain, "drain-%-of-no-fault")
		b.ReportMetric(ceiling.drain, "ceiling-drain-networks/s")
		b.ReportMetric(100*faulty.drain/ceiling.drain, "drain-%-of-ceiling")
		b.ReportMetric(faulty.median.Seconds(), "p50-s")
		b.ReportMetric(faulty.left, "backlog-when-back")
		b.ReportMetric(faulty.back.Seconds(), "s-server-down")
		b.ReportMetric(faulty.tail.Seconds(), "s-back-to-last-ready")
		b.ReportMetric(clean.tail.Seconds(), "no-fault-s-to-last-ready")
	}
}

// BenchmarkOutageAtStart runs, per iteration and with -scale other Ready
// Networks in the cluster, a burst of -outage-burst Networks that exist
// before the controller starts, once as it is and once with the API
// server killed just before the controller starts and started again
// -outage-at-start later: a cluster power-cycle or a control-plane restart
// starts the controller this way. Meanwhile the informers' retries back
// off; what counts is how soon after the server's return the controller
// works (the first Network Ready) and the rate at which the burst drains
// from then on, against the rate from the start without the fault.
func BenchmarkOutageAtStart(b *testing.B) {
	for range b.N {
		b.StopTimer()
		readyPopulation(b, *scale)
		clean := outageRun(b, "no-fault-at-start", outagePlan{atStart: true}, runController)
		faulty := outageRun(b, "outage-at-start", outagePlan{atStart: true, fault: true}, runController)
		b.ReportMetric(clean.drain, "no-fault-drain-networks/s")
		b.ReportMetric(faulty.drain, "drain-networks/s")
		b.ReportMetric(100*faulty.drain/clean.drain, "drain-%-of-no-fault")
		b.ReportMetric(clean.first.Seconds(), "no-fault-s-to-first-ready")
		b.ReportMetric(faulty.first.Seconds(), "s-back-to-first-ready")
		b.ReportMetric(faulty.back.Seconds(), "s-server-down")
		b.ReportMetric(faulty.tail.Seconds(), "s-back-to-last-ready")
		b.ReportMetric(clean.tail.Seconds(), "no-fault-s-to-last-ready")
	}
}

// outageResult is what one burst of BenchmarkOutage measured.
type outageResult struct {
	rate float64 // Networks per second from the start to the last Ready
	// drain is the rate, in Networks per second, at which drainShare of
	// the backlog left once the server was back (without the fault: after
	// -outage-after) became Ready. It leaves out the last few, whose
	// requests a restarting server may have told to wait (Retry-After,
	// which client-go obeys): tail is how long those took.
	drain  float64
	tail   time.Duration // from the server's return to the last Ready
	first  time.Duration // from the server's return to the first Ready
	median time.Duration // from the start to Ready, the median
	left   float64       // Networks not Ready when the server was back
	back   time.Duration // how long the server was unreachable
}

// drainShare is the part of the backlog the drain rate counts.
const drainShare = 0.95

// runner makes a backlog Ready: it starts, and returns when it did and a
// function that stops it once the backlog is Ready.
type runner func(b *testing.B, backlog []*samplecrdv1.Network) (time.Time, func())

// runController runs the controller binary on the backlog.
func runController(b *testing.B, _ []*samplecrdv1.Network) (time.Time, func()) {
	ctrl := startController(b)
	return ctrl.started, func() { ctrl.stop(b) }
}

// runCeiling makes the controller's writes for the backlog from
// clientWorkers clients, as fast as the API server takes them; a write
// that fails is tried again after ceilingRetry.
func runCeiling(b *testing.B, backlog []*samplecrdv1.Network) (time.Time, func()) {
	done := make(chan error, 1)
	started := time.Now()
	go func() {
		done <- tryParallel(len(backlog), func(i int) error {
			var written writesDone
			for written.write(b, backlog[i]) != nil {
				time.Sleep(ceilingRetry)
			}
			return nil
		})
	}()
	return started, func() {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

// ceilingRetry is how soon the ceiling's writers try a failed write again.
const ceilingRetry = 100 * time.Millisecond

// outagePlan says where a run's outage is, if it has one.
type outagePlan struct {
	// fault kills the API server and starts it again; without it the run
	// is measured from where the outage would have ended.
	fault bool
	// atStart kills it just before the start, for -outage-at-start;
	// otherwise -outage-after the start, for -outage.
	atStart bool
}

// outageRun runs a backlog with run and, with a fault, kills the API
// server where plan says and starts it again. The Networks are dated by
// the revisions of their Ready writes (revisionClock), the same way with
// and without the fault.
func outageRun(b *testing.B, kind string, plan outagePlan, run runner) outageResult {
	clock := startRevisionClock(b)
	defer clock.stop()
	set := newSet(b, nextRun(kind), *outageSize, burstPool)
	defer set.cleanUp(b)
	backlog := set.create(b, 0, nil)
	w := watchReady(b, set.run, set.namespaces, set.n)
	var down time.Time
	length := *outageFor
	if plan.fault && plan.atStart {
		length = *outageAtStart
		down = time.Now()
		killAPIServer(b)
	}
	started, stop := run(b, backlog)
	// Without the fault, the drain is measured from when the server would
	// have come back: the part of the burst the outage would have hit
	// (all of it, for an outage at the start).
	from := started.Add(*outageAfter)
	if plan.atStart {
		from = started
	}
	var marks map[string]time.Time
	if plan.fault {
		if !plan.atStart {
			time.Sleep(time.Until(from))
			down = time.Now()
			killAPIServer(b)
		}
		time.Sleep(time.Until(down.Add(length)))
		if err := plane.ControlPlane.APIServer.Start(); err != nil {
			b.Fatal(err)
		}
		back, ok := clock.firstAnswerAfter(down)
		if !ok {
			b.Fatal("the restarted API server took no write")
		}
		from = back
		// Timelines count from the controller's start; a server already
		// away then is marked down at 0, not before it.
		marks = map[string]time.Time{"down": latest(down, started), "back": back}
	}
	w.wait(b, 10*time.Minute)
	stop()
	clock.waitPast(b, time.Now())
	ready := clock.readyTimes(b, set)
	ready.writeTimeline(b, kind, started, marks)
	done := ready.readyBy(from)
	left := set.n - done
	counted := int(drainShare * float64(left))
	r := outageResult{
		rate:   float64(set.n) / ready.last().Sub(started).Seconds(),
		median: ready.median(started),
		left:   float64(left),
		tail:   ready.last().Sub(from),
	}
	if counted > 0 {
		r.drain = float64(counted) / ready[done+counted-1].Sub(from).Seconds()
		r.first = ready[done].Sub(from)
	}
	if plan.fault {
		r.back = from.Sub(down)
	}
	return r
}

// latest returns the later of a and b.
func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
