package main

import (
	"unique"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
)

// The informer caches hold every Network and every managed attachment for
// as long as the controller runs, so what they keep of each object is most
// of the controller's memory. The transforms below keep only what the
// controller reads. What they drop is the bulk of an object as the API
// server sends it: managed fields (a few hundred bytes per writer),
// kubectl's last-applied-configuration annotation (the whole manifest
// again), and labels and annotations that others set. Finalizers are kept:
// in-use protection (protection.go) adds and removes its own with a patch
// that must carry the others unchanged.
//
// The cached objects are never written back whole: status goes through the
// status subresource, which ignores metadata, and attachments are repaired
// with a patch of the parts the controller owns, so nothing dropped here is
// ever lost on the server.
//
// What is kept is also shared where many objects hold the same value: the
// strings that repeat across objects (namespaces, modes and uplinks,
// condition types, statuses and reasons, owner kinds) are interned, every
// managed attachment points at one label map and one true, and a string that
// repeats within an object (a Network's attachment name, an attachment's
// owner name: both are the object's own name) is kept once. That is safe
// because nothing ever mutates a cached object (DeepCopy copies them apart).

// networkTransform keeps of a cached Network what syncs, overlap
// resolution and Events read: its identity, age, generation, deletion
// mark, finalizers, spec and status. The spec and status are kept whole, so that
// fields added to the API are seen without a change here.
func networkTransform(obj interface{}) (interface{}, error) {
	n, ok := obj.(*samplecrdv1.Network)
	if !ok {
		return obj, nil
	}
	slim := &samplecrdv1.Network{
		TypeMeta: n.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              n.Name,
			Namespace:         intern(n.Namespace),
			UID:               n.UID,
			ResourceVersion:   n.ResourceVersion,
			Generation:        n.Generation,
			CreationTimestamp: n.CreationTimestamp,
			DeletionTimestamp: n.DeletionTimestamp,
			Finalizers:        slimFinalizers(n.Finalizers),
		},
		Spec:   n.Spec,
		Status: n.Status,
	}
	slim.Spec.Mode, slim.Spec.Uplink = samplecrdv1.NetworkMode(intern(string(n.Spec.Mode))), intern(n.Spec.Uplink)
	slim.Status.AttachmentName = shareWith(n.Status.AttachmentName, slim.Name)
	for i := range slim.Status.Conditions {
		c := &slim.Status.Conditions[i]
		c.Type, c.Status, c.Reason = intern(c.Type), metav1.ConditionStatus(intern(string(c.Status))), intern(c.Reason)
	}
	return slim, nil
}

// attachmentTransform keeps of a cached NetworkAttachmentDefinition what
// drift detection compares and what tells whose it is: its identity, the
// managed-by label, its owner references and its spec.
func attachmentTransform(obj interface{}) (interface{}, error) {
	nad, ok := obj.(*nadv1.NetworkAttachmentDefinition)
	if !ok {
		return obj, nil
	}
	slim := &nadv1.NetworkAttachmentDefinition{
		TypeMeta: nad.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:            nad.Name,
			Namespace:       intern(nad.Namespace),
			UID:             nad.UID,
			ResourceVersion: nad.ResourceVersion,
			OwnerReferences: nad.OwnerReferences,
		},
		Spec: nad.Spec,
	}
	for i := range slim.OwnerReferences {
		ref := &slim.OwnerReferences[i]
		ref.APIVersion, ref.Kind, ref.Name = intern(ref.APIVersion), intern(ref.Kind), shareWith(ref.Name, slim.Name)
		ref.Controller, ref.BlockOwnerDeletion = sharedBool(ref.Controller), sharedBool(ref.BlockOwnerDeletion)
	}
	switch v, ok := nad.Labels[managedByLabel]; {
	case ok && v == managedByValue:
		slim.Labels = managedLabels
	case ok:
		slim.Labels = map[string]string{managedByLabel: v}
	}
	return slim, nil
}

// slimAttachment is an attachment the controller wrote, as the cache would
// keep it, sharing nothing with written: what the write expectations hold
// until the cache shows the write.
func slimAttachment(written *nadv1.NetworkAttachmentDefinition) *nadv1.NetworkAttachmentDefinition {
	slim, _ := attachmentTransform(written.DeepCopy())
	return slim.(*nadv1.NetworkAttachmentDefinition)
}

// slimFinalizers returns a Network's finalizers as the cache keeps them:
// the one list shared by every Network whose only finalizer is the
// controller's own (nearly all of them), otherwise interned.
func slimFinalizers(finalizers []string) []string {
	if len(finalizers) == 1 && finalizers[0] == samplecrdv1.FinalizerInUseProtection {
		return protectedOnly
	}
	out := make([]string, len(finalizers))
	for i, f := range finalizers {
		out[i] = intern(f)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// protectedOnly is the finalizer list of every cached Network that carries
// only the controller's own.
var protectedOnly = []string{samplecrdv1.FinalizerInUseProtection}

// managedLabels is the label map of every cached managed attachment.
var managedLabels = map[string]string{managedByLabel: managedByValue}

// intern returns the one copy of s that every cached object shares.
func intern(s string) string { return unique.Make(s).Value() }

// shareWith returns kept when s equals it, so that an object holding the
// same string in two fields keeps one copy; otherwise s.
func shareWith(s, kept string) string {
	if s == kept {
		return kept
	}
	return s
}

// shared booleans for owner references; see sharedBool.
var sharedTrue, sharedFalse = true, false

// sharedBool returns a pointer to a shared bool of the same value as *b,
// or nil for nil.
func sharedBool(b *bool) *bool {
	switch {
	case b == nil:
		return nil
	case *b:
		return &sharedTrue
	default:
		return &sharedFalse
	}
}
