// Package v1 is version v1 of the samplecrd.k8s.io API: the Network custom
// resource, which asks the controller for a CNI network configuration with a
// given subnet and gateway.
//
// +k8s:deepcopy-gen=package
// +groupName=samplecrd.k8s.io
package v1
