package podrefs

import (
	"errors"
	"slices"
	"strings"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// Pod is what the pod cache keeps of a pod; Transform makes it of a
// *corev1.Pod. Nothing mutates a cached Pod: DeepCopy one to change it.
type Pod struct {
	// ObjectMeta holds only the namespace, name, UID, resourceVersion and
	// deletionTimestamp.
	metav1.ObjectMeta
	// Phase is status.phase.
	Phase corev1.PodPhase
	// Attachments are the secondary networks network-status lists.
	Attachments []Attachment
	// Problem says why an annotation counted for nothing; empty when
	// both were well-formed or absent.
	Problem string

	// references are the keys the networks annotation refers to, joined
	// by commas and interned: the pods of one workload share one copy.
	references string
}

// Transform is the pod informer's transform: it turns a *corev1.Pod into
// a *Pod and passes anything else (a *Pod already, a tombstone) through.
// Parse errors never fail it; they are kept in Problem.
func Transform(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	p := &Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         intern(pod.Namespace),
			Name:              pod.Name,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Phase: corev1.PodPhase(intern(string(pod.Status.Phase))),
	}
	var problems []string
	refs, err := ParseNetworks(pod.Annotations[NetworksAnnotation], pod.Namespace)
	if err != nil {
		problems = append(problems, NetworksAnnotation+": "+err.Error())
	}
	p.references = intern(strings.Join(refs, ","))
	atts, err := ParseNetworkStatus(pod.Annotations[NetworkStatusAnnotation], pod.Namespace)
	if err != nil {
		problems = append(problems, NetworkStatusAnnotation+": "+err.Error())
	}
	for i := range atts {
		atts[i].Network, atts[i].Interface = intern(atts[i].Network), intern(atts[i].Interface)
	}
	p.Attachments = slices.Clip(atts)
	p.Problem = strings.Join(problems, "; ")
	return p, nil
}

// FromCache returns the Pod an informer handed over: the object itself or
// the last state a tombstone carries. ok is false for anything else.
func FromCache(obj any) (p *Pod, ok bool) {
	if t, isTombstone := obj.(cache.DeletedFinalStateUnknown); isTombstone {
		obj = t.Obj
	}
	p, ok = obj.(*Pod)
	return p, ok
}

// References returns the keys of the Networks the pod's networks
// annotation refers to, in its order, each once.
func (p *Pod) References() []string {
	if p.references == "" {
		return nil
	}
	return strings.Split(p.references, ",")
}

// Attached returns the keys of the Networks network-status lists the pod
// on, each once.
func (p *Pod) Attached() []string {
	var keys []string
	for _, a := range p.Attachments {
		if !slices.Contains(keys, a.Network) {
			keys = append(keys, a.Network)
		}
	}
	return keys
}

// Holds reports whether the pod holds the Networks it refers to and is
// attached to: whether it has, or may still get, a sandbox. A pod that
// has finished (Succeeded or Failed) has none and never gets one again; any
// other pod may, a pod being deleted too until it is gone, since its
// sandbox is torn down only then.
func (p *Pod) Holds() bool {
	return p.Phase != corev1.PodSucceeded && p.Phase != corev1.PodFailed
}

// Held returns the keys of the Networks the pod holds: those it refers to
// and those it is attached to (an edit of the annotation does not detach a
// running pod), each once; none unless it Holds.
func (p *Pod) Held() []string {
	if !p.Holds() {
		return nil
	}
	keys := p.References()
	for _, k := range p.Attached() {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// Err returns Problem as an error, nil when there is none.
func (p *Pod) Err() error {
	if p.Problem == "" {
		return nil
	}
	return errors.New(p.Problem)
}

// Indexes of the pod cache: IndexHeld by the keys of the Networks a pod
// Holds, IndexAttached by those it is attached to while it Holds. The
// first answers "may this Network go?", the second "how many pods are
// attached?".
const (
	IndexHeld     = "podrefs.held"
	IndexAttached = "podrefs.attached"
)

// Indexers returns the pod cache's indexers; add them to the pod informer
// with AddIndexers before it starts.
func Indexers() cache.Indexers {
	return cache.Indexers{IndexHeld: indexHeld, IndexAttached: indexAttached}
}

func indexHeld(obj any) ([]string, error) {
	if p, ok := obj.(*Pod); ok {
		return p.Held(), nil
	}
	return nil, nil
}

func indexAttached(obj any) ([]string, error) {
	if p, ok := obj.(*Pod); ok && p.Holds() {
		return p.Attached(), nil
	}
	return nil, nil
}

// GetObjectKind makes Pod a runtime.Object; it carries no kind.
func (p *Pod) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject returns a copy of p that shares nothing mutable with it.
func (p *Pod) DeepCopyObject() runtime.Object { return p.DeepCopy() }

// DeepCopy returns a copy of p that shares nothing mutable with it.
func (p *Pod) DeepCopy() *Pod {
	if p == nil {
		return nil
	}
	c := *p
	p.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	c.Attachments = make([]Attachment, len(p.Attachments))
	for i, a := range p.Attachments {
		a.IPs = slices.Clone(a.IPs)
		c.Attachments[i] = a
	}
	if p.Attachments == nil {
		c.Attachments = nil
	}
	return &c
}

// intern returns the one copy of s that every cached Pod shares.
func intern(s string) string { return unique.Make(s).Value() }
