package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The Network API's condition vocabulary. Reasons are CamelCase, as
// metav1.Condition requires; users match on them in scripts and alerts.
const (
	// ConditionReady reports whether the Network's NetworkAttachmentDefinition
	// matches its spec, so that pods can attach to it.
	ConditionReady = "Ready"

	// ReasonSynced: the NetworkAttachmentDefinition exists and carries the
	// rendered configuration.
	ReasonSynced = "Synced"
	// ReasonInvalidSpec: the spec breaks a rule the API server enforces for new
	// objects; older objects can predate the schema, so the controller checks too.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonCIDRConflict: an older Network claims an overlapping CIDR.
	ReasonCIDRConflict = "CIDRConflict"
	// ReasonAttachmentConflict: a NetworkAttachmentDefinition with the
	// Network's name exists and is not controlled by this Network, so the
	// controller leaves it alone.
	ReasonAttachmentConflict = "AttachmentConflict"
	// ReasonAttachmentRefused: the API server refused to write the
	// NetworkAttachmentDefinition for a reason that lasts (quota, an
	// admission policy or webhook, RBAC); the controller keeps retrying with
	// backoff.
	ReasonAttachmentRefused = "AttachmentRefused"
	// ReasonNotPermitted: the Network's namespace may not use spec.cidr (its
	// networks.samplecrd.k8s.io/allowed-cidrs annotation, set by a cluster
	// administrator, does not allow it). Such a Network claims nothing.
	ReasonNotPermitted = "NotPermitted"
	// ReasonReservedRange: spec.cidr overlaps a range the cluster reserves
	// (the controller's --reserved-cidrs). Such a Network claims nothing.
	ReasonReservedRange = "ReservedRange"
)

// In-use protection: a Network that pods refer to is kept, attachment and
// all, until none does (see the README).
const (
	// FinalizerInUseProtection is the finalizer the controller puts on
	// every Network and removes, once the Network is being deleted, when no
	// pod that has or may still get a sandbox refers to it, or when the
	// Network CRD itself is being deleted (an uninstall).
	FinalizerInUseProtection = GroupName + "/in-use-protection"

	// ConditionDeleting is set, True, on a Network that is being deleted
	// and waits for the pods that refer to it. It is a condition of its own
	// rather than a reason of Ready: while it waits the Network is still
	// Ready (its attachment stays and serves the pods on it, and Ready's
	// printer column keeps saying so), and a scripted `kubectl wait
	// --for=condition=Ready` is not misled.
	ConditionDeleting = "Deleting"
	// ReasonInUse: pods that have, or may still get, a sandbox refer to the
	// Network; the message counts them and names a few.
	ReasonInUse = "InUse"
)

// Network asks for a secondary network with a subnet and a gateway. The
// controller realises it as a Multus NetworkAttachmentDefinition
// (k8s.cni.cncf.io/v1) of the same name, which pods attach to, and reports
// the outcome in the Ready condition.
//
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=net,categories=all
// +kubebuilder:subresource:status
// +kubebuilder:metadata:annotations="api-approved.kubernetes.io=unapproved, example API for the network-controller project, not part of Kubernetes"
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=`.spec.cidr`
// +kubebuilder:printcolumn:name="Gateway",type=string,JSONPath=`.spec.gateway`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Mode",type=string,priority=1,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Uplink",type=string,priority=1,JSONPath=`.spec.uplink`
// +kubebuilder:printcolumn:name="Reason",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Attachment",type=string,priority=1,JSONPath=`.status.attachmentName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Network struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the user asks for.
	// +required
	Spec NetworkSpec `json:"spec"`
	// status is what the controller last observed and did.
	// +optional
	Status NetworkStatus `json:"status,omitempty"`
}

