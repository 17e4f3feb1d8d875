package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/cni"
)

// errNotControlled means the NetworkAttachmentDefinition with the Network's
// name exists but is not controlled by that Network, so the controller must
// not touch it.
var errNotControlled = errors.New("NetworkAttachmentDefinition is not controlled by the Network")

// refusedError wraps a write of the attachment that the API server refused
// for a reason that lasts (quota, admission, RBAC, validation): retrying at
// once cannot help, so the sync reports it to the user as well as retrying
// with backoff.
type refusedError struct{ err error }

func (e refusedError) Error() string { return e.err.Error() }
func (e refusedError) Unwrap() error { return e.err }

// newAttachment returns the NetworkAttachmentDefinition that realises
// network, whose spec parsed as spec: same name and namespace, the
// managed-by label that the attachment informer selects on, a controller
// owner reference so the garbage collector deletes it with the Network, and
// the rendered CNI configuration list.
func newAttachment(network *samplecrdv1.Network, spec cni.Network) (*nadv1.NetworkAttachmentDefinition, error) {
	conflist, err := cni.RenderNetwork(spec.Named(network.Namespace, network.Name))
	if err != nil {
		return nil, err
	}
	return &nadv1.NetworkAttachmentDefinition{
		ObjectMeta: metav1.ObjectMeta{
			Name:      network.Name,
			Namespace: network.Namespace,
			Labels:    map[string]string{managedByLabel: managedByValue},
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(network, samplecrdv1.SchemeGroupVersion.WithKind("Network")),
			},
		},
		Spec: nadv1.NetworkAttachmentDefinitionSpec{Config: string(conflist)},
	}, nil
}

// ensureAttachment makes the Network's attachment look like desired: it
// creates a missing one and patches a drifted one back. It returns
// errNotControlled, and changes nothing, when the attachment belongs to
// someone else. It reports whether it wrote.
func (c *Controller) ensureAttachment(ctx context.Context, network *samplecrdv1.Network, desired *nadv1.NetworkAttachmentDefinition) (bool, error) {
	logger := klog.FromContext(ctx)
	client := c.nadclientset.K8sCniCncfIoV1().NetworkAttachmentDefinitions(desired.Namespace)

	current, err := c.currentAttachment(ctx, network, desired.Name)
	if apierrors.IsNotFound(err) {
		var created *nadv1.NetworkAttachmentDefinition
		created, err = client.Create(ctx, desired, metav1.CreateOptions{FieldManager: controllerAgentName})
		if err == nil {
			c.expectations.wroteAttachment(cache.MetaObjectToName(network), created)
			logger.V(2).Info("Created NetworkAttachmentDefinition", "attachment", klog.KObj(desired))
			return true, storedAsWritten(created, desired)
		}
		if !apierrors.IsAlreadyExists(err) {
			return false, classifyWrite(fmt.Errorf("creating NetworkAttachmentDefinition %s: %w", klog.KObj(desired), err))
		}
		// Not in the cache but on the server: one without the managed-by
		// label, or a cache that lags. Look at the real one.
		current, err = client.Get(ctx, desired.Name, metav1.GetOptions{})
	}
	if err != nil {
		return false, fmt.Errorf("getting NetworkAttachmentDefinition %s: %w", klog.KObj(desired), err)
	}
	if !metav1.IsControlledBy(current, network) {
		return false, errNotControlled
	}
	if !attachmentDrifted(current, desired) {
		return false, nil
	}

	patch, err := repairPatch(current.ResourceVersion, desired)
	if err != nil {
		return false, err
	}
	written, err := client.Patch(ctx, desired.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: controllerAgentName})
	if err != nil {
		return false, classifyWrite(fmt.Errorf("updating NetworkAttachmentDefinition %s: %w", klog.KObj(desired), err))
	}
	c.expectations.wroteAttachment(cache.MetaObjectToName(network), written)
	logger.V(2).Info("Repaired drifted NetworkAttachmentDefinition", "attachment", klog.KObj(desired))
	return true, storedAsWritten(written, desired)
}

