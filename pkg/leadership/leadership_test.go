package leadership

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"
)

// testConfig is a Lease with timings short enough for unit tests; client-go
// requires LeaseDuration > RenewDeadline > 1.2 × RetryPeriod.
var testConfig = Config{
	LeaseDuration: time.Second,
	RenewDeadline: 500 * time.Millisecond,
	RetryPeriod:   100 * time.Millisecond,
	Name:          "network-controller",
	Namespace:     "network-controller",
}

// election runs Run in the background against a fake clientset, as client-go
// tests its own elector.
type election struct {
	t       *testing.T
	client  *fake.Clientset
	health  *Health
	cancel  context.CancelFunc
	started chan struct{} // closed when run is called
	done    chan error    // Run's result
}

// startElection runs Run with run, which is told it leads by started.
func startElection(t *testing.T, client *fake.Clientset, run func(ctx, lost context.Context) error) *election {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	e := &election{t: t, client: client, health: NewHealth(), cancel: cancel,
		started: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		e.done <- Run(ctx, testConfig, client, e.health, func(ctx, lost context.Context) error {
			close(e.started)
			return run(ctx, lost)
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
	})
	return e
}

func (e *election) waitLeading() {
	e.t.Helper()
	select {
	case <-e.started:
	case <-time.After(10 * time.Second):
		e.t.Fatal("never became leader")
	}
}

func (e *election) result(within time.Duration) error {
	e.t.Helper()
	select {
	case err := <-e.done:
		e.done <- err // for the cleanup
		return err
	case <-time.After(within):
		e.t.Fatalf("Run had not returned after %v", within)
		return nil
	}
}

func (e *election) lease() *coordinationv1.Lease {
	e.t.Helper()
	lease, err := e.client.CoordinationV1().Leases(testConfig.Namespace).Get(context.Background(), testConfig.Name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return lease
}

func holder(lease *coordinationv1.Lease) string {
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// usurper is the identity of the replica takeLease plays.
const usurper = "another-replica"

// takeLease makes another replica the holder for an hour.
func takeLease(t *testing.T, client *fake.Clientset) {
	t.Helper()
	other, now, hour := usurper, metav1.NewMicroTime(time.Now()), int32(3600)
	leases := client.CoordinationV1().Leases(testConfig.Namespace)
	lease, err := leases.Get(context.Background(), testConfig.Name, metav1.GetOptions{})
	if err != nil {
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: testConfig.Name, Namespace: testConfig.Namespace}}
		lease.Spec.HolderIdentity, lease.Spec.RenewTime, lease.Spec.AcquireTime, lease.Spec.LeaseDurationSeconds = &other, &now, &now, &hour
		if _, err := leases.Create(context.Background(), lease, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	lease.Spec.HolderIdentity, lease.Spec.RenewTime, lease.Spec.LeaseDurationSeconds = &other, &now, &hour
	if _, err := leases.Update(context.Background(), lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A leader asked to stop finishes run first, then releases the Lease at
// once rather than leave a successor waiting for it to expire.
func TestRunLeadsThenReleasesTheLeaseOnStop(t *testing.T) {
	e := startElection(t, fake.NewClientset(), func(ctx, lost context.Context) error {
		<-ctx.Done()
		return nil
	})
	e.waitLeading()
	if h := holder(e.lease()); !strings.Contains(h, "_") {
		t.Errorf("the Lease is held by %q, want this process's identity (host_uuid)", h)
	}
	e.cancel()
	if err := e.result(5 * time.Second); err != nil {
		t.Errorf("Run = %v, want nil after a stop", err)
	}
	if h := holder(e.lease()); h != "" {
		t.Errorf("after the stop the Lease is still held by %q, want it released", h)
	}
}

// While another replica holds the Lease, run is never called, and a stop
// ends the wait at once.
func TestRunWaitsWhileAnotherReplicaLeads(t *testing.T) {
	client := fake.NewClientset()
	takeLease(t, client)
	e := startElection(t, client, func(ctx, lost context.Context) error {
		t.Error("run was called while another replica held the Lease")
		return nil
	})
	time.Sleep(5 * testConfig.RetryPeriod)
	e.cancel()
	if err := e.result(2 * time.Second); err != nil {
		t.Errorf("Run = %v, want nil after a stop", err)
	}
	if h := holder(e.lease()); h != "another-replica" {
		t.Errorf("the Lease is held by %q, want the other replica's untouched", h)
	}
}

// A leader whose Lease is taken stops writing at once (run's lost ends with
// ErrLeaseLost), Run returns ErrLeaseLost so the process exits, and
// /healthz fails for good, so a hung exit is restarted by the kubelet.
func TestLosingTheLeaseAbortsRunAndFailsHealth(t *testing.T) {
	lostCause := make(chan error, 1)
	// The fake clientset does not check resourceVersions, so the leader's
	// optimistic renewal would overwrite the usurper; the API server
	// refuses it with a Conflict, and so does this reactor once the Lease
	// is taken. (It is added before the election starts: a fake's reactor
	// chain may not change while the elector calls it.)
	var taken atomic.Bool
	client := fake.NewClientset()
	client.PrependReactor("update", "leases", func(action k8stesting.Action) (bool, runtime.Object, error) {
		lease := action.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		if !taken.Load() || holder(lease) == usurper {
			return false, nil, nil
		}
		return true, nil, apierrors.NewConflict(coordinationv1.Resource("leases"), testConfig.Name, errors.New("the object has been modified"))
	})
	e := startElection(t, client, func(ctx, lost context.Context) error {
		<-lost.Done()
		lostCause <- context.Cause(lost)
		return nil
	})
	e.waitLeading()
	if err := e.health.Check(httptest.NewRequest("GET", "/healthz", nil)); err != nil {
		t.Fatalf("health while leading = %v, want nil", err)
	}
	taken.Store(true)
	takeLease(t, e.client)
	select {
	case cause := <-lostCause:
		if !errors.Is(cause, ErrLeaseLost) {
			t.Errorf("run's lost ended with %v, want ErrLeaseLost", cause)
		}
	case <-time.After(testConfig.RenewDeadline + 10*testConfig.RetryPeriod + 2*time.Second):
		t.Fatal("run was not told the Lease was lost")
	}
	if err := e.result(5 * time.Second); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Run = %v, want ErrLeaseLost", err)
	}
	if err := e.health.Check(httptest.NewRequest("GET", "/healthz", nil)); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("health after the loss = %v, want ErrLeaseLost", err)
	}
}

// run's own failure is Run's result, and the Lease is released for another
// replica to take over.
func TestRunReturnsRunsErrorAndReleasesTheLease(t *testing.T) {
	boom := errors.New("caches never synced")
	e := startElection(t, fake.NewClientset(), func(ctx, lost context.Context) error { return boom })
	e.waitLeading()
	if err := e.result(5 * time.Second); !errors.Is(err, boom) {
		t.Errorf("Run = %v, want run's error", err)
	}
	if h := holder(e.lease()); h != "" {
		t.Errorf("the Lease is still held by %q, want it released", h)
	}
}
