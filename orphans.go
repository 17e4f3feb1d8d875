package main

import (
	"context"
	"fmt"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Orphaned attachments. `kubectl delete network X --cascade=orphan`, which
// anyone who may delete Networks can run, makes the garbage collector strip
// the owner reference from X's attachment and leave it: a live
// configuration for a range that no Network holds any more, which the
// controller would never look at again, and whose range may be given to
// another namespace. So an attachment that carries the managed-by label
// and that no existing Network controls is removed. Refusing orphan
// deletion at admission instead would also need the garbage collector's
// own orphaning (a finalizer on the Network) and owner-reference edits
// refused, and every such policy can be left out of a cluster by mistake;
// removing the orphan needs nothing but the controller.
//
// Only the label and the controller reference decide: an attachment
// without the label, or controlled by anything but a Network of this API
// group, is someone else's and is never touched.

// orphanCandidate reports whether the cache shows nad as a managed
// attachment that no Network controls: it has the managed-by label and
// either no controller reference, or one to a Network of this group that
// the cache does not hold with that UID.
func (c *Controller) orphanCandidate(nad *nadv1.NetworkAttachmentDefinition) bool {
	if nad.Labels[managedByLabel] != managedByValue {
		return false
	}
	owner := metav1.GetControllerOf(nad)
	if owner == nil {
		return true
	}
	if owner.Kind != "Network" || !isSamplecrdGroup(owner.APIVersion) {
		return false
	}
	network, err := c.networksLister.Networks(nad.Namespace).Get(owner.Name)
	return err != nil || network.UID != owner.UID
}

// removeOrphanedAttachment removes the attachment named key if it is an
// orphan. A controller reference is checked against the API server before
// the delete, so that a Network the cache has not seen yet never loses its
// attachment, and the delete is conditional on the UID and resourceVersion
// seen, so that it removes nothing that replaced or changed it since.
func (c *Controller) removeOrphanedAttachment(ctx context.Context, key cache.ObjectName) error {
	cached, err := c.attachmentsLister.NetworkAttachmentDefinitions(key.Namespace).Get(key.Name)
	nad, err := c.expectations.attachment(key, cached, err)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !c.orphanCandidate(nad) {
		return nil
	}
	owner := metav1.GetControllerOf(nad)
	if owner != nil {
		network, err := c.networkclientset.SamplecrdV1().Networks(key.Namespace).Get(ctx, owner.Name, metav1.GetOptions{})
		switch {
		case err == nil && network.UID == owner.UID:
			// The cache is behind; its event will come.
			return nil
		case err != nil && !apierrors.IsNotFound(err):
			return fmt.Errorf("getting Network %s, the controller of NetworkAttachmentDefinition %s: %w",
				klog.KRef(key.Namespace, owner.Name), klog.KObj(nad), err)
		}
	}
	err = c.nadclientset.K8sCniCncfIoV1().NetworkAttachmentDefinitions(key.Namespace).Delete(ctx, key.Name,
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &nad.UID, ResourceVersion: &nad.ResourceVersion}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if apierrors.IsConflict(err) {
		// It changed since the cache saw it; its update event queues the
		// key again and the next sync looks at it anew.
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting orphaned NetworkAttachmentDefinition %s: %w", klog.KObj(nad), err)
	}
	c.expectations.deletedAttachment(key, nad.UID)
	orphansRemoved.Inc()
	former := "none"
	if owner != nil {
		former = fmt.Sprintf("%s %s (UID %s)", owner.Kind, owner.Name, owner.UID)
	}
	// No Network to put an Event on: the log and the metric say it.
	klog.FromContext(ctx).Info("Removed a managed NetworkAttachmentDefinition that no Network controls: it would serve its range with no Network holding it",
		"attachment", klog.KObj(nad), "controller", former)
	return nil
}
