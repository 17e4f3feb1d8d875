package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	kubeinformers "k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"

	nadclientset "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned"
	nadfake "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned/fake"
	nadinformers "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/informers/externalversions"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/generated/clientset/versioned/fake"
	informers "github.com/samplecrd/network-controller/pkg/generated/informers/externalversions"
	informersv1 "github.com/samplecrd/network-controller/pkg/generated/informers/externalversions/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/overlap"
	"github.com/samplecrd/network-controller/pkg/podrefs"
	"github.com/samplecrd/network-controller/pkg/serverhealth"
)

// sharedCIDRSizes is how many Networks BenchmarkSharedCIDR puts in one
// CIDR; make bench sets it, and a plain -bench run uses the default.
var sharedCIDRSizes = flag.String("shared-cidr-sizes", "1000,4000,16000", "comma-separated numbers of Networks sharing one CIDR in BenchmarkSharedCIDR")

// sharedCIDRNetworks returns n Networks, one per tenant namespace, all with
// the same CIDR: the case where every tenant copies the same example. Their
// creation times are a fixed shuffle of their list order, four to a second
// (API server timestamps have second resolution, so bursts tie), so that a
// list, which comes sorted by namespace, meets them out of age order.
func sharedCIDRNetworks(n int, cidr, gateway string) []*samplecrdv1.Network {
	ages := rand.New(rand.NewPCG(uint64(n), 13)).Perm(n)
	networks := make([]*samplecrdv1.Network, n)
	for i := range networks {
		networks[i] = newNetwork(fmt.Sprintf("tenant-%05d", i), "net", cidr, gateway, time.Duration(ages[i]/4)*time.Second)
	}
	return networks
}

// countingQueue counts Add calls: what the handlers cost the queue even
// when it deduplicates the keys. Handlers may run on an informer's
// goroutine, hence the atomic.
type countingQueue struct {
	workqueue.TypedRateLimitingInterface[cache.ObjectName]
	adds atomic.Int64
}

func (q *countingQueue) Add(key cache.ObjectName) {
	q.adds.Add(1)
	q.TypedRateLimitingInterface.Add(key)
}

// countingIndexer counts the objects its index lookups return: the
// candidates the controller examines.
type countingIndexer struct {
	cache.Indexer
	examined atomic.Int64
}

func (i *countingIndexer) ByIndex(indexName, indexedValue string) ([]interface{}, error) {
	objs, err := i.Indexer.ByIndex(indexName, indexedValue)
	i.examined.Add(int64(len(objs)))
	return objs, err
}

// indexedController returns a controller whose Network cache holds
// networks, with its queue and index lookups counted. Nothing runs: tests
// call the handlers and findBlocker themselves.
func indexedController(tb testing.TB, ctx context.Context, networks []*samplecrdv1.Network) (*Controller, *countingQueue, *countingIndexer) {
	tb.Helper()
	kubeclient, client, nadclient := k8sfake.NewClientset(), fake.NewClientset(), nadfake.NewSimpleClientset()
	networkInformer := informers.NewSharedInformerFactory(client, 0).Samplecrd().V1().Networks()
	c, err := NewController(ctx, kubeclient, client, nadclient, fakeInformers(kubeclient, nadclient, networkInformer, nil),
		Options{ServerHealth: serverhealth.New(klog.Background())})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.events.Stop)
	tb.Cleanup(c.workqueue.ShutDown)
	for _, n := range networks {
		if err := networkInformer.Informer().GetIndexer().Add(n); err != nil {
			tb.Fatal(err)
		}
	}
	queue := &countingQueue{TypedRateLimitingInterface: c.workqueue}
	indexer := &countingIndexer{Indexer: c.networksIndexer}
	c.workqueue, c.networksIndexer = queue, indexer
	return c, queue, indexer
}

// oldestOf returns the index of the oldest of networks by the winner rule.
func oldestOf(networks []*samplecrdv1.Network) int {
	oldest := 0
	for i, n := range networks {
		if overlap.Older(claim(n), claim(networks[oldest])) {
			oldest = i
		}
	}
	return oldest
}

// claim returns a valid Network's claim.
func claim(n *samplecrdv1.Network) overlap.Claim {
	c, _ := claimOf(n)
	return c
}

// sizes parses -shared-cidr-sizes.
func sizes(b *testing.B) []int {
	var out []int
	for _, s := range strings.Split(*sharedCIDRSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			b.Fatalf("-shared-cidr-sizes: bad size %q", s)
		}
		out = append(out, n)
	}
	return out
}

