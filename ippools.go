package main

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/apiserved"
	"github.com/samplecrd/network-controller/pkg/cni"
	"github.com/samplecrd/network-controller/pkg/netspec"
	"github.com/samplecrd/network-controller/pkg/usage"
)

// defaultWhereaboutsNamespace is where whereabouts keeps its IPPools
// unless told otherwise: the namespace of the context of the kubeconfig
// its configuration names, and kube-system when that context has none.
const defaultWhereaboutsNamespace = metav1.NamespaceSystem

// msgIPPoolsMissing is what the log says, once, while the API server does
// not serve whereabouts' IPPools.
const msgIPPoolsMissing = "The API server does not serve whereabouts' IPPools: Macvlan Networks report no addresses until whereabouts' CRDs are installed"

// ipPools is the controller's view of whereabouts' IPPools, in the one
// namespace whereabouts keeps them in, for the address usage of Macvlan
// Networks (usage.go). A cluster with Bridge Networks only has no
// whereabouts and no IPPool CRD: the controller runs as well without it,
// and its Macvlan Networks, if any, report no addresses. So the informer
// starts only once API discovery lists the resource (follow), without the
// controller waiting for it; until its cache has synced, usage leaves the
// addresses a status holds as they are.
type ipPools struct {
	informer cache.SharedIndexInformer
	// synced reports whether the cache holds every pool: false until the
	// informer has started and listed them.
	synced func() bool
	// namespace is where the pools are.
	namespace string
}

// newIPPools returns the IPPools of namespace through a dynamic informer
// on client (no whereabouts client is linked), whose cache keeps each pool
// as usage.TransformIPPool makes it. It is not started.
func newIPPools(client dynamic.Interface, namespace string, resync time.Duration) (*ipPools, error) {
	informer := dynamicinformer.NewFilteredDynamicInformer(client, usage.IPPoolResource, namespace, resync, cache.Indexers{}, nil).Informer()
	if err := informer.SetTransform(usage.TransformIPPool); err != nil {
		return nil, err
	}
	return &ipPools{informer: informer, synced: informer.HasSynced, namespace: namespace}, nil
}

// pool returns the cached pool of that name, or nil.
func (p *ipPools) pool(name string) *usage.IPPool {
	obj, ok, err := p.informer.GetIndexer().GetByKey(p.namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	pool, _ := usage.IPPoolFromCache(obj)
	return pool
}

// ready reports whether the cache can be counted on: a nil ipPools (the
// controller was built without one) never is.
func (p *ipPools) ready() bool { return p != nil && p.synced() }

// ipPoolsAPI is how the controller follows whereabouts' IPPool API
// (pkg/apiserved): looking at discovery every period, and needing it only
// for the addresses of Macvlan Networks.
func ipPoolsAPI(period time.Duration) apiserved.Config {
	return apiserved.Config{
		GroupVersion: usage.IPPoolResource.GroupVersion(),
		Resource:     usage.IPPoolResource.Resource,
		Kinds:        "whereabouts IPPools",
		CRD:          usage.IPPoolResource.GroupResource().String(),
		Hint:         "install whereabouts",
		Missing:      msgIPPoolsMissing,
		Period:       period,
		Optional:     true,
	}
}

// follow starts the informer, until ctx ends, once api says the IPPools
// are served, and calls synced when its cache has synced, and again
// whenever the API is served again after a loss. While the API is gone the
// informer's reflector retries with its own backoff, and the cache keeps
// the last pools it saw.
func (p *ipPools) follow(ctx context.Context, api *apiserved.API, synced func()) {
	api.Watch(ctx, func() {
		go p.informer.RunWithContext(ctx)
		go func() {
			if cache.WaitForCacheSync(ctx.Done(), p.informer.HasSynced) {
				synced()
			}
		}()
	}, synced)
}

// poolIndex indexes the Network cache by the name of the whereabouts
// IPPool that holds a Macvlan Network's addresses (usage.PoolName), so
// that a pool's events find their Network without a walk of the cache.
const poolIndex = "ippool"

// poolIndexFunc indexes a Macvlan Network whose spec.cidr is a CIDR under
// its pool's name; other Networks under nothing.
func poolIndexFunc(obj interface{}) ([]string, error) {
	n, ok := macvlanNetwork(obj)
	if !ok {
		return nil, nil
	}
	return []string{usage.PoolName(n)}, nil
}

// macvlanNetwork returns what usage.PoolName reads of a cached Macvlan
// Network: its identity and subnet. ok is false for anything else.
func macvlanNetwork(obj interface{}) (n cni.Network, ok bool) {
	network, isNetwork := obj.(*samplecrdv1.Network)
	if !isNetwork || network.Spec.Mode != samplecrdv1.NetworkModeMacvlan {
		return cni.Network{}, false
	}
	subnet, valid := netspec.ParseCIDR(network.Spec.CIDR)
	if !valid {
		return cni.Network{}, false
	}
	return cni.Network{Namespace: network.Namespace, Name: network.Name, Mode: network.Spec.Mode, Subnet: subnet}, true
}

// addIPPoolHandlers has a pool's events queue the Networks it belongs to,
// and, once the cache has synced, every Macvlan Network: those whose pool
// does not exist yet get their addresses too.
func (c *Controller) addIPPoolHandlers(p *ipPools) error {
	_, err := p.informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj interface{}, _ bool) { c.enqueuePoolNetworks(obj) },
		UpdateFunc: func(oldObj, newObj interface{}) {
			// Resyncs replay the cache with the same resourceVersion.
			o, _ := usage.IPPoolFromCache(oldObj)
			if n, ok := usage.IPPoolFromCache(newObj); !ok || o == nil || o.ResourceVersion != n.ResourceVersion {
				c.enqueuePoolNetworks(newObj)
			}
		},
		DeleteFunc: c.enqueuePoolNetworks,
	})
	return err
}

// enqueuePoolNetworks queues the Networks whose addresses a pool holds.
func (c *Controller) enqueuePoolNetworks(obj interface{}) {
	pool, ok := usage.IPPoolFromCache(obj)
	if !ok {
		utilruntime.HandleError(errUnexpectedObject(obj))
		return
	}
	networks, err := c.networksIndexer.ByIndex(poolIndex, pool.Name)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, n := range networks {
		c.enqueueNetwork(n)
	}
}

// enqueueMacvlanNetworks queues every Macvlan Network, when the IPPool
// cache has first synced: until then their usage left addresses alone.
func (c *Controller) enqueueMacvlanNetworks() {
	for _, n := range c.networksIndexer.List() {
		if _, ok := macvlanNetwork(n); ok {
			c.enqueueNetwork(n)
		}
	}
}
