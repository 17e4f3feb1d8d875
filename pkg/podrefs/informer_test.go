package podrefs

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// The transform, the indexes and FromCache work in a real shared informer
// fed by a watch: pods appear indexed by the Networks they hold, leave the
// indexes when they finish, and their deletion hands the handler a Pod.
func TestInformerKeepsPodsIndexedByNetwork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Core().V1().Pods().Informer()
	if err := inf.SetTransform(Transform); err != nil {
		t.Fatal(err)
	}
	if err := inf.AddIndexers(Indexers()); err != nil {
		t.Fatal(err)
	}
	deleted := make(chan *Pod, 10)
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
		p, ok := FromCache(obj)
		if !ok {
			t.Errorf("delete handed the handler a %T", obj)
		}
		deleted <- p
	}}); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("pod informer did not sync")
	}

	pods := client.CoreV1().Pods("pods")
	for _, p := range []*corev1.Pod{
		pod("web-0", corev1.PodRunning, "net/blue", blueStatus),
		pod("web-1", corev1.PodPending, "net/blue", ""),
		pod("job-0", corev1.PodRunning, "red", ""),
	} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	holding := func(key string) []string {
		objs, err := inf.GetIndexer().ByIndex(IndexHeld, key)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range objs {
			names = append(names, o.(*Pod).Name)
		}
		sort.Strings(names)
		return names
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if err := wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(context.Context) (bool, error) { return cond(), nil }); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitFor("pods holding net/blue", func() bool { return slices.Equal(holding("net/blue"), []string{"web-0", "web-1"}) })
	waitFor("pods holding pods/red", func() bool { return slices.Equal(holding("pods/red"), []string{"job-0"}) })

	done := pod("job-0", corev1.PodSucceeded, "red", "")
	if _, err := pods.Update(ctx, done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("a finished pod releasing pods/red", func() bool { return len(holding("pods/red")) == 0 })

	if err := pods.Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-deleted:
		if p == nil || p.Name != "web-0" || !slices.Equal(p.Attached(), []string{"net/blue"}) {
			t.Fatalf("deleted pod handed over as %+v", p)
		}
	case <-ctx.Done():
		t.Fatal("no delete event")
	}
	waitFor("a deleted pod releasing net/blue", func() bool { return slices.Equal(holding("net/blue"), []string{"web-1"}) })
}