// NetworkSpec is the desired network. Its validation rules are written twice
// on purpose: as CEL here, so the API server refuses bad objects with a
// readable message, and in Go (pkg/netspec), for objects stored before the
// schema had them. The messages are the same text; a test compares them.
//
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.cidr) || !isIP(self.gateway) || ip(self.gateway).family() == cidr(self.cidr).ip().family()",message="must be of the same IP family as spec.cidr",fieldPath=".gateway",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.cidr) || !isIP(self.gateway) || ip(self.gateway).family() != cidr(self.cidr).ip().family() || cidr(self.cidr).containsIP(self.gateway)",message="must be an address inside spec.cidr",fieldPath=".gateway",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.cidr) || !isIP(self.gateway) || !cidr(self.cidr).containsIP(self.gateway) || !(ip(self.gateway) == cidr(self.cidr).masked().ip())",message="must not be the network address of spec.cidr",fieldPath=".gateway",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.cidr) || !isIP(self.gateway) || ip(self.gateway).family() != 4 || !cidr(self.cidr).containsIP(self.gateway) || cidr(self.cidr).prefixLength() >= 31 || (int(self.gateway.split('.')[0]) * 16777216 + int(self.gateway.split('.')[1]) * 65536 + int(self.gateway.split('.')[2]) * 256 + int(self.gateway.split('.')[3]) + 1) % [4294967296, 2147483648, 1073741824, 536870912, 268435456, 134217728, 67108864, 33554432, 16777216, 8388608, 4194304, 2097152, 1048576, 524288, 262144, 131072, 65536, 32768, 16384, 8192, 4096, 2048, 1024, 512, 256, 128, 64, 32, 16, 8, 4][cidr(self.cidr).prefixLength()] != 0",message="must not be the broadcast address of spec.cidr",fieldPath=".gateway",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'Macvlan' || has(self.uplink)",message="is required when spec.mode is Macvlan: it names the node interface the Network rides on, such as eth1",fieldPath=".uplink",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'Bridge' || !has(self.uplink)",message="must not be set when spec.mode is Bridge: a Bridge Network makes its own bridge on each node",fieldPath=".uplink",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.mtu) || !isCIDR(self.cidr) || cidr(self.cidr).ip().family() != 6 || self.mtu >= 1280",message="must be at least 1280 in an IPv6 Network, the smallest MTU IPv6 allows",fieldPath=".mtu",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.excludeRanges) || !isCIDR(self.cidr) || self.excludeRanges.all(r, !isCIDR(r) || cidr(r).ip().family() == cidr(self.cidr).ip().family())",message="must all be of the same IP family as spec.cidr",fieldPath=".excludeRanges",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.excludeRanges) || !isCIDR(self.cidr) || self.excludeRanges.all(r, !isCIDR(r) || cidr(r).ip().family() != cidr(self.cidr).ip().family() || cidr(self.cidr).masked().containsCIDR(cidr(r).masked()))",message="must all be inside spec.cidr",fieldPath=".excludeRanges",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.excludeRanges) || !isCIDR(self.cidr) || self.excludeRanges.all(r, !isCIDR(r) || cidr(r).ip().family() != cidr(self.cidr).ip().family() || !cidr(self.cidr).masked().containsCIDR(cidr(r).masked()) || cidr(r).prefixLength() > cidr(self.cidr).prefixLength())",message="must each be smaller than spec.cidr: excluding all of it leaves no address for pods",fieldPath=".excludeRanges",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.mode) || oldSelf.mode != 'Macvlan' || self.cidr == oldSelf.cidr",message="is immutable in a Macvlan Network: pods on every node may hold addresses from it; create a new Network instead",fieldPath=".cidr",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.mode) || oldSelf.mode != 'Macvlan' || self.gateway == oldSelf.gateway",message="is immutable in a Macvlan Network: a pod may already hold the new address; create a new Network instead",fieldPath=".gateway",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.mode) || oldSelf.mode != 'Macvlan' || (has(self.excludeRanges) ? self.excludeRanges : []) == (has(oldSelf.excludeRanges) ? oldSelf.excludeRanges : [])",message="is immutable in a Macvlan Network: pods may already hold addresses in a new range; create a new Network instead",fieldPath=".excludeRanges",reason=FieldValueForbidden
type NetworkSpec struct {
	// cidr is the subnet, IPv4 or IPv6, in canonical form: 192.168.0.0/16,
	// not 192.168.0.1/16, and no longer than a /30 (IPv4) or a /126 (IPv6).
	// Networks may not overlap; the oldest one wins.
	// +required
	// +kubebuilder:validation:MaxLength=49
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="must be an IPv4 or IPv6 CIDR such as 192.168.0.0/16 or fd00:10::/64"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || string(cidr(self).masked()) == self",message="must be in canonical form with all host bits zero, e.g. 192.168.0.0/16 rather than 192.168.0.1/16"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self).prefixLength() <= (cidr(self).ip().family() == 4 ? 30 : 126)",message="must leave room for pod addresses: at most a /30 for IPv4 or a /126 for IPv6"
	CIDR string `json:"cidr"`

	// gateway is the gateway address: inside cidr, of the same family, and
	// neither its network address nor (IPv4 shorter than /31) its broadcast
	// address.
	// +required
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be an IPv4 or IPv6 address such as 192.168.0.1"
	Gateway string `json:"gateway"`

	// mode says how the Network reaches its pods, and so whether it spans
	// nodes. Bridge (the default) makes a bridge on each node with
	// node-local addresses: pods on different nodes neither reach each
	// other nor get addresses unique across nodes. Macvlan gives each pod a
	// macvlan interface on the node interface spec.uplink, with addresses
	// unique across the cluster: pods on different nodes reach each other
	// through the network the uplinks are on. Immutable: pods are attached
	// to what it made.
	// +optional
	// +kubebuilder:default=Bridge
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable: create a new Network to change it",reason=FieldValueForbidden
	Mode NetworkMode `json:"mode,omitempty"`

	// uplink is the node interface a Macvlan Network rides on, such as
	// eth1: the same name on every node the Network's pods run on, a
	// Linux interface name (1 to 15 bytes, no '/', ':' or whitespace, not
	// "." or ".."). Required for Macvlan, refused for Bridge. Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="size(bytes(self)) >= 1 && size(bytes(self)) <= 15 && self != '.' && self != '..' && !self.matches('[/:\\x00\\t\\n\\v\\f\\r ]')",message="must be a Linux interface name: 1 to 15 bytes, no '/', ':' or whitespace, and not '.' or '..'"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="is immutable: create a new Network to change it",reason=FieldValueForbidden
	Uplink string `json:"uplink,omitempty"`

	// mtu is the MTU of the pods' interfaces on the Network (and, in Bridge
	// mode, of the node's bridge): 68 to 65535, at least 1280 for IPv6.
	// Unset, the plugins take the kernel's default (1500) or, for Macvlan,
	// the uplink's. A Macvlan MTU above the uplink's fails at attach time.
	// Changes apply to pods attached afterwards.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 68 && self <= 65535",message="must be between 68 and 65535, the MTUs Linux accepts"
	MTU *int32 `json:"mtu,omitempty"`

	// excludeRanges are CIDRs inside cidr whose addresses are never given
	// to a pod, for hosts and routers that share the Network (the gateway
	// is never given to a pod either, excluded or not). At most 16, each
	// in canonical form and smaller than cidr. Immutable in Macvlan mode.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=49
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self)",message="must be an IPv4 or IPv6 CIDR such as 198.18.0.128/25 or fd00:10::/120"
	// +kubebuilder:validation:items:XValidation:rule="!isCIDR(self) || string(cidr(self).masked()) == self",message="must be in canonical form with all host bits zero, e.g. 198.18.0.128/25 rather than 198.18.0.129/25"
	ExcludeRanges []string `json:"excludeRanges,omitempty"`
}

