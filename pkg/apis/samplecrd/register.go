// Package samplecrd holds the API group name shared by every version of the
// Network API, so that the group is spelled in exactly one place.
package samplecrd

// GroupName is the API group of the Network custom resource. Groups under
// k8s.io need the api-approved.kubernetes.io annotation on their CRD.
const GroupName = "samplecrd.k8s.io"
