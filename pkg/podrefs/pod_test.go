package podrefs

import (
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// pod returns a pod in namespace "pods" as the API server sends one, with
// the fields the transform must drop filled in too.
func pod(name string, phase corev1.PodPhase, networks, status string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "pods", Name: name, UID: types.UID("uid-" + name), ResourceVersion: "42",
			Labels:          map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-1"}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubelet"}},
			Annotations:     map[string]string{"other": "kept by nobody"},
		},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status: corev1.PodStatus{
			Phase:      phase,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			PodIPs:     []corev1.PodIP{{IP: "10.244.1.5"}},
		},
	}
	if networks != "" {
		p.Annotations[NetworksAnnotation] = networks
	}
	if status != "" {
		p.Annotations[NetworkStatusAnnotation] = status
	}
	return p
}

func transform(t testing.TB, p *corev1.Pod) *Pod {
	t.Helper()
	out, err := Transform(p)
	if err != nil {
		t.Fatalf("Transform: %v", err)
	}
	return out.(*Pod)
}

const blueStatus = `[{"name":"kindnet","interface":"eth0","ips":["10.244.1.5"],"default":true},` +
	`{"name":"net/blue","interface":"net1","ips":["198.18.0.5"],"mac":"02:00:00:00:00:01"}]`

func TestTransformKeepsOnlyWhatProtectionAndUsageRead(t *testing.T) {
	deleted := metav1.Now()
	in := pod("web-0", corev1.PodRunning, "net/blue@net1, red", blueStatus)
	in.DeletionTimestamp = &deleted
	got := transform(t, in)
	want := &Pod{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "pods", Name: "web-0", UID: in.UID, ResourceVersion: "42", DeletionTimestamp: &deleted},
		Phase:       corev1.PodRunning,
		Attachments: []Attachment{{Network: "net/blue", Interface: "net1", IPs: []netip.Addr{netip.MustParseAddr("198.18.0.5")}}},
		references:  "net/blue,pods/red",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Transform kept\n%+v\nwant\n%+v", got, want)
	}
	if refs := got.References(); !slices.Equal(refs, []string{"net/blue", "pods/red"}) {
		t.Fatalf("References() = %q", refs)
	}
}

func TestTransformKeepsParseProblems(t *testing.T) {
	got := transform(t, pod("web-0", corev1.PodPending, "Blue", "not json"))
	if got.References() != nil || got.Attachments != nil {
		t.Fatalf("malformed annotations refer to %q, attach %+v; want nothing", got.References(), got.Attachments)
	}
	for _, part := range []string{NetworksAnnotation + `: item 1 "Blue"`, NetworkStatusAnnotation + ": not a JSON list"} {
		if err := got.Err(); err == nil || !strings.Contains(err.Error(), part) {
			t.Errorf("Err() = %v; want it to say %q", err, part)
		}
	}
	if err := transform(t, pod("web-0", corev1.PodPending, "blue", "")).Err(); err != nil {
		t.Errorf("Err() of well-formed annotations = %v", err)
	}
}

// The informer may hand the transform what it already transformed, and
// tombstones; neither changes.
func TestTransformIsIdempotentAndPassesOthersThrough(t *testing.T) {
	once := transform(t, pod("web-0", corev1.PodRunning, "blue", blueStatus))
	twice, err := Transform(once)
	if err != nil || twice != any(once) {
		t.Fatalf("Transform(*Pod) = %v, %v; want the same *Pod", twice, err)
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "pods/web-0", Obj: once}
	if got, err := Transform(tomb); err != nil || got != any(tomb) {
		t.Fatalf("Transform(tombstone) = %v, %v", got, err)
	}
	if p, ok := FromCache(tomb); !ok || p != once {
		t.Fatalf("FromCache(tombstone) = %v, %v; want the Pod it carries", p, ok)
	}
	if p, ok := FromCache(once); !ok || p != once {
		t.Fatalf("FromCache(*Pod) = %v, %v", p, ok)
	}
	if _, ok := FromCache(&corev1.Pod{}); ok {
		t.Fatalf("FromCache(*corev1.Pod) is not a cached Pod")
	}
}

