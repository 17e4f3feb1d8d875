package main

import samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"

// Event reasons and messages. Reasons are stable identifiers users filter
// on; messages say what happened and, for warnings, what to do about it.
const (
	// SuccessSynced is used when a sync changed something and the Network is
	// now Ready.
	SuccessSynced = samplecrdv1.ReasonSynced
	// MessageSynced is the message of a SuccessSynced Event.
	MessageSynced = "Network synced: NetworkAttachmentDefinition %q holds the CNI configuration for %s"
	// MessageReady is the message of the Ready=True condition.
	MessageReady = "NetworkAttachmentDefinition %q holds the CNI configuration; pods attach with the annotation k8s.v1.cni.cncf.io/networks: %s"

	// ErrResourceExists is used when the attachment the Network would own
	// exists and belongs to someone else.
	ErrResourceExists = "ErrResourceExists"
	// MessageResourceExists is the message of an ErrResourceExists Event and
	// of the AttachmentConflict condition.
	MessageResourceExists = "NetworkAttachmentDefinition %q already exists and is not controlled by this Network; it was left untouched. Delete or rename that NetworkAttachmentDefinition, or give the Network another name"

	// AttachmentRemoved is used when the controller deletes a Network's own
	// attachment because the Network no longer holds the range it serves.
	AttachmentRemoved = "AttachmentRemoved"
	// MessageAttachmentRemoved is the message of an AttachmentRemoved Event.
	MessageAttachmentRemoved = "Removed NetworkAttachmentDefinition %q: this Network no longer holds the range it served, so no new pod may attach to it. Pods already attached keep their interface until they are deleted"

	// MessageAttachmentRefused is the message of an AttachmentRefused Event
	// and condition.
	MessageAttachmentRefused = "The API server refused to write NetworkAttachmentDefinition %q: %v. Fix the cause (resource quota, an admission policy or webhook, RBAC); the controller retries with backoff"

	// MessageInvalidSpec is the message of an InvalidSpec Event and condition.
	MessageInvalidSpec = "Invalid spec: %s. Fix the spec; the controller retries when it changes"

	// MessageCIDRConflict is the message of a CIDRConflict Event and condition.
	MessageCIDRConflict = "spec.cidr %s overlaps %s of Network %s, which is older and keeps it. Choose a CIDR that does not overlap, or delete Network %s"

	// MessageInUse is the message of the Deleting condition (reason InUse)
	// of a Network that waits for the pods referring to it, and of the
	// Warning Event recorded when it starts waiting.
	MessageInUse = "Deletion waits: in use by %s. The Network and its NetworkAttachmentDefinition stay until no pod that is running or may still start refers to it; delete those pods (or scale their workloads down), and it goes"

	// ProtectionReleased is used when the controller lets a Network still
	// in use go because the Network CRD is being deleted (an uninstall).
	ProtectionReleased = "ProtectionReleased"
	// MessageProtectionReleasedForUninstall is the message of a
	// ProtectionReleased Event.
	MessageProtectionReleasedForUninstall = "CustomResourceDefinition %s is being deleted (an uninstall): released the in-use protection of this Network although it is in use by %s; their interfaces stay until those pods are deleted"

	// MessageReservedRange is the message of a ReservedRange Event and
	// condition.
	MessageReservedRange = "spec.cidr %s overlaps %s, which the cluster reserves for itself (the controller's --reserved-cidrs: service, pod or node ranges); choose a CIDR outside it"

	// AddressesExhausted is used when a Macvlan Network runs out of
	// addresses for pods; the AddressesExhausted condition turned True.
	AddressesExhausted = samplecrdv1.ConditionAddressesExhausted
	// MessageNoFreeAddresses is the message of the AddressesExhausted=True
	// condition and Event: total, then leaked.
	MessageNoFreeAddresses = "No address for pods is free (%d in all, %d of them leaked: held for pods that no longer exist): the next pod to attach fails. Release the leaked ones (see the README), delete pods, or move to a Network with a larger range"
	// MessageHighWater is the message of AddressesExhausted=False at the
	// high-water mark: allocated, total, free, leaked.
	MessageHighWater = "%d of %d addresses for pods are allocated, only %d free (%d leaked: held for pods that no longer exist)"
	// MessageAddressesAvailable is the message of AddressesExhausted=False
	// below it: allocated, total, leaked.
	MessageAddressesAvailable = "%d of %d addresses for pods are allocated (%d leaked: held for pods that no longer exist)"
)
