// Package podrefs reads what a pod says about Networks, and keeps only
// that in the controller's pod cache.
//
// It exists for in-use protection and usage (issue 22): a Network may go
// only when no pod that has, or may still get, a sandbox refers to it, and
// its status counts the pods attached to it. Two annotations say so:
//
//   - k8s.v1.cni.cncf.io/networks, what a pod asks Multus for
//     (ParseNetworks), in either of Multus' forms: the comma list
//     ("name", "namespace/name", "name@ifname", "namespace/name@ifname")
//     or a JSON list of network selection elements.
//   - k8s.v1.cni.cncf.io/network-status, what Multus reports it attached
//     (ParseNetworkStatus).
//
// # Malformed annotations
//
// ParseNetworks refuses exactly what keeps Multus from attaching the pod
// to anything: in the comma form, Multus' own rules (one '/' and one '@' at
// most, lower-case label characters, an interface name of at most 15 bytes
// without white space); in the JSON form, text that is not a list of
// objects whose name, namespace and interface fields are strings; in both,
// a name or namespace that no object can have (Multus' parser lets those
// through, then fails the pod when it looks the attachment up). Multus
// gives such a pod no sandbox, so the controller counts no reference from
// it: it holds nothing by its annotation, and Pod.Problem says why. Once
// someone fixes the annotation, the pod update re-indexes it before
// Multus, on the kubelet's next sandbox attempt, can attach it. Fields
// that do not name a Network (ips, mac, default-route...) are not
// checked: a pod Multus refuses for one of them is still counted, which
// can only hold a Network longer, never release one under a running pod.
//
// A pod whose annotation was edited after Multus attached it keeps its
// interfaces, so a pod holds the Networks network-status lists it on as
// well as those it refers to (Pod.Held).
//
// # The cache
//
// Transform turns each *corev1.Pod into a *Pod, so that the controller
// can watch every pod of a large cluster: about 500 bytes a pod on one
// Network with one address (BenchmarkTransform), where the bare struct of
// a *corev1.Pod is 1,240 bytes before anything it points to. A *Pod keeps
// the namespace, name, UID, resourceVersion and deletionTimestamp in
// ObjectMeta, the phase, the referenced keys joined by commas and
// interned (the replicas of one workload share them), the attachments
// with their interface and IPs, and a parse problem if any. Indexers
// index the cache by the Networks a pod holds and by those it is attached
// to. A cache of *Pod has no typed lister: read it through the informer's
// indexer and FromCache.
package podrefs
