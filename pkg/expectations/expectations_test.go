package expectations

import (
	"errors"
	"testing"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	testclock "k8s.io/utils/clock/testing"
)

var key = cache.NewObjectName("team-a", "blue")

func attachment(uid types.UID, rv string) *nadv1.NetworkAttachmentDefinition {
	return &nadv1.NetworkAttachmentDefinition{ObjectMeta: metav1.ObjectMeta{
		Namespace: key.Namespace, Name: key.Name, UID: uid, ResourceVersion: rv}}
}

var notFound = apierrors.NewNotFound(nadv1.Resource("network-attachment-definitions"), key.Name)

func newWrites() (*Writes, *testclock.FakeClock) {
	clk := testclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return New(clk), clk
}

func TestNetworkBehind(t *testing.T) {
	tests := []struct {
		name     string
		written  string // resourceVersion of the last status write; "" for none
		cached   string
		want     bool
		wantKept bool // whether the expectation is still remembered afterwards
	}{
		{"nothing written: the cache is believed", "", "5", false, false},
		{"a cache older than the write is behind", "7", "5", true, true},
		{"a cache at the write has caught up", "7", "7", false, false},
		{"a cache past the write has caught up", "7", "9", false, false},
		{"versions compare as numbers, not strings", "10", "9", true, true},
		{"versions that do not parse: the cache is believed", "x7", "x5", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newWrites()
			if tc.written != "" {
				w.WroteStatus(key, tc.written)
			}
			if got := w.NetworkBehind(key, tc.cached); got != tc.want {
				t.Errorf("NetworkBehind = %v, want %v", got, tc.want)
			}
			if kept := w.Len() == 1; kept != tc.wantKept {
				t.Errorf("expectation kept = %v, want %v", kept, tc.wantKept)
			}
		})
	}
}

func TestAttachment(t *testing.T) {
	written := attachment("uid-1", "20")
	tests := []struct {
		name     string
		write    func(*Writes)
		cached   *nadv1.NetworkAttachmentDefinition
		cacheErr error
		want     *nadv1.NetworkAttachmentDefinition
		wantErr  func(error) bool
		wantKept bool
	}{
		{"nothing written: the cache's answer", nil, attachment("uid-1", "5"), nil, attachment("uid-1", "5"), nil, false},
		{"a create the cache does not show yet", func(w *Writes) { w.WroteAttachment(key, written) }, nil, notFound, written, nil, true},
		{"an update the cache does not show yet", func(w *Writes) { w.WroteAttachment(key, written) }, attachment("uid-1", "15"), nil, written, nil, true},
		{"the cache caught up with the write", func(w *Writes) { w.WroteAttachment(key, written) }, attachment("uid-1", "20"), nil, attachment("uid-1", "20"), nil, false},
		{"a deletion the cache does not show yet", func(w *Writes) { w.DeletedAttachment(key, "uid-1") }, attachment("uid-1", "15"), nil, nil, apierrors.IsNotFound, true},
		{"the cache shows the deletion", func(w *Writes) { w.DeletedAttachment(key, "uid-1") }, nil, notFound, nil, apierrors.IsNotFound, false},
		{"a newer attachment replaced the deleted one", func(w *Writes) { w.DeletedAttachment(key, "uid-1") }, attachment("uid-2", "30"), nil, attachment("uid-2", "30"), nil, false},
		{"a cache error other than not found passes through", func(w *Writes) { w.WroteAttachment(key, written) }, nil, errors.New("boom"), nil, func(err error) bool { return err != nil && err.Error() == "boom" }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newWrites()
			if tc.write != nil {
				tc.write(w)
			}
			got, err := w.Attachment(key, tc.cached, tc.cacheErr)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !tc.wantErr(err) {
				t.Fatalf("error = %v", err)
			}
			if (got == nil) != (tc.want == nil) || got != nil && (got.UID != tc.want.UID || got.ResourceVersion != tc.want.ResourceVersion) {
				t.Errorf("Attachment = %v, want %v", got, tc.want)
			}
			if kept := w.Len() == 1; kept != tc.wantKept {
				t.Errorf("expectation kept = %v, want %v", kept, tc.wantKept)
			}
		})
	}
}

// A watch event that carries exactly what the controller wrote is its own
// write coming back; anything else is someone else's change.
func TestEchoes(t *testing.T) {
	w, _ := newWrites()
	w.WroteStatus(key, "7")
	w.WroteAttachment(key, attachment("uid-1", "8"))
	if w.EchoOfStatus(key, "6") || w.EchoOfAttachment(key, "9") {
		t.Fatal("a version other than the one written was taken for an echo")
	}
	if !w.EchoOfStatus(key, "7") {
		t.Error("the status write's own version is not its echo")
	}
	if w.EchoOfStatus(key, "7") {
		t.Error("an echo is recognised once only: the second time it is someone else's")
	}
	if !w.EchoOfAttachment(key, "8") {
		t.Error("the attachment write's own version is not its echo")
	}
	if n := w.Len(); n != 0 {
		t.Errorf("%d expectations left once both writes came back, want 0", n)
	}
}

// An event that never comes must not leave the controller distrusting its
// cache for ever: after TTL it is believed again.
func TestExpectationsExpire(t *testing.T) {
	w, clk := newWrites()
	w.WroteStatus(key, "7")
	clk.Step(TTL)
	if !w.NetworkBehind(key, "5") {
		t.Fatal("an expectation TTL old was already forgotten")
	}
	clk.Step(time.Millisecond)
	if w.NetworkBehind(key, "5") {
		t.Error("an expectation older than TTL still holds the sync back")
	}
	if n := w.Len(); n != 0 {
		t.Errorf("%d expectations kept after expiry, want 0", n)
	}
}

func TestForget(t *testing.T) {
	w, _ := newWrites()
	w.WroteStatus(key, "7")
	w.DeletedAttachment(key, "uid-1")
	w.Forget(key)
	if w.NetworkBehind(key, "5") {
		t.Error("a forgotten Network still waits for its write")
	}
	if n := w.Len(); n != 0 {
		t.Errorf("%d expectations after Forget, want 0", n)
	}
}

// After the attachment API was lost, every attachment the controller wrote
// or deleted went with it: only the status expectations are kept.
func TestForgetAttachments(t *testing.T) {
	w, _ := newWrites()
	other := cache.NewObjectName("team-b", "red")
	w.WroteStatus(key, "7")
	w.WroteAttachment(key, attachment("uid-1", "8"))
	w.DeletedAttachment(other, "uid-2")
	w.ForgetAttachments()
	if got, err := w.Attachment(key, nil, notFound); got != nil || !apierrors.IsNotFound(err) {
		t.Errorf("Attachment after the loss = %v, %v; want the cache's not found", got, err)
	}
	if !w.NetworkBehind(key, "5") {
		t.Error("the status expectation was forgotten with the attachments")
	}
	if n := w.Len(); n != 1 {
		t.Errorf("%d expectations left, want 1 (the status write)", n)
	}
}