// BenchmarkSharedCIDR measures the handler and index path, without an API
// server, when N Networks share 10.0.0.0/24 and all but the oldest are in
// conflict:
//
//   - initial-list: one op is the add handler called for each of the N
//     Networks with all N in the cache, as the informer's first list does
//     on startup (the handlers run behind the cache); other events wait
//     behind it;
//   - find-blocker: one op is one sync's search for the Network's blocker,
//     taken in turn for each of the N.
func BenchmarkSharedCIDR(b *testing.B) {
	// Quiet: the controller's setup logs would clutter the results.
	ctx := klog.NewContext(context.Background(), klog.Background().V(100))
	subnet := netip.MustParsePrefix("10.0.0.0/24")
	for _, n := range sizes(b) {
		networks := sharedCIDRNetworks(n, subnet.String(), "10.0.0.1")
		// One cache per N for both: filling it is not what is measured,
		// and the benchmark functions run several times to find b.N.
		c, queue, indexer := indexedController(b, ctx, networks)
		b.Run(fmt.Sprintf("initial-list/networks=%d", n), func(b *testing.B) {
			queue.adds.Store(0)
			indexer.examined.Store(0)
			for range b.N {
				for _, network := range networks {
					c.addNetwork(network, true)
				}
				b.StopTimer()
				for queue.Len() > 0 {
					key, _ := queue.Get()
					queue.Done(key)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(queue.adds.Load())/float64(b.N)/float64(n), "queue-adds/network")
			b.ReportMetric(float64(indexer.examined.Load())/float64(b.N)/float64(n), "candidates/network")
		})
		b.Run(fmt.Sprintf("find-blocker/networks=%d", n), func(b *testing.B) {
			indexer.examined.Store(0)
			oldest := oldestOf(networks)
			wrong := 0
			b.ResetTimer()
			for i := range b.N {
				if _, found := c.findBlocker(networks[i%n], subnet); found == (i%n == oldest) {
					wrong++
				}
			}
			if wrong > 0 {
				b.Fatalf("%d of %d syncs got the verdict wrong; all but the oldest have a blocker", wrong, b.N)
			}
			b.ReportMetric(float64(indexer.examined.Load())/float64(b.N), "candidates/sync")
		})
	}
}

// TestInitialListEnqueuesEachNetworkOnce states what the informer's first
// list costs when N Networks share one CIDR, whatever the order of the list
// against their ages: N queue adds, one per Network, and O(N) candidates
// examined in all. (Enqueueing every add's younger overlapping Networks
// cost about N²/2 queue adds and N² candidates.)
func TestInitialListEnqueuesEachNetworkOnce(t *testing.T) {
	const n = 2000
	for _, family := range []struct{ name, cidr string }{{"IPv4", "10.0.0.0/24"}, {"IPv6", "fd00:10::/64"}} {
		t.Run(family.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			networks := sharedCIDRNetworks(n, family.cidr, "")
			c, queue, indexer := indexedController(t, ctx, networks)
			for _, network := range networks {
				c.addNetwork(network, true)
			}
			if adds := queue.adds.Load(); adds != n {
				t.Errorf("the first list of %d Networks made %d queue adds, want one each", n, adds)
			}
			if examined := indexer.examined.Load(); examined > n {
				t.Errorf("the first list of %d Networks examined %d candidates, want O(N)", n, examined)
			}
			if queued := len(queued(c)); queued != n {
				t.Errorf("%d Networks queued after the first list, want all %d", queued, n)
			}
		})
	}
}

// TestInformerFirstListEnqueuesEachNetworkOnce runs the informer that
// NewController registers with, on a fake API server holding N Networks
// that share a CIDR: the first list must reach addNetwork as the initial
// list, so each Network is enqueued once.
func TestInformerFirstListEnqueuesEachNetworkOnce(t *testing.T) {
	const n = 500
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	var objects []runtime.Object
	for _, network := range sharedCIDRNetworks(n, "10.0.0.0/24", "10.0.0.1") {
		objects = append(objects, network)
	}
	kubeclient, client, nadclient := k8sfake.NewClientset(), fake.NewClientset(objects...), nadfake.NewSimpleClientset()
	networkInformers := informers.NewSharedInformerFactory(client, 0)
	kubeInformers := kubeinformers.NewSharedInformerFactory(kubeclient, 0)
	c, err := NewController(ctx, kubeclient, client, nadclient,
		fakeInformers(kubeclient, nadclient, networkInformers.Samplecrd().V1().Networks(), kubeInformers.Core().V1().Namespaces()),
		Options{ServerHealth: serverhealth.New(klog.Background())})
	if err != nil {
		t.Fatal(err)
	}
	queue := &countingQueue{TypedRateLimitingInterface: c.workqueue}
	indexer := &countingIndexer{Indexer: c.networksIndexer}
	c.workqueue, c.networksIndexer = queue, indexer
	t.Cleanup(func() {
		cancel()
		networkInformers.Shutdown()
		kubeInformers.Shutdown()
		c.events.Stop()
		queue.ShutDown()
	})
	networkInformers.Start(ctx.Done())
	kubeInformers.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), networkInformers.Samplecrd().V1().Networks().Informer().HasSynced) {
		t.Fatal("caches did not sync")
	}
	// Handlers run behind the cache: wait for the last add.
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return queue.Len() == n, nil
	})
	if err != nil {
		t.Fatalf("%d of %d Networks queued: %v", queue.Len(), n, err)
	}
	if adds := queue.adds.Load(); adds != n {
		t.Errorf("the first list of %d Networks made %d queue adds, want one each", n, adds)
	}
	if examined := indexer.examined.Load(); examined > n {
		t.Errorf("the first list of %d Networks examined %d candidates, want O(N)", n, examined)
	}
}

