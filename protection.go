package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/fastjson"
	samplescheme "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned/scheme"
	"github.com/samplecrd/network-controller/pkg/podrefs"
)

// In-use protection (issue 22). Every Network carries the controller's
// finalizer, samplecrdv1.FinalizerInUseProtection. When a Network is
// deleted, the finalizer stays while any pod that has, or may still get, a
// sandbox refers to it (the pod cache's podrefs.IndexHeld): the Network
// keeps its attachment, so those pods keep working and can still be
// started, and says why it waits in its Deleting condition and one Warning
// Event. The pod events that release it (a pod finished, deleted, or
// edited to refer elsewhere) queue it again (pods.go), so waiting costs no
// polling. Once no pod holds it, the finalizer goes and so does the
// Network; the garbage collector then takes its attachment.
//
// Uninstalling must never hang on it: when the Network CRD itself is being
// deleted, every Network goes whatever refers to it. The controller
// watches its own CRD's metadata (one object: a field selector on its
// name, RBAC restricted to that name) and releases the finalizers of all
// held Networks as soon as the CRD is marked for deletion.

// crdName is the name of the Network CRD: networks.<group>.
var crdName = samplecrdv1.Resource("networks").String()

// crdResource is the resource of CustomResourceDefinitions.
var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// onlyTheNetworkCRD makes the CRD informer select the Network CRD by name:
// the controller's RBAC lets it list and watch that one alone.
func onlyTheNetworkCRD(opts *metav1.ListOptions) {
	opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", crdName).String()
}

// inUseNamesShown is how many of the pods holding a Network its Deleting
// condition names: enough to find the workload, short enough to read.
const inUseNamesShown = 3

// ensureProtected adds the finalizer to a live Network that lacks it (a
// new one, or one created before this controller protected Networks), with
// a patch of metadata.finalizers alone that carries the others unchanged
// and the cached resourceVersion, so that a finalizer someone else added
// meanwhile is never overwritten: that patch fails with a conflict and the
// sync is retried. It returns the Network the rest of the sync works on:
// the cached one, or a copy at the resourceVersion the patch wrote, so
// that the sync's status write does not conflict with its own patch. A
// Network already being deleted gets no finalizer: nothing may be added
// to it then.
func (c *Controller) ensureProtected(ctx context.Context, network *samplecrdv1.Network) (*samplecrdv1.Network, error) {
	if network.DeletionTimestamp != nil || slices.Contains(network.Finalizers, samplecrdv1.FinalizerInUseProtection) {
		return network, nil
	}
	written, err := c.patchFinalizers(ctx, network, append(slices.Clone(network.Finalizers), samplecrdv1.FinalizerInUseProtection))
	if err != nil {
		return nil, fmt.Errorf("adding finalizer %s to Network %s: %w", samplecrdv1.FinalizerInUseProtection, klog.KObj(network), err)
	}
	klog.FromContext(ctx).V(2).Info("Added the in-use protection finalizer")
	protected := network.DeepCopy()
	protected.ResourceVersion, protected.Finalizers = written.ResourceVersion, written.Finalizers
	return protected, nil
}

// syncProtection decides whether a Network being deleted may go. It reports
// whether it released the Network: then nothing else is left to do for
// it. A Network without the finalizer (it was deleted before the controller
// saw it, or someone removed the finalizer) is not the controller's to
// hold. While pods hold the Network, its Deleting condition says which,
// and its attachment is left alone.
func (c *Controller) syncProtection(ctx context.Context, network *samplecrdv1.Network) (released bool, err error) {
	if !slices.Contains(network.Finalizers, samplecrdv1.FinalizerInUseProtection) {
		return false, nil
	}
	logger := klog.FromContext(ctx)
	holders, err := c.podsHolding(cache.MetaObjectToName(network))
	if err != nil {
		return false, err
	}
	switch {
	case len(holders) == 0:
		if err := c.releaseProtection(ctx, network); err != nil {
			return false, err
		}
		logger.V(2).Info("No pod refers to the Network any more; released it")
		return true, nil
	case c.uninstalling():
		if err := c.releaseProtection(ctx, network); err != nil {
			return false, err
		}
		msg := fmt.Sprintf(MessageProtectionReleasedForUninstall, crdName, podList(holders))
		logger.Info("Network CRD is being deleted: released a Network still in use", "pods", len(holders))
		c.recorder.Event(network, corev1.EventTypeWarning, ProtectionReleased, msg)
		return true, nil
	}
	return false, c.reportInUse(ctx, network, holders)
}

