package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The shipped leader-election timing (the flags' defaults).
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
	// maxRetryInterval is the longest gap between two acquire attempts:
	// client-go jitters the retry period by a factor of up to 1.2.
	maxRetryInterval = retryPeriod + retryPeriod*12/10
)

// replica is a controller process started with leader election and its
// own metrics and probe ports.
type replica struct {
	*controllerProcess
	name                 string
	metricsURL, probeURL string
}

// startReplica starts a controller that competes for the test's Lease.
func startReplica(t *testing.T, c *localCluster, name, lease string) *replica {
	t.Helper()
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	probeAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	p := c.startController(t, name,
		"--leader-elect", "--leader-elect-resource-namespace="+deployNamespace, "--leader-elect-resource-name="+lease,
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr)
	return &replica{controllerProcess: p, name: name, metricsURL: "http://" + metricsAddr + "/metrics", probeURL: "http://" + probeAddr}
}

// get fetches url and returns the status code and body.
func get(url string) (int, string, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// metric returns the value of the sample whose name and labels start with
// series (e.g. `workqueue_adds_total{name="networks"}`) in the replica's
// /metrics, or an error when it is absent.
func (r *replica) metric(series string) (float64, error) {
	code, body, err := get(r.metricsURL)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d", r.metricsURL, code)
	}
	scanner := bufio.NewScanner(strings.NewReader(body))
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, series) {
			continue
		}
		fields := strings.Fields(line)
		return strconv.ParseFloat(fields[len(fields)-1], 64)
	}
	return 0, fmt.Errorf("%s has no sample %s", r.name, series)
}

// leading reports whether the replica runs workers, by its leader gauge.
func (r *replica) leading() (bool, error) {
	v, err := r.metric("network_controller_leader ")
	return v == 1, err
}

// waitForSoleLeader waits until exactly one of replicas leads, and returns it.
func waitForSoleLeader(t *testing.T, timeout time.Duration, replicas ...*replica) *replica {
	t.Helper()
	var leader *replica
	eventually(t, timeout, "exactly one replica leads", func() error {
		leader = nil
		for _, r := range replicas {
			ok, err := r.leading()
			if err != nil {
				return err
			}
			if ok {
				if leader != nil {
					return fmt.Errorf("both %s and %s lead", leader.name, r.name)
				}
				leader = r
			}
		}
		if leader == nil {
			return fmt.Errorf("no replica leads")
		}
		return nil
	})
	return leader
}

// createNetwork creates a Network with kubectl and waits until it is Ready.
func createNetwork(t *testing.T, c *localCluster, ns, name, cidr, gateway string) {
	t.Helper()
	manifest := fmt.Sprintf("apiVersion: samplecrd.k8s.io/v1\nkind: Network\nmetadata:\n  name: %s\nspec:\n  cidr: %s\n  gateway: %s\n", name, cidr, gateway)
	if out, err := c.kubectlAs(c.kubeconfig, manifest, "create", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("creating Network %s: %v\n%s", name, err, out)
	}
}

// waitReady waits for a Network's Ready condition.
func waitReady(t *testing.T, c *localCluster, ns, name string, timeout time.Duration) {
	t.Helper()
	out, err := c.kubectl("wait", "-n", ns, "--for", "condition=Ready", fmt.Sprintf("--timeout=%ds", int(timeout.Seconds())), "network/"+name)
	if err != nil {
		t.Fatalf("Network %s did not become Ready: %v\n%s", name, err, out)
	}
}