// NetworkMode is how a Network reaches the pods attached to it. It is an
// enum so that modes can be added (IPVLAN, say) without changing the shape
// of the API; a mode is added only once the tests can run it.
// +kubebuilder:validation:Enum=Bridge;Macvlan
type NetworkMode string

const (
	// NetworkModeBridge: the reference bridge plugin with host-local IPAM.
	// Node-local: each node has its own bridge and its own addresses.
	NetworkModeBridge NetworkMode = "Bridge"
	// NetworkModeMacvlan: the reference macvlan plugin (bridge mode) on
	// spec.uplink with whereabouts IPAM, whose allocations are cluster-wide
	// objects in the API server. Spans the nodes whose uplinks share a
	// layer-2 network.
	NetworkModeMacvlan NetworkMode = "Macvlan"
)

// NetworkStatus is what the controller observed the last time it synced.
type NetworkStatus struct {
	// observedGeneration is the metadata.generation this status describes;
	// when it lags, the controller has not caught up with the spec yet.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions report the Network's state; Ready is always present once
	// the controller has seen the Network.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// attachmentName names the NetworkAttachmentDefinition, in the Network's
	// namespace, that holds the CNI configuration and that pods name in their
	// k8s.v1.cni.cncf.io/networks annotation; empty while there is none.
	// +optional
	AttachmentName string `json:"attachmentName,omitempty"`
}

// NetworkList is a list of Networks, as returned by a List call.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type NetworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	// items are the Networks.
	Items []Network `json:"items"`
}
