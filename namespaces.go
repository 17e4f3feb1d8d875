package main

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/samplecrd/network-controller/pkg/tenancy"
)

// addNamespace queues the Networks of a namespace that appears in the
// cache: they may have been synced before it did.
func (c *Controller) addNamespace(obj interface{}) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		utilruntime.HandleError(errUnexpectedObject(obj))
		return
	}
	c.enqueueNamespace(ns.Name, false)
}

// updateNamespace re-evaluates a namespace's Networks when its allowance
// changed, and the Networks they overlap, whose verdict depends on whether
// these still claim their ranges.
func (c *Controller) updateNamespace(oldObj, newObj interface{}) {
	oldNS, ok1 := oldObj.(*corev1.Namespace)
	newNS, ok2 := newObj.(*corev1.Namespace)
	if !ok1 || !ok2 {
		utilruntime.HandleError(errUnexpectedObject(newObj))
		return
	}
	if oldNS.Annotations[tenancy.AllowedCIDRsAnnotation] == newNS.Annotations[tenancy.AllowedCIDRsAnnotation] &&
		hasAllowance(oldNS) == hasAllowance(newNS) {
		return
	}
	c.enqueueNamespace(newNS.Name, true)
}

// hasAllowance reports whether a Namespace carries the annotation at all.
func hasAllowance(ns *corev1.Namespace) bool {
	_, ok := ns.Annotations[tenancy.AllowedCIDRsAnnotation]
	return ok
}

// enqueueNamespace queues every cached Network of a namespace and, with
// overlapping, the younger Networks that overlap one of them: only those can
// have lost to a Network whose claim now comes or goes.
func (c *Controller) enqueueNamespace(namespace string, overlapping bool) {
	networks, err := c.networksLister.Networks(namespace).List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, n := range networks {
		c.enqueueNetwork(n)
		if overlapping {
			c.enqueueYoungerOverlapping(n)
		}
	}
}

// namespaceTransform keeps of a cached Namespace only its name and this
// controller's annotation: a cluster's namespaces carry labels, managed
// fields and other annotations the controller never reads.
func namespaceTransform(obj interface{}) (interface{}, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:            ns.Name,
		UID:             ns.UID,
		ResourceVersion: ns.ResourceVersion,
	}}
	if v, ok := ns.Annotations[tenancy.AllowedCIDRsAnnotation]; ok {
		slim.Annotations = map[string]string{tenancy.AllowedCIDRsAnnotation: v}
	}
	return slim, nil
}
