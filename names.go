package main

// controllerAgentName is the component name on Events and the field manager
// on writes, so users can tell this controller's doing from anyone else's.
const controllerAgentName = "network-controller"

// Labels the controller puts on the NetworkAttachmentDefinitions it manages.
// The attachment informer watches only objects with
// managedByLabel=managedByValue, so the cache never holds the cluster's
// other attachments.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedByValue = controllerAgentName
)