// podsHolding returns the cached pods that hold the Network of key,
// sorted by namespace/name.
func (c *Controller) podsHolding(key cache.ObjectName) ([]*podrefs.Pod, error) {
	objs, err := c.podsIndexer.ByIndex(podrefs.IndexHeld, key.String())
	if err != nil {
		return nil, err
	}
	pods := make([]*podrefs.Pod, 0, len(objs))
	for _, obj := range objs {
		if p, ok := podrefs.FromCache(obj); ok {
			pods = append(pods, p)
		}
	}
	slices.SortFunc(pods, func(a, b *podrefs.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return pods, nil
}

// podList counts pods and names the first few: "2 pods: a/x, b/y" or
// "5 pods: a/v, a/w, a/x and 2 more".
func podList(pods []*podrefs.Pod) string {
	names := make([]string, 0, inUseNamesShown)
	for _, p := range pods[:min(len(pods), inUseNamesShown)] {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	list := strings.Join(names, ", ")
	if more := len(pods) - len(names); more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	noun := "pods"
	if len(pods) == 1 {
		noun = "pod"
	}
	return fmt.Sprintf("%d %s: %s", len(pods), noun, list)
}

// reportInUse sets the Deleting condition of a held Network to say which
// pods hold it, writing the status only when the message changed, and
// records one Warning Event when the Network starts waiting (not on each
// change of the count, nor after a restart of the controller).
func (c *Controller) reportInUse(ctx context.Context, network *samplecrdv1.Network, holders []*podrefs.Pod) error {
	msg := fmt.Sprintf(MessageInUse, podList(holders))
	waiting := metav1.Condition{
		Type:               samplecrdv1.ConditionDeleting,
		Status:             metav1.ConditionTrue,
		Reason:             samplecrdv1.ReasonInUse,
		Message:            msg,
		ObservedGeneration: network.Generation,
		LastTransitionTime: metav1.NewTime(c.opts.Clock.Now()),
	}
	started := meta.FindStatusCondition(network.Status.Conditions, samplecrdv1.ConditionDeleting) == nil
	updated := network.DeepCopy()
	meta.SetStatusCondition(&updated.Status.Conditions, waiting)
	// Deleting a custom resource bumps its generation; the controller has
	// seen that one, and status.observedGeneration says so.
	updated.Status.ObservedGeneration = network.Generation
	written, err := c.writeStatusIfChanged(ctx, network, updated)
	if err != nil {
		return err
	}
	if written && started {
		c.recorder.Event(network, corev1.EventTypeWarning, samplecrdv1.ReasonInUse, msg)
	}
	return nil
}

// releaseProtection removes the controller's finalizer from a Network,
// keeping any other, with the same conflict-checked patch as
// ensureProtected.
func (c *Controller) releaseProtection(ctx context.Context, network *samplecrdv1.Network) error {
	others := slices.DeleteFunc(slices.Clone(network.Finalizers), func(f string) bool {
		return f == samplecrdv1.FinalizerInUseProtection
	})
	if _, err := c.patchFinalizers(ctx, network, others); err != nil {
		return fmt.Errorf("removing finalizer %s from Network %s: %w", samplecrdv1.FinalizerInUseProtection, klog.KObj(network), err)
	}
	return nil
}

// finalizersPatch is a merge patch of a Network's finalizers, made
// conditional on its resourceVersion: a merge patch replaces the whole
// list, so it must not apply over a list that changed since it was read.
type finalizersPatch struct {
	Metadata struct {
		ResourceVersion string   `json:"resourceVersion"`
		Finalizers      []string `json:"finalizers"`
	} `json:"metadata"`
}

// patchFinalizers sets the Network's finalizers to finalizers, if it is
// still at the cached resourceVersion, and returns the metadata written.
// The write is not remembered as the controller's own (pkg/expectations),
// unlike a status write: it is the first step of a sync, not the last, and
// a cache showing it is not behind. Its echo queues nothing when the
// finalizer is all it added (updateNetwork). Like a status write, it asks
// for the metadata alone in the answer: decoding the whole Network would
// cost every new Network's first sync as much again.
func (c *Controller) patchFinalizers(ctx context.Context, network *samplecrdv1.Network, finalizers []string) (*metav1.PartialObjectMetadata, error) {
	var p finalizersPatch
	p.Metadata.ResourceVersion, p.Metadata.Finalizers = network.ResourceVersion, finalizers
	if p.Metadata.Finalizers == nil {
		p.Metadata.Finalizers = []string{}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	client := c.networkclientset.SamplecrdV1()
	opts := metav1.PatchOptions{FieldManager: controllerAgentName}
	rc, ok := client.RESTClient().(*rest.RESTClient)
	if !ok || rc == nil {
		written, err := client.Networks(network.Namespace).Patch(ctx, network.Name, types.MergePatchType, body, opts)
		if err != nil {
			return nil, err
		}
		return &metav1.PartialObjectMetadata{ObjectMeta: written.ObjectMeta}, nil
	}
	raw, err := rc.Patch(types.MergePatchType).Namespace(network.Namespace).Resource("networks").Name(network.Name).
		VersionedParams(&opts, samplescheme.ParameterCodec).
		SetHeader("Accept", fastjson.MetadataOnly).
		Body(body).Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	return fastjson.DecodeMetadata(raw)
}

// uninstalling reports whether the Network CRD is being deleted: every
// Network goes with it, and holding one would only hang the uninstall.
func (c *Controller) uninstalling() bool {
	obj, exists, err := c.crdIndexer.GetByKey(crdName)
	if err != nil || !exists {
		return false
	}
	crd, ok := obj.(metav1.Object)
	return ok && crd.GetDeletionTimestamp() != nil
}

// updateCRD queues every Network being deleted once the Network CRD is
// marked for deletion: those already waiting for pods get no event of
// their own from the uninstall (deleting a Network being deleted changes
// nothing), and must be released now.
func (c *Controller) updateCRD(oldObj, newObj interface{}) {
	oldCRD, ok1 := oldObj.(metav1.Object)
	newCRD, ok2 := newObj.(metav1.Object)
	if ok1 && ok2 && oldCRD.GetResourceVersion() == newCRD.GetResourceVersion() {
		return
	}
	c.addCRD(newObj)
}

// addCRD is updateCRD for the CRD as the informer first lists it: a
// controller started during an uninstall releases the Networks at once.
func (c *Controller) addCRD(obj interface{}) {
	crd, ok := obj.(metav1.Object)
	if !ok {
		utilruntime.HandleError(errUnexpectedObject(obj))
		return
	}
	if crd.GetName() != crdName || crd.GetDeletionTimestamp() == nil {
		return
	}
	for _, o := range c.networksIndexer.List() {
		if n, ok := o.(*samplecrdv1.Network); ok && n.DeletionTimestamp != nil {
			c.workqueue.Add(cache.MetaObjectToName(n))
		}
	}
}