// attachmentRepair is the merge patch that puts back what the controller
// owns of an attachment: its spec and the managed-by label. It names the
// resourceVersion the drift was seen at, so that it fails with a conflict,
// rather than overwrite, if the attachment changed since. Being a patch, it
// leaves alone what the cache does not hold (other labels, annotations).
type attachmentRepair struct {
	Metadata struct {
		ResourceVersion string            `json:"resourceVersion"`
		Labels          map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec nadv1.NetworkAttachmentDefinitionSpec `json:"spec"`
}

// repairPatch returns the attachmentRepair for an attachment seen at
// resourceVersion rv.
func repairPatch(rv string, desired *nadv1.NetworkAttachmentDefinition) ([]byte, error) {
	var p attachmentRepair
	p.Metadata.ResourceVersion = rv
	p.Metadata.Labels = map[string]string{managedByLabel: managedByValue}
	p.Spec = desired.Spec
	return json.Marshal(p)
}

// storedAsWritten fails, as a refused write, when the API server stored a
// spec other than the one written: a mutating admission webhook rewrote it.
// Every repair would then succeed and be undone again, a hot loop that
// resets its own backoff; reporting it as a lasting refusal stops the loop
// (the key backs off) and tells the user what is going on.
func storedAsWritten(stored, desired *nadv1.NetworkAttachmentDefinition) error {
	if stored.Spec == desired.Spec {
		return nil
	}
	return refusedError{fmt.Errorf("the API server stored NetworkAttachmentDefinition %s with another spec.config than the controller wrote; a mutating admission webhook probably rewrites it", klog.KObj(desired))}
}

// removeAttachment deletes the Network's attachment if the Network controls
// it, so that no new pod attaches to a range the Network no longer holds.
// Pods already attached keep their interfaces: runtimes tear them down
// from their own cached configuration. It reports whether it deleted.
func (c *Controller) removeAttachment(ctx context.Context, network *samplecrdv1.Network) (bool, error) {
	current, err := c.knownAttachment(network)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil || !metav1.IsControlledBy(current, network) {
		return false, err
	}
	// The precondition makes sure that what is deleted is the object just
	// seen to be this Network's, not one that replaced it since.
	err = c.nadclientset.K8sCniCncfIoV1().NetworkAttachmentDefinitions(network.Namespace).Delete(ctx, network.Name,
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &current.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("deleting NetworkAttachmentDefinition %s: %w", klog.KObj(current), err)
	}
	c.expectations.deletedAttachment(cache.MetaObjectToName(network), current.UID)
	klog.FromContext(ctx).V(2).Info("Removed NetworkAttachmentDefinition", "attachment", klog.KObj(current))
	return true, nil
}

// attachmentServes reports whether the Network's cached attachment, if it
// controls one, hands out addresses from subnet.
func (c *Controller) attachmentServes(network *samplecrdv1.Network, subnet netip.Prefix) bool {
	served, ok := c.servedRange(network)
	return ok && served == subnet
}

// servedRange returns the range that the attachment the Network controls
// hands out addresses from; ok is false when the Network controls none or
// its configuration names no range.
func (c *Controller) servedRange(network *samplecrdv1.Network) (served netip.Prefix, ok bool) {
	current, err := c.knownAttachment(network)
	if err != nil || !metav1.IsControlledBy(current, network) {
		return netip.Prefix{}, false
	}
	served, err = cni.Subnet([]byte(current.Spec.Config))
	return served, err == nil
}

// knownAttachment returns the attachment named like the Network from the
// cache, or as the controller last wrote it while the cache does not show
// that write yet (expectations.go). Never mutate it.
func (c *Controller) knownAttachment(network *samplecrdv1.Network) (*nadv1.NetworkAttachmentDefinition, error) {
	cached, err := c.attachmentsLister.NetworkAttachmentDefinitions(network.Namespace).Get(network.Name)
	return c.expectations.attachment(cache.MetaObjectToName(network), cached, err)
}

// currentAttachment returns the Network's attachment as knownAttachment
// does. When the last sync found a foreign one, which the label-filtered
// cache cannot see, it asks the API server instead: a read, rather than a
// create that would fail again.
func (c *Controller) currentAttachment(ctx context.Context, network *samplecrdv1.Network, name string) (*nadv1.NetworkAttachmentDefinition, error) {
	current, err := c.knownAttachment(network)
	if !apierrors.IsNotFound(err) || !inAttachmentConflict(network) {
		return current, err
	}
	return c.nadclientset.K8sCniCncfIoV1().NetworkAttachmentDefinitions(network.Namespace).Get(ctx, name, metav1.GetOptions{})
}

// inAttachmentConflict reports whether the Network's status says a foreign
// attachment holds its name.
func inAttachmentConflict(network *samplecrdv1.Network) bool {
	ready := meta.FindStatusCondition(network.Status.Conditions, samplecrdv1.ConditionReady)
	return ready != nil && ready.Reason == samplecrdv1.ReasonAttachmentConflict
}

// attachmentDrifted reports whether a controlled attachment differs from
// what the controller wants in the parts it owns: the spec, which it owns
// entirely, and the managed-by label. Other labels and annotations are left
// to whoever set them.
func attachmentDrifted(current, desired *nadv1.NetworkAttachmentDefinition) bool {
	return current.Spec != desired.Spec || current.Labels[managedByLabel] != managedByValue
}

// classifyWrite marks the errors of a refused write as lasting: the API
// server understood the request and said no (forbidden, invalid, quota or
// an admission webhook's denial), as opposed to being away or busy.
func classifyWrite(err error) error {
	switch {
	case apierrors.IsForbidden(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err),
		apierrors.IsRequestEntityTooLargeError(err), apierrors.IsMethodNotSupported(err):
		return refusedError{err}
	}
	return err
}

// selectManagedAttachments restricts the attachment informer to the
// attachments this controller manages, so its cache does not hold every
// NetworkAttachmentDefinition in the cluster.
func selectManagedAttachments(options *metav1.ListOptions) {
	options.LabelSelector = managedByLabel + "=" + managedByValue
}

// serverMessage is what the API server said about a refused request (for
// example which quota was exceeded, or a webhook's reason), for users to
// read in the condition and Event.
func serverMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}
