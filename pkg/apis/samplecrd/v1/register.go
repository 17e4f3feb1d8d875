package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/samplecrd/network-controller/pkg/apis/samplecrd"
)

// SchemeGroupVersion is the group and version objects in this package are
// registered under; the generated clientset and listers refer to it.
var SchemeGroupVersion = schema.GroupVersion{Group: samplecrd.GroupName, Version: "v1"}

// Kind takes an unqualified kind and returns a group-qualified GroupKind, as
// the generated listers need for NotFound errors.
func Kind(kind string) schema.GroupKind {
	return SchemeGroupVersion.WithKind(kind).GroupKind()
}

// Resource takes an unqualified resource and returns a group-qualified
// GroupResource, as the generated listers need for NotFound errors.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

var (
	// SchemeBuilder collects the functions that add this version's types to
	// a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds this version's types to a scheme; the controller adds
	// them to client-go's scheme so that Events can reference Networks.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers Network and NetworkList with their group version.
func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&Network{},
		&NetworkList{},
	)
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
