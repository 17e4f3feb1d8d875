package main

import (
	"strconv"
	"strings"
	"testing"
)

// network is the identity this project was written with; the fixtures
// below are spelled in it.
var network = identity{
	Module: "github.com/samplecrd/network-controller", Name: "network-controller",
	Group: "samplecrd.k8s.io", Version: "v1", Kind: "Network", Plural: "networks", ShortName: "net",
}

// apiNames are what the API package of network declares.
var apiNames = []string{"Network", "NetworkSpec", "NetworkStatus", "NetworkList", "ConditionReady", "GroupName", "Resource"}

func mustComplete(t *testing.T, id identity) identity {
	t.Helper()
	id, err := complete(id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestTextRules(t *testing.T) {
	r := textRules(network, mustComplete(t, subnet), apiNames)
	tests := []struct{ name, in, want string }{
		// What names the API becomes the new API.
		{"the apiVersion", "apiVersion: samplecrd.k8s.io/v1", "apiVersion: example.com/v1alpha1"},
		{"the kind", "kind: Network", "kind: Subnet"},
		{"the kind in prose, possessive and plural", "A Network's CIDR; Networks overlap.", "A Subnet's CIDR; Subnets overlap."},
		{"the CRD's name", "crd/networks.samplecrd.k8s.io", "crd/subnets.example.com"},
		{"an annotation prefixed with plural and group", "networks.samplecrd.k8s.io/allowed-cidrs=10.0.0.0/8", "subnets.example.com/allowed-cidrs=10.0.0.0/8"},
		{"a policy name", "name: networks.samplecrd.k8s.io-allowed-cidrs", "name: subnets.example.com-allowed-cidrs"},
		{"an RBAC rule", `apiGroups: ["samplecrd.k8s.io"]` + "\n" + `resources: ["networks", "networks/status"]`, `apiGroups: ["example.com"]` + "\n" + `resources: ["subnets", "subnets/status"]`},
		{"a subresource in prose", "update on networks/finalizers.", "update on subnets/finalizers."},
		{"controller-gen's output file", `cat "${crd_tmp}/samplecrd.k8s.io_networks.yaml"`, `cat "${crd_tmp}/example.com_subnets.yaml"`},
		{"the API package path", "the types in pkg/apis/samplecrd/v1.", "the types in pkg/apis/example/v1alpha1."},
		{"the module and a package path in it", "github.com/samplecrd/network-controller/pkg/generated/listers/samplecrd/v1", "github.com/example/subnet-controller/pkg/generated/listers/example/v1alpha1"},
		{"a generated method in prose", "c.SamplecrdV1().Networks(ns) and f.Samplecrd().V1()", "c.ExampleV1alpha1().Subnets(ns) and f.Example().V1alpha1()"},
		{"generated types in prose", "a NetworkLister, NetworkInformer, NetworksGetter and NetworkSpecApplyConfiguration", "a SubnetLister, SubnetInformer, SubnetsGetter and SubnetSpecApplyConfiguration"},
		{"an API type in prose", "NetworkSpec and NetworkList, not NetworkConfigList", "SubnetSpec and SubnetList, not NetworkConfigList"},
		{"kubectl with the plural", "kubectl get networks", "kubectl get subnets"},
		{"kubectl with the singular and a name", "kubectl describe network example-network", "kubectl describe subnet example-subnet"},
		{"kubectl with kind/name", "kubectl wait network/x", "kubectl wait subnet/x"},
		{"the resource in backticks", "plural `networks`, short name `net`; `networks`, `net`", "plural `subnets`, short name `sub`; `subnets`, `sub`"},
		{"no short name but the short name", "`net1`, `net-attach-def`, net", "`net1`, `net-attach-def`, net"},
		{"the example object", "kubectl create -f artifacts/examples/example-network.yaml", "kubectl create -f artifacts/examples/example-subnet.yaml"},
		{"the project's names", "namespace: network-controller\nname: network-controller-leader-election\nimage: registry.example/network-controller:latest",
			"namespace: subnet-controller\nname: subnet-controller-leader-election\nimage: registry.example/subnet-controller:latest"},
		{"the metric names", `network_controller_syncs_total and network_controller_networks{ready="True"}`, `subnet_controller_syncs_total and subnet_controller_subnets{ready="True"}`},
		{"the workqueue's name label", `workqueue_depth{name="networks"}`, `workqueue_depth{name="subnets"}`},
		{"an environment variable", "${NETWORK_CONTROLLER_CACHE:-x}", "${SUBNET_CONTROLLER_CACHE:-x}"},

		// What only looks like it stays: Multus, CNI, longer names.
		{"Multus's kind and resource", "a NetworkAttachmentDefinition (network-attachment-definitions.k8s.cni.cncf.io)", "a NetworkAttachmentDefinition (network-attachment-definitions.k8s.cni.cncf.io)"},
		{"the pod annotation", "k8s.v1.cni.cncf.io/networks: example-network", "k8s.v1.cni.cncf.io/networks: example-subnet"},
		{"networks in CNI's sense", "a secondary network; network namespaces; the node networks (kubectl get nodes -o wide)", "a secondary network; network namespaces; the node networks (kubectl get nodes -o wide)"},
		{"kubectl with another resource", "kubectl get net-attach-def example-network", "kubectl get net-attach-def example-subnet"},
		{"a longer kind", "NetworkSet, SubNetwork, Networking", "NetworkSet, SubNetwork, Networking"},
		// A domain under the group is the group's owner's: it is renamed
		// with it. A longer label, or the group with a label after it, is
		// someone else's domain.
		{"a label key under the group", `const runLabel = "bench.samplecrd.k8s.io/run"`, `const runLabel = "bench.example.com/run"`},
		{"an annotation under the group in JSON", `{"metadata":{"annotations":{"bench.samplecrd.k8s.io/tick":"1"}}}`, `{"metadata":{"annotations":{"bench.example.com/tick":"1"}}}`},
		{"a domain several labels under the group", "a.b-c.samplecrd.k8s.io", "a.b-c.example.com"},
		{"a finalizer under the group", "finalizers: [cleanup.samplecrd.k8s.io/attachments]", "finalizers: [cleanup.example.com/attachments]"},
		{"another group under the group keeps its version", "x.samplecrd.k8s.io/v1", "x.example.com/v1"},
		{"a subdomain at the end of a sentence", "see x.samplecrd.k8s.io.", "see x.example.com."},
		{"a longer label is another domain", "mysamplecrd.k8s.io, my-samplecrd.k8s.io", "mysamplecrd.k8s.io, my-samplecrd.k8s.io"},
		{"the group with a label after it is another domain", "samplecrd.k8s.io.evil", "samplecrd.k8s.io.evil"},
		{"the group at the end of a sentence", "group samplecrd.k8s.io.", "group example.com."},
		{"a longer name", "kube-network-controller, network-controller2", "kube-network-controller, network-controller2"},
		{"another version", "samplecrd.k8s.io/v1beta1", "example.com/v1beta1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.replace(tc.in, nil); got != tc.want {
				t.Errorf("\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestTextRulesNeverRewriteTheirOwnOutput: a new name that contains an old
// one (Network to NetworkSet) is written once, not renamed again.
func TestTextRulesNeverRewriteTheirOwnOutput(t *testing.T) {
	n := mustComplete(t, identity{Module: "github.com/samplecrd/network-controller-ng", Group: "networks.samplecrd.k8s.io", Version: "v1", Kind: "NetworkSet", ShortName: "ns2"})
	r := textRules(network, n, nil)
	in := "A Network of samplecrd.k8s.io/v1 (kubectl get networks) by network-controller"
	want := "A NetworkSet of networks.samplecrd.k8s.io/v1 (kubectl get networksets) by network-controller-ng"
	if got := r.replace(in, nil); got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
}

// controllerSource is Go as the controller writes it, with everything the
// fork must rename next to everything it must leave alone.
const controllerSource = `package main

import (
	"context"
	"os/exec"

	"example.org/othernet"
	"github.com/containernetworking/cni/libcni"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	samplecrdv1apply "github.com/samplecrd/network-controller/pkg/generated/applyconfiguration/samplecrd/v1"
	clientset "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned"
	informers "github.com/samplecrd/network-controller/pkg/generated/informers/externalversions"
	"github.com/samplecrd/network-controller/pkg/generated/informers/externalversions/samplecrd"
	listers "github.com/samplecrd/network-controller/pkg/generated/listers/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/netspec"
)

const controllerAgentName = "network-controller"

// syncNetwork syncs one Network and its NetworkAttachmentDefinition.
func syncNetwork(ctx context.Context, c clientset.Interface, l listers.NetworkLister, f informers.SharedInformerFactory, network *samplecrdv1.Network) (*nadv1.NetworkAttachmentDefinition, error) {
	n, err := l.Networks(network.Namespace).Get(network.Name)
	if err != nil || n.Kind != "Network" {
		return nil, err
	}
	var _ samplecrd.Interface = f.Samplecrd()
	_ = f.Samplecrd().V1().Networks().Lister()
	_ = nadFactory.K8sCniCncfIo().V1().NetworkAttachmentDefinitions()
	_ = samplecrdv1apply.Network(n.Name, n.Namespace).WithSpec(samplecrdv1apply.NetworkSpec())
	_ = netspec.MsgGatewayNetwork
	_ = othernet.Networks()
	_ = samplecrdv1.Resource("networks")
	_ = "a NetworkSpec and a NetworkList, but no NetworkConfigList"
	_, err = c.SamplecrdV1().Networks(n.Namespace).UpdateStatus(ctx, n, metav1UpdateOptions{FieldManager: controllerAgentName})
	return &nadv1.NetworkAttachmentDefinition{}, err
}

type attachment struct {
	// Network is the configuration list's name.
	Network string ` + "`json:\"networks\"`" + `
	list    *libcni.NetworkConfigList
}

func (a *attachment) del(cni *libcni.CNIConfig) error {
	return cni.DelNetworkList(context.Background(), a.list, nil)
}

// fakeLister stands in for the generated lister.
type fakeLister struct{}

func (fakeLister) Networks(namespace string) any { return nil }

func kubectl(args ...string) { _ = exec.Command("kubectl", args...) }

func e2e(name string) {
	kubectl("get", "network", name, "-o", "yaml")
	kubectl("wait", "--for", "condition=Ready", "network/"+name)
	kubectl("delete", "networks", "--all")
	_ = exec.Command("/bin/kubectl", "describe", "net", name)
	_ = []string{"network", "networks"} // not kubectl's: only the plural is the resource
}

var metrics = []string{"network_controller" + "_networks", "network_controller", "_networks"}

// informerSet names a field as the generated methods are named.
type informerSet struct {
	Networks any
}

var _ = informerSet{Networks: nil}.Networks
`

const controllerForked = `package main

import (
	"context"
	"os/exec"

	"example.org/othernet"
	"github.com/containernetworking/cni/libcni"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"

	examplev1alpha1 "github.com/example/subnet-controller/pkg/apis/example/v1alpha1"
	examplev1alpha1apply "github.com/example/subnet-controller/pkg/generated/applyconfiguration/example/v1alpha1"
	clientset "github.com/example/subnet-controller/pkg/generated/clientset/versioned"
	informers "github.com/example/subnet-controller/pkg/generated/informers/externalversions"
	"github.com/example/subnet-controller/pkg/generated/informers/externalversions/example"
	listers "github.com/example/subnet-controller/pkg/generated/listers/example/v1alpha1"
	"github.com/example/subnet-controller/pkg/netspec"
)

const controllerAgentName = "subnet-controller"

// syncNetwork syncs one Subnet and its NetworkAttachmentDefinition.
func syncNetwork(ctx context.Context, c clientset.Interface, l listers.SubnetLister, f informers.SharedInformerFactory, network *examplev1alpha1.Subnet) (*nadv1.NetworkAttachmentDefinition, error) {
	n, err := l.Subnets(network.Namespace).Get(network.Name)
	if err != nil || n.Kind != "Subnet" {
		return nil, err
	}
	var _ example.Interface = f.Example()
	_ = f.Example().V1alpha1().Subnets().Lister()
	_ = nadFactory.K8sCniCncfIo().V1().NetworkAttachmentDefinitions()
	_ = examplev1alpha1apply.Subnet(n.Name, n.Namespace).WithSpec(examplev1alpha1apply.SubnetSpec())
	_ = netspec.MsgGatewayNetwork
	_ = othernet.Networks()
	_ = examplev1alpha1.Resource("subnets")
	_ = "a SubnetSpec and a SubnetList, but no NetworkConfigList"
	_, err = c.ExampleV1alpha1().Subnets(n.Namespace).UpdateStatus(ctx, n, metav1UpdateOptions{FieldManager: controllerAgentName})
	return &nadv1.NetworkAttachmentDefinition{}, err
}

type attachment struct {
	// Network is the configuration list's name.
	Network string ` + "`json:\"networks\"`" + `
	list    *libcni.NetworkConfigList
}

func (a *attachment) del(cni *libcni.CNIConfig) error {
	return cni.DelNetworkList(context.Background(), a.list, nil)
}

// fakeLister stands in for the generated lister.
type fakeLister struct{}

func (fakeLister) Subnets(namespace string) any { return nil }

func kubectl(args ...string) { _ = exec.Command("kubectl", args...) }

func e2e(name string) {
	kubectl("get", "subnet", name, "-o", "yaml")
	kubectl("wait", "--for", "condition=Ready", "subnet/"+name)
	kubectl("delete", "subnets", "--all")
	_ = exec.Command("/bin/kubectl", "describe", "sub", name)
	_ = []string{"network", "subnets"} // not kubectl's: only the plural is the resource
}

var metrics = []string{"subnet_controller" + "_subnets", "subnet_controller", "_subnets"}

// informerSet names a field as the generated methods are named.
type informerSet struct {
	Subnets any
}

var _ = informerSet{Subnets: nil}.Subnets
`

// TestGoRewriteRenamesTheAPIAndNothingElse: the API's types, the generated
// clients' names, the resource in strings and kubectl arguments change; the
// controller's own identifiers, Multus's and libcni's names, struct tags and
// a doc comment naming its own field stay.
func TestGoRewriteRenamesTheAPIAndNothingElse(t *testing.T) {
	got, err := newGoRewriter(network, mustComplete(t, subnet), apiNames).rewrite("controller.go", []byte(controllerSource), false)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != controllerForked {
		t.Errorf("rewritten:\n%s", diffLines(controllerForked, string(got)))
	}
}

const apiTypes = `// Package v1 is version v1 of the samplecrd.k8s.io API: the Network custom
// resource.
//
// +groupName=samplecrd.k8s.io
package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Network asks for a network (k8s.cni.cncf.io/v1).
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=net,categories=all
// +kubebuilder:metadata:annotations="api-approved.kubernetes.io=unapproved, example API for the network-controller project, not part of Kubernetes"
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=` + "`.spec.cidr`" + `
type Network struct {
	metav1.TypeMeta   ` + "`json:\",inline\"`" + `
	metav1.ObjectMeta ` + "`json:\"metadata,omitempty\"`" + `

	Spec   NetworkSpec   ` + "`json:\"spec\"`" + `
	Status NetworkStatus ` + "`json:\"status,omitempty\"`" + `
}

// NetworkSpec is the desired network.
type NetworkSpec struct{ CIDR string }

// NetworkStatus is what the controller observed.
type NetworkStatus struct{}

// NetworkList is a list of Networks.
type NetworkList struct {
	metav1.ListMeta
	Items []Network
}
`

func TestGoRewriteOfTheAPIPackage(t *testing.T) {
	tests := []struct {
		name string
		to   identity
		want string
	}{
		{
			name: "a group outside k8s.io loses the api-approved annotation; the plural becomes explicit",
			to:   subnet,
			want: `// Package v1alpha1 is version v1alpha1 of the example.com API: the Subnet custom
// resource.
//
// +groupName=example.com
package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Subnet asks for a network (k8s.cni.cncf.io/v1).
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=sub,categories=all,path=subnets
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=` + "`.spec.cidr`" + `
type Subnet struct {
	metav1.TypeMeta   ` + "`json:\",inline\"`" + `
	metav1.ObjectMeta ` + "`json:\"metadata,omitempty\"`" + `

	Spec   SubnetSpec   ` + "`json:\"spec\"`" + `
	Status SubnetStatus ` + "`json:\"status,omitempty\"`" + `
}

// SubnetSpec is the desired network.
type SubnetSpec struct{ CIDR string }

// SubnetStatus is what the controller observed.
type SubnetStatus struct{}

// SubnetList is a list of Subnets.
type SubnetList struct {
	metav1.ListMeta
	Items []Subnet
}
`,
		},
		{
			name: "a group under k8s.io keeps it; a plural client-gen would not derive is given to it",
			to:   identity{Module: subnet.Module, Group: "ipam.k8s.io", Version: "v2", Kind: "Pool", Plural: "pools-v2", ShortName: "pl", Name: "pool-controller"},
			want: `// Package v2 is version v2 of the ipam.k8s.io API: the Pool custom
// resource.
//
// +groupName=ipam.k8s.io
package v2

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Pool asks for a network (k8s.cni.cncf.io/v1).
//
// +genclient
// +resourceName=pools-v2
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=pl,categories=all,path=pools-v2
// +kubebuilder:metadata:annotations="api-approved.kubernetes.io=unapproved, example API for the pool-controller project, not part of Kubernetes"
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=` + "`.spec.cidr`" + `
type Pool struct {
	metav1.TypeMeta   ` + "`json:\",inline\"`" + `
	metav1.ObjectMeta ` + "`json:\"metadata,omitempty\"`" + `

	Spec   PoolSpec   ` + "`json:\"spec\"`" + `
	Status PoolStatus ` + "`json:\"status,omitempty\"`" + `
}

// PoolSpec is the desired network.
type PoolSpec struct{ CIDR string }

// PoolStatus is what the controller observed.
type PoolStatus struct{}

// PoolList is a list of Pools.
type PoolList struct {
	metav1.ListMeta
	Items []Pool
}
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := newGoRewriter(network, mustComplete(t, tc.to), apiNames).rewrite("types.go", []byte(apiTypes), true)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("rewritten:\n%s", diffLines(tc.want, string(got)))
			}
		})
	}
}

// TestGoRewriteAddsTheAnnotationAGroupUnderK8sIONeeds: forking into k8s.io
// from a group outside it writes the api-approved annotation.
func TestGoRewriteAddsTheAnnotationAGroupUnderK8sIONeeds(t *testing.T) {
	src := "package v1alpha1\n\n// Subnet is one.\n//\n// +genclient\n// +kubebuilder:resource:scope=Namespaced,shortName=sub,path=subnets\ntype Subnet struct{}\n"
	want := "package v1\n\n// Network is one.\n//\n// +genclient\n// +kubebuilder:resource:scope=Namespaced,shortName=net,path=networks\n" +
		"// +kubebuilder:metadata:annotations=\"api-approved.kubernetes.io=unapproved, example API for the network-controller project, not part of Kubernetes\"\ntype Network struct{}\n"
	got, err := newGoRewriter(mustComplete(t, subnet), network, nil).rewrite("types.go", []byte(src), true)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("rewritten:\n%s", diffLines(want, string(got)))
	}
}

// diffLines shows the lines of got that differ from want.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + wl + "\n   got " + gl + "\n")
		}
	}
	return b.String()
}