// TestLeaderElectionFailoverAndHandover runs replicas as the Deployment
// does: one leads and works, the other waits. A killed leader's lease is
// taken over once it expires; a leader stopped with SIGTERM releases its
// lease, so the successor starts at once.
func TestLeaderElectionFailoverAndHandover(t *testing.T) {
	if cluster == nil {
		t.Skip("e2e: needs the local control plane (skipped under -short)")
	}
	c := cluster
	ns := "leader-election"
	c.newNamespace(t, ns)

	a := startReplica(t, c, "replica-a", "e2e-leader")
	b := startReplica(t, c, "replica-b", "e2e-leader")
	first := waitForSoleLeader(t, 60*time.Second, a, b)
	second := b
	if first == b {
		second = a
	}

	t.Run("probes answer on both replicas, leader or not", func(t *testing.T) {
		for _, r := range []*replica{a, b} {
			for _, path := range []string{"/healthz", "/readyz"} {
				eventually(t, 30*time.Second, r.name+path, func() error {
					code, body, err := get(r.probeURL + path)
					if err != nil || code != http.StatusOK {
						return fmt.Errorf("%d %q %v", code, body, err)
					}
					return nil
				})
			}
		}
	})

	t.Run("metrics move when a Network is synced", func(t *testing.T) {
		before, _ := first.metric(`network_controller_syncs_total{result="success"}`)
		addsBefore, _ := first.metric(`workqueue_adds_total{name="networks"}`)
		createNetwork(t, c, ns, "before-failover", "10.100.0.0/16", "10.100.0.1")
		waitReady(t, c, ns, "before-failover", 30*time.Second)
		eventually(t, 10*time.Second, "sync and queue counters grow", func() error {
			after, err := first.metric(`network_controller_syncs_total{result="success"}`)
			if err != nil {
				return err
			}
			adds, err := first.metric(`workqueue_adds_total{name="networks"}`)
			if err != nil {
				return err
			}
			if after <= before || adds <= addsBefore {
				return fmt.Errorf("syncs_total %v -> %v, workqueue_adds_total %v -> %v", before, after, addsBefore, adds)
			}
			return nil
		})
		for _, series := range []string{
			`network_controller_networks{ready="True"}`,
			`network_controller_sync_duration_seconds_count`,
			`workqueue_depth{name="networks"}`,
			`workqueue_queue_duration_seconds_count{name="networks"}`,
			`workqueue_work_duration_seconds_count{name="networks"}`,
			`workqueue_unfinished_work_seconds{name="networks"}`,
			`workqueue_longest_running_processor_seconds{name="networks"}`,
			`workqueue_retries_total{name="networks"}`,
			`rest_client_requests_total`,
			`rest_client_request_duration_seconds_count`,
			`leader_election_master_status{name="e2e-leader"}`,
			`go_goroutines`,
			`process_resident_memory_bytes`,
		} {
			if _, err := first.metric(series); err != nil {
				t.Errorf("metric missing: %v", err)
			}
		}
		if v, _ := second.metric(`network_controller_syncs_total{result="success"}`); v != 0 {
			t.Errorf("the follower synced %v Networks; only the leader may run workers", v)
		}
	})

	t.Run("a SIGKILLed leader is replaced within the lease duration", func(t *testing.T) {
		if err := first.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		createNetwork(t, c, ns, "after-kill", "10.101.0.0/16", "10.101.0.1")
		eventually(t, leaseDuration+2*maxRetryInterval+10*time.Second, second.name+" takes over", func() error {
			if ok, err := second.leading(); !ok {
				return fmt.Errorf("not leading yet (%v)", err)
			}
			return nil
		})
		took := time.Since(killed)
		t.Logf("takeover after SIGKILL: %v (lease duration %v)", took.Round(100*time.Millisecond), leaseDuration)
		// The follower counts the lease duration from when it last saw the
		// lease renewed, and notices expiry at its next attempt: each can be
		// up to one jittered retry interval late.
		if limit := leaseDuration + 2*maxRetryInterval; took > limit {
			t.Errorf("takeover took %v, more than the lease duration %v plus two retry intervals (%v)", took, leaseDuration, limit)
		}
		waitReady(t, c, ns, "after-kill", 30*time.Second)
	})

	t.Run("a SIGTERMed leader hands over at once", func(t *testing.T) {
		third := startReplica(t, c, "replica-c", "e2e-leader")
		eventually(t, 30*time.Second, "replica-c is ready", func() error {
			code, _, err := get(third.probeURL + "/readyz")
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("%d %v", code, err)
			}
			return nil
		})
		if ok, _ := third.leading(); ok {
			t.Fatal("replica-c leads while replica-b holds the lease")
		}
		if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		eventually(t, leaseDuration, "replica-c takes over", func() error {
			if ok, err := third.leading(); !ok {
				return fmt.Errorf("not leading yet (%v)", err)
			}
			return nil
		})
		took := time.Since(stopped)
		t.Logf("handover after SIGTERM: %v", took.Round(100*time.Millisecond))
		if limit := maxRetryInterval + time.Second; took > limit {
			t.Errorf("handover took %v; a released lease should be taken at the next attempt (%v)", took, limit)
		}
		if err := <-second.done; err != nil {
			t.Errorf("replica-b exited with %v after SIGTERM, want 0", err)
		}
		second.done <- nil
		createNetwork(t, c, ns, "after-handover", "10.102.0.0/16", "10.102.0.1")
		waitReady(t, c, ns, "after-handover", 30*time.Second)
	})
}

// TestLostLeaseExitsNonZero gives a leading replica's Lease to another
// identity, as a replica that took it over would. The README's promise: the
// binary stops and exits non-zero, so its pod restarts and competes again,
// rather than linger as a replica that will never lead.
func TestLostLeaseExitsNonZero(t *testing.T) {
	if cluster == nil {
		t.Skip("e2e: needs the local control plane (skipped under -short)")
	}
	c := cluster
	const lease = "e2e-lease-lost"
	r := startReplica(t, c, "replica-lost", lease)
	waitForSoleLeader(t, 60*time.Second, r)

	renewed := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	patch := fmt.Sprintf(`{"spec":{"holderIdentity":"another-replica","leaseDurationSeconds":3600,"renewTime":%q}}`, renewed)
	if out, err := c.kubectl("patch", "lease", lease, "-n", deployNamespace, "--type=merge", "-p", patch); err != nil {
		t.Fatalf("taking the Lease: %v\n%s", err, out)
	}
	taken := time.Now()
	// The replica notices within the renew deadline plus a retry period,
	// then cancels its syncs, writes its Events (at most 10 s) and exits.
	limit := renewDeadline + 2*maxRetryInterval + 10*time.Second + 10*time.Second
	select {
	case err := <-r.done:
		r.done <- err
		t.Logf("exited %v after the Lease was taken: %v", time.Since(taken).Round(100*time.Millisecond), err)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("exit = %v, want exit status 1", err)
		}
	case <-time.After(limit):
		t.Errorf("still running %v after its Lease was taken", limit)
	}
}
