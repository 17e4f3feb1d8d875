package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// absentNode is the node the benchmark's pods are bound to: none exists,
// and nothing runs them. envtest has no kube-controller-manager whose
// garbage collector would delete pods bound to a node that does not exist.
const absentNode = "bench-no-such-node"

// attachPods creates perNetwork pods for each of the first n Networks of
// set, as API objects that Multus would have attached: each asks for its
// Network (k8s.v1.cni.cncf.io/networks) and network-status lists the
// cluster network on eth0 and its Network on net1, with addresses, as
// Multus writes it. They are bound to absentNode, and stay Pending.
func attachPods(b *testing.B, set *networkSet, n, perNetwork int) {
	b.Helper()
	kube, _, _ := clients(b)
	ctx := context.Background()
	// envtest's API server runs without the ServiceAccount admission
	// plugin: the pods need no ServiceAccount.
	start := time.Now()
	parallel(b, n*perNetwork, func(i int) error {
		network := set.network(i / perNetwork)
		_, err := kube.CoreV1().Pods(network.Namespace).Create(ctx, benchPod(b, network.Namespace, network.Name, network.Spec.Gateway, i), metav1.CreateOptions{})
		return err
	})
	b.Logf("created %d pods in %v", n*perNetwork, time.Since(start).Round(time.Millisecond))
}

// benchPod is the i-th pod, attached to the Network name in namespace
// whose gateway is gateway (x.y.z.1: the pod gets x.y.z.(10+i%200)).
func benchPod(b *testing.B, namespace, name, gateway string, i int) *corev1.Pod {
	b.Helper()
	ip := gateway[:len(gateway)-1] + fmt.Sprint(10+i%200)
	status, err := json.Marshal([]map[string]any{
		{"name": "cluster", "interface": "eth0", "ips": []string{fmt.Sprintf("198.18.%d.%d", 128+i/65536%64, i%65536/256)}, "default": true},
		{"name": namespace + "/" + name, "interface": "net1", "ips": []string{ip}, "mac": "02:00:00:00:00:01"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:   fmt.Sprintf("pod-%06d", i),
			Labels: map[string]string{"app": name},
			Annotations: map[string]string{
				"k8s.v1.cni.cncf.io/networks":       name,
				"k8s.v1.cni.cncf.io/network-status": string(status),
			},
		},
		Spec: corev1.PodSpec{
			NodeName:   absentNode,
			Containers: []corev1.Container{{Name: "app", Image: "localhost/app:1.0"}},
		},
	}
}

// deletePods deletes every pod in the set's namespaces.
func (s *networkSet) deletePods(b *testing.B) {
	b.Helper()
	kube, _, _ := clients(b)
	zero := int64(0)
	for _, ns := range s.namespaces {
		err := kube.CoreV1().Pods(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
	}
}
