// Package apiserved follows whether the API server serves a resource that a
// controller cannot work without but does not install itself, such as a
// CustomResourceDefinition that another project ships.
//
// Without such a resource a controller can do nothing right: its writes
// fail, and it would report every object it owns as refused while the cause
// is the cluster's. An API watches discovery (which every authenticated
// client may read; watching the CRD would need RBAC on
// CustomResourceDefinitions), says once in the log when the resource is
// missing, is not Ready meanwhile, and lets workers Wait until it is served.
// Nothing needs a restart when it is served (again): Watch calls start the
// first time and back after every loss.
//
// The resource counts as served while discovery lists it with the verb
// create: the API server lists the resource of a CRD being deleted without
// it, and refuses creates, while it deletes the custom resources.
//
// An API server that does not answer says nothing about the resource, and
// neither does a 404 from one that is not ready yet (a restarting server
// answers 404 for custom resources until it has loaded their definitions):
// the API waits for it (pkg/serverhealth).
package apiserved