// Pods of one workload share one copy of their references and namespace.
func TestTransformSharesRepeatedStrings(t *testing.T) {
	a := transform(t, pod("web-0", corev1.PodRunning, "net/blue, red", ""))
	b := transform(t, pod("web-1", corev1.PodRunning, strings.Clone("net/blue, red"), ""))
	if unsafeData(a.references) != unsafeData(b.references) || unsafeData(a.Namespace) != unsafeData(b.Namespace) {
		t.Fatalf("two pods with equal annotations keep two copies of their references or namespace")
	}
}

func TestHolds(t *testing.T) {
	deleted := metav1.Now()
	tests := []struct {
		name    string
		phase   corev1.PodPhase
		deleted bool
		want    bool
	}{
		{"a pending pod may still get a sandbox", corev1.PodPending, false, true},
		{"a running pod has one", corev1.PodRunning, false, true},
		{"a pod in an unknown phase may have one", corev1.PodUnknown, false, true},
		{"a pod without a phase yet may get one", "", false, true},
		{"a running pod being deleted holds until it is gone", corev1.PodRunning, true, true},
		{"a succeeded pod has none and never gets one", corev1.PodSucceeded, false, false},
		{"a failed pod has none and never gets one", corev1.PodFailed, false, false},
		{"a failed pod being deleted holds nothing", corev1.PodFailed, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := pod("web-0", tt.phase, "blue", "")
			if tt.deleted {
				in.DeletionTimestamp = &deleted
			}
			p := transform(t, in)
			if got := p.Holds(); got != tt.want {
				t.Fatalf("Holds() = %v, want %v", got, tt.want)
			}
			if held := p.Held(); (len(held) > 0) != tt.want {
				t.Fatalf("Held() = %q while Holds() = %v", held, tt.want)
			}
		})
	}
}

func TestHeldIsReferencesAndAttachments(t *testing.T) {
	tests := []struct {
		name             string
		networks, status string
		want             []string
	}{
		{"what it refers to", "blue, net/red", "", []string{"pods/blue", "net/red"}},
		{"what it is attached to after its annotation was edited away", "", blueStatus, []string{"net/blue"}},
		{"both, each once", "net/blue, green", blueStatus, []string{"net/blue", "pods/green"}},
		{"attachments even when the annotation is malformed now", "Blue", blueStatus, []string{"net/blue"}},
		{"nothing for a pod on no secondary network", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transform(t, pod("web-0", corev1.PodRunning, tt.networks, tt.status)).Held(); !slices.Equal(got, tt.want) {
				t.Fatalf("Held() = %q, want %q", got, tt.want)
			}
		})
	}
}

// The indexes, in a real indexer, answer the controller's two questions.
func TestIndexers(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, Indexers())
	two := `[{"name":"net/blue","interface":"net1"},{"name":"net/blue","interface":"net2"}]`
	for _, p := range []*corev1.Pod{
		pod("asks", corev1.PodPending, "net/blue", ""),
		pod("runs", corev1.PodRunning, "net/blue", blueStatus),
		pod("twice", corev1.PodRunning, "net/blue@net1,net/blue@net2", two),
		pod("done", corev1.PodSucceeded, "net/blue", blueStatus),
		pod("edited", corev1.PodRunning, "red", blueStatus),
		pod("other", corev1.PodRunning, "red", ""),
	} {
		if err := idx.Add(transform(t, p)); err != nil {
			t.Fatal(err)
		}
	}
	names := func(index, key string) []string {
		objs, err := idx.ByIndex(index, key)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range objs {
			out = append(out, o.(*Pod).Name)
		}
		sort.Strings(out)
		return out
	}
	if got, want := names(IndexHeld, "net/blue"), []string{"asks", "edited", "runs", "twice"}; !slices.Equal(got, want) {
		t.Errorf("pods holding net/blue = %q, want %q", got, want)
	}
	if got, want := names(IndexAttached, "net/blue"), []string{"edited", "runs", "twice"}; !slices.Equal(got, want) {
		t.Errorf("pods attached to net/blue = %q, want %q (a pod on two interfaces counts once)", got, want)
	}
	if got, want := names(IndexHeld, "pods/red"), []string{"edited", "other"}; !slices.Equal(got, want) {
		t.Errorf("pods holding pods/red = %q, want %q", got, want)
	}
	// A pod that finishes leaves both indexes.
	if err := idx.Update(transform(t, pod("runs", corev1.PodFailed, "net/blue", blueStatus))); err != nil {
		t.Fatal(err)
	}
	if got := names(IndexAttached, "net/blue"); slices.Contains(got, "runs") {
		t.Errorf("a failed pod is still counted attached: %q", got)
	}
}

