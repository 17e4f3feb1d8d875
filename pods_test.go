package main

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/podrefs"
)

// newPod returns a pod of namespace/name in phase whose networks
// annotation is networks and network-status annotation status (either
// empty: absent), resourceVersion 1.
func newPod(namespace, name string, phase corev1.PodPhase, networks, status string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace, Name: name, UID: types.UID(namespace + "-" + name + "-uid"), ResourceVersion: "1",
			Annotations: map[string]string{},
		},
		Spec:   corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status: corev1.PodStatus{Phase: phase},
	}
	if networks != "" {
		p.Annotations[podrefs.NetworksAnnotation] = networks
	}
	if status != "" {
		p.Annotations[podrefs.NetworkStatusAnnotation] = status
	}
	return p
}

// attachedTo is a network-status annotation listing the cluster network
// and, as Multus writes it, the Network key on net1.
func attachedTo(key string) string {
	return `[{"name":"cluster","interface":"eth0","ips":["198.19.0.5"],"default":true},` +
		`{"name":"` + key + `","interface":"net1","ips":["198.18.0.5"]}]`
}

// cached returns what the pod cache keeps of pod.
func cached(t *testing.T, pod *corev1.Pod) *podrefs.Pod {
	t.Helper()
	p, err := podrefs.Transform(pod)
	if err != nil {
		t.Fatal(err)
	}
	return p.(*podrefs.Pod)
}

// changed returns a copy of pod with the next resourceVersion, edited by
// edit.
func changed(pod *corev1.Pod, edit func(*corev1.Pod)) *corev1.Pod {
	pod = pod.DeepCopy()
	pod.ResourceVersion = "2"
	edit(pod)
	return pod
}

func TestPodEventHandlers(t *testing.T) {
	blue := newNetwork("default", "blue", "198.18.0.0/24", "198.18.0.1", 0)
	green := newNetwork("default", "green", "198.18.1.0/24", "198.18.1.1", 0)
	red := newNetwork("net", "red", "198.18.2.0/24", "198.18.2.1", 0)

	web := newPod("default", "web", corev1.PodRunning, "blue", attachedTo("default/blue"))
	jsonForm := newPod("apps", "job", corev1.PodPending, `[{"name":"red","namespace":"net","interface":"net1"}]`, "")
	foreign := newPod("default", "other", corev1.PodRunning, "someone-elses-nad", "")

	tests := []struct {
		name string
		fire func(t *testing.T, c *Controller)
		want []string
	}{
		{
			name: "an added pod queues the Networks it refers to (comma form)",
			fire: func(t *testing.T, c *Controller) { c.addPod(cached(t, web)) },
			want: []string{"default/blue"},
		},
		{
			name: "an added pod in another namespace queues the Network its JSON form names",
			fire: func(t *testing.T, c *Controller) { c.addPod(cached(t, jsonForm)) },
			want: []string{"net/red"},
		},
		{
			name: "a pod referring to several Networks queues each once",
			fire: func(t *testing.T, c *Controller) {
				c.addPod(cached(t, newPod("default", "multi", corev1.PodRunning, "blue, green, blue@net2, net/red", attachedTo("default/blue"))))
			},
			want: []string{"default/blue", "default/green", "net/red"},
		},
		{
			name: "a pod referring to an attachment that is no Network queues nothing",
			fire: func(t *testing.T, c *Controller) { c.addPod(cached(t, foreign)) },
		},
		{
			name: "a resync update (same resourceVersion) queues nothing",
			fire: func(t *testing.T, c *Controller) { c.updatePod(cached(t, web), cached(t, web)) },
		},
		{
			name: "an update that changes nothing the cache keeps (labels, conditions) queues nothing",
			fire: func(t *testing.T, c *Controller) {
				c.updatePod(cached(t, web), cached(t, changed(web, func(p *corev1.Pod) {
					p.Labels = map[string]string{"ready": "yes"}
					p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
				})))
			},
		},
		{
			name: "a pod that finished queues the Networks it released",
			fire: func(t *testing.T, c *Controller) {
				c.updatePod(cached(t, web), cached(t, changed(web, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })))
			},
			want: []string{"default/blue"},
		},
		{
			name: "an annotation edited from one Network to another queues both",
			fire: func(t *testing.T, c *Controller) {
				before := newPod("default", "web", corev1.PodPending, "blue", "")
				c.updatePod(cached(t, before), cached(t, changed(before, func(p *corev1.Pod) {
					p.Annotations[podrefs.NetworksAnnotation] = "green"
				})))
			},
			want: []string{"default/blue", "default/green"},
		},
		{
			name: "Multus reporting an attachment queues the Network",
			fire: func(t *testing.T, c *Controller) {
				before := newPod("net", "db", corev1.PodPending, "red", "")
				c.updatePod(cached(t, before), cached(t, changed(before, func(p *corev1.Pod) {
					p.Annotations[podrefs.NetworkStatusAnnotation] = attachedTo("net/red")
				})))
			},
			want: []string{"net/red"},
		},
		{
			name: "a deleted pod queues the Networks it held",
			fire: func(t *testing.T, c *Controller) { c.deletePod(cached(t, web)) },
			want: []string{"default/blue"},
		},
		{
			name: "a deleted pod that had finished queues the Networks it was attached to",
			fire: func(t *testing.T, c *Controller) {
				c.deletePod(cached(t, newPod("default", "done", corev1.PodFailed, "", attachedTo("default/green"))))
			},
			want: []string{"default/green"},
		},
		{
			name: "a tombstone is unwrapped like a deleted pod",
			fire: func(t *testing.T, c *Controller) {
				c.deletePod(cache.DeletedFinalStateUnknown{Key: "apps/job", Obj: cached(t, jsonForm)})
			},
			want: []string{"net/red"},
		},
		{
			name: "a tombstone holding something else is ignored",
			fire: func(t *testing.T, c *Controller) {
				c.deletePod(cache.DeletedFinalStateUnknown{Key: "x/y", Obj: "junk"})
			},
		},
		{
			name: "an object the transform did not make is ignored",
			fire: func(t *testing.T, c *Controller) { c.addPod(web) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue, green, red}})
			tc.fire(t, f.controller)
			if got := queued(f.controller); !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
}
