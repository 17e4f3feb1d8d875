package main

// What the controller does while an API it needs is away, against the real
// API server: the NetworkAttachmentDefinition CRD deleted while it runs,
// and the API server away when it starts.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"sigs.k8s.io/yaml"

	"github.com/samplecrd/network-controller/internal/apiserverproc"
	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// Bounds of TestIntegrationAttachmentCRDLostAndBack. They leave a wide
// margin over what the controller needs (a discovery poll of 200 ms, and
// the API server's own 2 s wait on creates into a CRD just established),
// and are far below a Network's own backoff, which reaches minutes.
const (
	// crdLossNoticedBound is how soon after the CRD is gone the controller
	// must report not ready.
	crdLossNoticedBound = 5 * time.Second
	// crdAbsence is how long the CRD stays away once that was noticed:
	// long enough for the backoff of Networks whose syncs failed to grow
	// past it.
	crdAbsence = 8 * time.Second
	// crdRecoveryBound is how soon after the CRD is back every Network
	// must have its attachment again.
	crdRecoveryBound = 8 * time.Second
)

// TestIntegrationAttachmentCRDLostAndBack deletes the
// NetworkAttachmentDefinition CRD under a running controller whose
// Networks are Ready (which deletes their attachments with it): the
// controller must notice, become not ready, say so once in its log and
// write nothing while the API is gone; once the CRD is back every Network
// must have its attachment again within seconds, not after its own
// backoff.
func TestIntegrationAttachmentCRDLostAndBack(t *testing.T) {
	e := newEnv(t)
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.BufferLogs(true)))
	e.ctx = klog.NewContext(e.ctx, logger)
	ctrl := e.startController(Options{})
	names := []string{"lost-a", "lost-b", "lost-c"}
	for i, name := range names {
		e.create(name, fmt.Sprintf("198.19.207.%d/28", 16*i), fmt.Sprintf("198.19.207.%d", 16*i+1))
	}
	before := map[string]string{}
	for _, name := range names {
		e.waitForAttachmentConfig(name, "198.19.207.")
		before[name] = e.waitForReady(name, metav1.ConditionTrue, samplecrdv1.ReasonSynced).ResourceVersion
	}
	if err := ctrl.controller.Ready(); err != nil {
		t.Fatalf("the controller is not ready before the CRD is deleted: %v", err)
	}

	deleted := time.Now()
	reinstall := e.deleteAttachmentCRD()
	var notReady error
	for time.Since(deleted) < crdLossNoticedBound && notReady == nil {
		notReady = ctrl.controller.Ready()
		time.Sleep(50 * time.Millisecond)
	}
	switch {
	case notReady == nil:
		t.Errorf("the controller still reports ready %v after the NetworkAttachmentDefinition CRD was deleted", crdLossNoticedBound)
	case !strings.Contains(notReady.Error(), "NetworkAttachmentDefinition") || !strings.Contains(notReady.Error(), "kubectl create -f"):
		t.Errorf("readiness fails with %q; want it to name the missing API and how to install it", notReady)
	default:
		t.Logf("not ready %v after the CRD was deleted: %v", time.Since(deleted).Round(10*time.Millisecond), notReady)
	}

	writesThen := len(ctrl.writes.get())
	time.Sleep(crdAbsence)
	if writes := ctrl.writes.get()[writesThen:]; len(writes) != 0 {
		t.Errorf("the controller wrote while the NetworkAttachmentDefinition API was gone: %v", writes)
	}
	for _, name := range names {
		n, err := e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.ResourceVersion != before[name] {
			t.Errorf("Network %s was written while the NetworkAttachmentDefinition API was gone: %+v", name, n.Status)
		}
	}
	if lines := strings.Count(logger.GetSink().(ktesting.Underlier).GetBuffer().String(), msgAttachmentAPIMissing); lines != 1 {
		t.Errorf("the controller said %d times that the NetworkAttachmentDefinition API is missing, want once", lines)
	}

	reinstall()
	back := time.Now()
	for _, name := range names {
		for {
			nad, err := e.attachment(name)
			if err == nil && strings.Contains(nad.Spec.Config, "198.19.207.") {
				break
			}
			if time.Since(back) > crdRecoveryBound {
				t.Fatalf("NetworkAttachmentDefinition %s not re-created %v after the CRD was (last: %v)", name, crdRecoveryBound, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("every attachment re-created %v after the CRD was", time.Since(back).Round(10*time.Millisecond))
	for _, name := range names {
		n := e.waitForReady(name, metav1.ConditionTrue, samplecrdv1.ReasonSynced)
		if n.Status.AttachmentName != name {
			t.Errorf("Network %s has status.attachmentName %q, want %q", name, n.Status.AttachmentName, name)
		}
	}
	e.waitFor("the controller to be ready again", func() (bool, string) {
		err := ctrl.controller.Ready()
		return err == nil, fmt.Sprint(err)
	})
}

// deleteAttachmentCRD deletes the NetworkAttachmentDefinition CRD, waits
// until its API is gone, and returns a function that installs it again,
// which also runs when the test ends: later tests need it.
func (e *env) deleteAttachmentCRD() (reinstall func()) {
	e.t.Helper()
	crds := apiextensionsclient.NewForConfigOrDie(apiserver).ApiextensionsV1().CustomResourceDefinitions()
	reinstall = func() {
		raw, err := os.ReadFile(attachmentCRDFile)
		if err != nil {
			e.t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			e.t.Fatal(err)
		}
		if _, err := crds.Create(context.Background(), &crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			e.t.Fatal(err)
		}
	}
	e.t.Cleanup(reinstall)
	if err := crds.Delete(e.ctx, attachmentCRDName, metav1.DeleteOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.waitFor("the NetworkAttachmentDefinition API to be gone", func() (bool, string) {
		_, err := e.kube.Discovery().ServerResourcesForGroupVersion(nadv1.SchemeGroupVersion.String())
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	return reinstall
}

// Bounds of TestIntegrationStartsWorkingOnceTheServerAnswers.
const (
	// serverAwayAtStart is how long the API server stays away after the
	// controller started: long enough for client-go's list backoff
	// (0.8 s doubling, with jitter, towards 30 s) to reach several seconds.
	serverAwayAtStart = 20 * time.Second
	// workingBound is how soon after the API server answers again a
	// Network waiting for the controller must be Ready.
	workingBound = 2 * time.Second
)

// TestIntegrationStartsWorkingOnceTheServerAnswers starts the controller
// while the API server is away, as a cluster power-cycle or a
// control-plane restart does, keeps the server away serverAwayAtStart and
// starts it again: a Network waiting since before must be Ready within
// workingBound of the server's first answer, whatever backoff the
// informers' retries have built up meanwhile.
func TestIntegrationStartsWorkingOnceTheServerAnswers(t *testing.T) {
	e := newEnv(t)
	t.Cleanup(func() {
		// Tests after this one want the admission policy enforced again.
		if err := waitForPolicy(apiserver); err != nil {
			t.Error(err)
		}
	})
	e.create("waiting", "198.19.209.0/24", "198.19.209.1")
	if err := apiserverproc.KillByCertDir(apiserverCertDir); err != nil {
		t.Fatal(err)
	}
	if err := controlPlane.ControlPlane.APIServer.Stop(); err != nil {
		t.Fatal(err)
	}
	e.startController(Options{})
	time.Sleep(serverAwayAtStart)

	// The server's first answer: /readyz succeeding, polled from before
	// it starts.
	answered := make(chan time.Time, 1)
	pollCtx, stopPolling := context.WithCancel(e.ctx)
	defer stopPolling()
	go func() {
		for pollCtx.Err() == nil {
			ctx, cancel := context.WithTimeout(pollCtx, time.Second)
			err := e.kube.Discovery().RESTClient().Get().AbsPath("/readyz").MaxRetries(0).Do(ctx).Error()
			cancel()
			if err == nil {
				answered <- time.Now()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	if err := controlPlane.ControlPlane.APIServer.Start(); err != nil {
		t.Fatal(err)
	}
	var first time.Time
	select {
	case first = <-answered:
	case <-time.After(time.Minute):
		t.Fatal("the restarted API server did not answer /readyz within a minute")
	}

	for {
		n, err := e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, "waiting", metav1.GetOptions{})
		if err == nil && meta.IsStatusConditionTrue(n.Status.Conditions, samplecrdv1.ConditionReady) {
			break
		}
		if time.Since(first) > time.Minute {
			t.Fatalf("Network waiting not Ready a minute after the API server answered again (last: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	delay := time.Since(first)
	t.Logf("Network Ready %v after the API server answered again, having been away %v since the controller started", delay.Round(10*time.Millisecond), serverAwayAtStart)
	if delay > workingBound {
		t.Errorf("the controller made the waiting Network Ready %v after the API server answered again, want within %v", delay.Round(10*time.Millisecond), workingBound)
	}
}