// TestIntegrationStartupWithNetworksSharingACIDR starts the controller on
// Networks that already share a CIDR, IPv4 and IPv6, so that their first
// sync comes from the informer's first list, where an add enqueues only
// its own Network: the oldest of each family must be Ready, the others in
// CIDRConflict naming it; once it is deleted, the next oldest takes over.
func TestIntegrationStartupWithNetworksSharingACIDR(t *testing.T) {
	const perFamily = 30
	e := newEnv(t)
	families := []struct{ cidr, gateway string }{{"10.80.0.0/24", "10.80.0.1"}, {"fd00:80::/64", "fd00:80::1"}}
	groups := make([][]*samplecrdv1.Network, len(families))
	for i := range perFamily {
		for f, family := range families {
			groups[f] = append(groups[f], e.create(fmt.Sprintf("shared-%d-%02d", f, i), family.cidr, family.gateway))
		}
	}
	e.startController(Options{})
	for _, group := range groups {
		e.waitForVerdicts(group)
	}
	for f, group := range groups {
		winner := group[oldestOf(group)]
		if err := e.networks.SamplecrdV1().Networks(e.namespace).Delete(e.ctx, winner.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		groups[f] = slices.DeleteFunc(group, func(n *samplecrdv1.Network) bool { return n == winner })
	}
	for _, group := range groups {
		e.waitForVerdicts(group)
	}
}

// waitForVerdicts waits until the oldest of group is Ready and every other
// member is in CIDRConflict naming it.
func (e *env) waitForVerdicts(group []*samplecrdv1.Network) {
	e.t.Helper()
	winner := group[oldestOf(group)]
	e.waitFor(fmt.Sprintf("%s Ready and %d Networks in CIDRConflict naming it", winner.Name, len(group)-1), func() (bool, string) {
		list, err := e.networks.SamplecrdV1().Networks(e.namespace).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		current := map[string]*samplecrdv1.Network{}
		for i := range list.Items {
			current[list.Items[i].Name] = &list.Items[i]
		}
		for _, member := range group {
			n := current[member.Name]
			if n == nil {
				return false, member.Name + " is gone"
			}
			c := meta.FindStatusCondition(n.Status.Conditions, samplecrdv1.ConditionReady)
			var ok bool
			if member.Name == winner.Name {
				ok = c != nil && c.Status == metav1.ConditionTrue
			} else {
				ok = c != nil && c.Reason == samplecrdv1.ReasonCIDRConflict && strings.Contains(c.Message, "of Network "+e.namespace+"/"+winner.Name+",")
			}
			if !ok {
				return false, fmt.Sprintf("%s: %+v", member.Name, c)
			}
		}
		return true, ""
	})
}

// fakeInformers are informers on factories of fake clients for a
// Controller whose tests read only its Network cache and, if namespaces is
// not nil, that Namespace informer: every other cache stays empty.
func fakeInformers(kubeclient kubernetes.Interface, nadclient nadclientset.Interface, networks informersv1.NetworkInformer, namespaces coreinformers.NamespaceInformer) Informers {
	if namespaces == nil {
		namespaces = kubeinformers.NewSharedInformerFactory(kubeclient, 0).Core().V1().Namespaces()
	}
	return Informers{
		Networks:    networks,
		Attachments: nadinformers.NewSharedInformerFactory(nadclient, 0).K8sCniCncfIo().V1().NetworkAttachmentDefinitions(),
		Namespaces:  namespaces,
		Pods:        kubeinformers.NewSharedInformerFactoryWithOptions(kubeclient, 0, kubeinformers.WithTransform(podrefs.Transform)).Core().V1().Pods(),
		CRD:         newCRDInformers(newMetadataClient()).ForResource(crdResource).Informer(),
	}
}
