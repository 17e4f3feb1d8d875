// Package usage computes how full a Network is, and when its figures may
// be written to its status.
//
// It exists because people running secondary networks cannot see how full
// one is, nor which addresses are held by pods that no longer exist
// (issue 22). For a Macvlan Network, whose addresses whereabouts hands out
// cluster-wide and records in IPPool objects, Count gives the addresses it
// has for pods, how many are allocated and how many of those are leaked;
// Level says whether it is nearly or fully exhausted. Throttle keeps the
// status writes of a busy Network to one per window. The package neither
// reads the API nor releases anything: the controller hands it the IPPools
// its informer holds and a pod lookup, and whereabouts' reconciler owns the
// leaked addresses.
//
// The controller reads IPPools with a dynamic informer (IPPoolResource),
// without linking whereabouts' client, and TransformIPPool keeps of each
// only its identity, range and, per address, the podref and interface:
// whereabouts' container IDs (64 bytes an address), managed fields and
// the map-per-entry shape of unstructured objects are dropped.
//
// # Status
//
// The controller (usage.go in the repository's root) writes these figures
// to each Network's status:
//
//	status:
//	  attachedPods: 2          # int32: pods network-status lists on the Network
//	  addresses:               # Macvlan only; absent for Bridge (per-node pools)
//	    total: 253             # int64: addresses for pods (Count's Total)
//	    allocated: 2           # int64: distinct addresses whereabouts allocated
//	    leaked: 1              # int64: of those, held for pods that do not exist
//	  conditions:
//	  - type: AddressesExhausted
//	    status: "True"         # Level Exhausted: reason NoFreeAddresses
//	    # "False" with reason HighWater at Level HighWater (≥ 90 % in use),
//	    # "False" with reason AddressesAvailable below it.
//
// attachedPods counts the pods of the pod cache's podrefs.IndexAttached
// entry for the Network: those network-status lists on it that Hold (have
// not finished). Printer columns: Pods (.status.attachedPods), and for -o
// wide Used (.status.addresses.allocated) and Total
// (.status.addresses.total). A Warning Event AddressesExhausted goes out
// when the condition turns True. The figures are written only when one
// changed, at most once per Network per window (Throttle, 5 s), or with a
// status write the sync makes anyway. Metrics stay aggregate: Networks
// exhausted, leaked addresses in all. addresses and the condition appear
// once the controller's IPPool cache has synced; a cluster without
// whereabouts' CRD has neither.
//
// attachedPods is an int32 like a Deployment's replicas: a count of pods.
// addresses.* are int64, and total saturates at 9223372036854775807
// (math.MaxInt64), documented as "at least this many". An IPv6 /64 has
// 2^64 − 2 addresses for pods, more than an int64 holds. A string
// ("18446744073709551614") or a resource.Quantity would be exact, but
// every reader would parse it before comparing, printer columns would sort
// it as text, and nobody needs the exact size of a range that no cluster
// can fill: what matters is allocated, leaked, and whether any is free,
// and those stay exact because Level and Free are computed from exact
// counts before saturating. Kubernetes itself sizes ranges this way
// (k8s.io/utils/net.RangeSize returns math.MaxInt64 for a range that
// overflows), and API conventions ask for int32/int64 over unsigned or
// arbitrary-precision fields. Readers in JavaScript lose precision above
// 2^53 either way; there too only ranges larger than any cluster fills are
// affected.
//
// A Bridge Network has a host-local allocator on each node: each node may
// hand out the whole range, and the allocations live in files on the
// nodes, so it has attachedPods but no addresses.
//
// # Leaked
//
// An allocated address is leaked when the pod its podref names does not
// exist: the controller passes Count a lookup in its pod cache. A pod
// that finished is not gone; its address is released when its sandbox is
// (CNI DEL), so it is not counted leaked while it stays. whereabouts'
// reconciler releases leaked addresses, and also an address whose pod
// exists but does not list it in network-status, which Count does not
// count: the pod may still be starting.
package usage