func TestDeepCopySharesNothingMutable(t *testing.T) {
	deleted := metav1.Now()
	in := pod("web-0", corev1.PodRunning, "blue", blueStatus)
	in.DeletionTimestamp = &deleted
	orig := transform(t, in)
	c := orig.DeepCopy()
	if !reflect.DeepEqual(c, orig) {
		t.Fatalf("DeepCopy() = %+v, want %+v", c, orig)
	}
	c.Attachments[0].IPs[0] = netip.MustParseAddr("198.18.9.9")
	c.Attachments[0].Network = "x/y"
	c.DeletionTimestamp.Time = c.DeletionTimestamp.Add(1)
	if orig.Attachments[0].IPs[0].String() != "198.18.0.5" || orig.Attachments[0].Network != "net/blue" || !orig.DeletionTimestamp.Equal(&deleted) {
		t.Fatalf("changing the copy changed the cached Pod: %+v", orig)
	}
	if obj := orig.DeepCopyObject(); !reflect.DeepEqual(obj, orig) {
		t.Fatalf("DeepCopyObject() = %+v", obj)
	}
}

// BenchmarkTransform measures the transform and, as "bytes/pod", what the
// cache keeps of each pod: the heap still in use after 10,000 transformed
// pods of 100 workloads (each pod on one Network with one address, the
// replicas of a workload asking for the same Networks) are kept, less the
// heap before, per pod. The API objects themselves are dropped.
func BenchmarkTransform(b *testing.B) {
	const pods = 10000
	make1 := func(i int) *corev1.Pod {
		p := pod(fmt.Sprintf("web-%d-%d", i%100, i), corev1.PodRunning, fmt.Sprintf("net/blue-%d@net1", i%100),
			fmt.Sprintf(`[{"name":"kindnet","interface":"eth0","ips":["10.244.%d.%d"],"default":true},`+
				`{"name":"net/blue-%d","interface":"net1","ips":["198.18.%d.%d"],"mac":"02:00:00:00:00:01","dns":{}}]`,
				i/250, i%250, i%100, i/250, i%250))
		p.UID = types.UID(fmt.Sprintf("4c7e2c6a-0000-4000-8000-%012d", i))
		p.ResourceVersion = fmt.Sprint(100000 + i)
		return p
	}
	b.Run("retained", func(b *testing.B) {
		var perPod float64
		for range b.N {
			kept := make([]any, pods)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := range kept {
				kept[i], _ = Transform(make1(i))
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perPod = float64(after.HeapAlloc-before.HeapAlloc) / pods
			runtime.KeepAlive(kept)
		}
		b.ReportMetric(perPod, "bytes/pod")
	})
	b.Run("time", func(b *testing.B) {
		in := make1(7)
		b.ReportAllocs()
		for range b.N {
			_, _ = Transform(in)
		}
	})
}

// unsafeData is where s's bytes are, to tell shared strings from equal ones.
func unsafeData(s string) *byte { return unsafe.StringData(s) }
