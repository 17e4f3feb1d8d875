package main

import (
	"strings"
	"testing"
)

// subnet is the identity of the fork the README and CI make.
var subnet = identity{Module: "github.com/example/subnet-controller", Group: "example.com", Version: "v1alpha1", Kind: "Subnet"}

func TestCompleteRefusesBadNames(t *testing.T) {
	with := func(f func(*identity)) identity {
		id := subnet
		f(&id)
		return id
	}
	tests := []struct {
		name    string
		id      identity
		wantErr string // "" means accepted
	}{
		{"the README's example", subnet, ""},
		{"a group with several labels", with(func(id *identity) { id.Group = "net.example.co.uk" }), ""},
		{"a group under k8s.io", with(func(id *identity) { id.Group = "samplecrd.k8s.io" }), ""},
		{"a group without a dot", with(func(id *identity) { id.Group = "example" }), "-group \"example\" must be a DNS subdomain with at least one dot"},
		{"a group with capitals", with(func(id *identity) { id.Group = "Example.com" }), `label "Example" must be 1-63 lower-case`},
		{"a group with an empty label", with(func(id *identity) { id.Group = "example..com" }), `label ""`},
		{"a group label ending in a dash", with(func(id *identity) { id.Group = "example-.com" }), `label "example-"`},
		{"a group longer than 253", with(func(id *identity) { id.Group = strings.Repeat("a.", 127) + "io" }), "longer than 253"},
		{"a group label longer than 63", with(func(id *identity) { id.Group = strings.Repeat("a", 64) + ".io" }), "1-63"},
		{"a first label that is no Go package name", with(func(id *identity) { id.Group = "my-net.example.com" }), `first label "my-net" names Go packages`},
		{"a first label starting with a digit", with(func(id *identity) { id.Group = "3com.example.com" }), `first label "3com" names Go packages`},

		{"version v1", with(func(id *identity) { id.Version = "v1" }), ""},
		{"version v2beta3", with(func(id *identity) { id.Version = "v2beta3" }), ""},
		{"version v10alpha12", with(func(id *identity) { id.Version = "v10alpha12" }), ""},
		{"a version without v", with(func(id *identity) { id.Version = "1" }), "-version \"1\" must be a Kubernetes API version"},
		{"version v0", with(func(id *identity) { id.Version = "v0" }), "Kubernetes API version"},
		{"a leading zero", with(func(id *identity) { id.Version = "v01" }), "Kubernetes API version"},
		{"alpha without a number", with(func(id *identity) { id.Version = "v1alpha" }), "Kubernetes API version"},
		{"alpha0", with(func(id *identity) { id.Version = "v1alpha0" }), "Kubernetes API version"},
		{"gamma", with(func(id *identity) { id.Version = "v1gamma1" }), "Kubernetes API version"},
		{"capital V", with(func(id *identity) { id.Version = "V1" }), "Kubernetes API version"},

		{"a two-word kind", with(func(id *identity) { id.Kind = "NetworkPolicy"; id.Plural = "" }), ""},
		{"a kind with an acronym", with(func(id *identity) { id.Kind = "CSIDriver" }), ""},
		{"a lower-case kind", with(func(id *identity) { id.Kind = "subnet" }), "-kind \"subnet\" must be CamelCase"},
		{"a kind with a dash", with(func(id *identity) { id.Kind = "Sub-net" }), "must be CamelCase"},
		{"a kind in capitals", with(func(id *identity) { id.Kind = "SUBNET" }), "not all capitals"},
		{"a kind starting with a digit", with(func(id *identity) { id.Kind = "3Net" }), "must be CamelCase"},
		{"a kind longer than 63", with(func(id *identity) { id.Kind = "S" + strings.Repeat("x", 63) }), "longer than 63"},

		{"a module with a major version", with(func(id *identity) { id.Module = "example.org/widget-operator/v3" }), ""},
		{"a module without a domain", with(func(id *identity) { id.Module = "subnet-controller" }), "-module \"subnet-controller\" must start with a lower-case domain name"},
		{"a module with a capital domain", with(func(id *identity) { id.Module = "GitHub.com/example/x" }), "lower-case domain"},
		{"a module with an empty element", with(func(id *identity) { id.Module = "github.com//x" }), "empty path element"},
		{"a module ending in a slash", with(func(id *identity) { id.Module = "github.com/x/" }), "empty path element"},
		{"a module with a space", with(func(id *identity) { id.Module = "github.com/x y/z" }), `element "x y" may only hold`},
		{"a module element starting with a dot", with(func(id *identity) { id.Module = "github.com/.x/y" }), `element ".x" may not start`},
		{"a /v1 suffix", with(func(id *identity) { id.Module = "github.com/x/y/v1" }), "not a major version suffix"},
		{"a major version with no name before it", with(func(id *identity) { id.Module = "example.org/v2" }), "no name before it"},
		{"an empty module", with(func(id *identity) { id.Module = "" }), "is empty"},

		{"a module whose last element names nothing", with(func(id *identity) { id.Module = "github.com/example/Subnet_Controller" }), `-name: the derived value "Subnet_Controller"`},
		{"a name given", with(func(id *identity) { id.Module = "github.com/example/Subnet_Controller"; id.Name = "subnets" }), ""},
		{"a name that is no DNS label", with(func(id *identity) { id.Name = "subnet.controller" }), `-name "subnet.controller" must be lower-case`},
		{"a name too long for <name>-leader-election", with(func(id *identity) { id.Name = strings.Repeat("a", 48) }), "at most 47"},

		{"a plural given", with(func(id *identity) { id.Plural = "subnetworks" }), ""},
		{"a plural with capitals", with(func(id *identity) { id.Plural = "Subnets" }), `-plural "Subnets" must be a DNS-1035 label`},
		{"a short name of a built-in", with(func(id *identity) { id.ShortName = "po" }), `-short-name "po" is the short name of a built-in`},
		{"a short name with a dot", with(func(id *identity) { id.ShortName = "s.n" }), "DNS-1035"},
		{"a short name equal to the plural", with(func(id *identity) { id.ShortName = "subnets" }), "equals the plural or the singular"},
		{"a derived short name equal to the singular", with(func(id *identity) { id.Kind = "Pod"; id.Plural = "" }), `-short-name "pod" equals the plural or the singular`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := complete(tc.id)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("accepted, want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestCompleteDerivesWhatIsNotGiven(t *testing.T) {
	tests := []struct {
		in   identity
		want identity
	}{
		{subnet, identity{Module: subnet.Module, Group: "example.com", Version: "v1alpha1", Kind: "Subnet", Plural: "subnets", ShortName: "sub", Name: "subnet-controller"}},
		{
			identity{Module: "example.org/widget-operator/v3", Group: "widgets.example.org", Version: "v2beta1", Kind: "NetworkPolicy"},
			identity{Module: "example.org/widget-operator/v3", Group: "widgets.example.org", Version: "v2beta1", Kind: "NetworkPolicy", Plural: "networkpolicies", ShortName: "np", Name: "widget-operator"},
		},
		{
			identity{Module: "example.org/x", Group: "x.example.org", Version: "v1", Kind: "Leaf", Plural: "leafs", ShortName: "lf", Name: "leaf-ctl"},
			identity{Module: "example.org/x", Group: "x.example.org", Version: "v1", Kind: "Leaf", Plural: "leafs", ShortName: "lf", Name: "leaf-ctl"},
		},
	}
	for _, tc := range tests {
		got, err := complete(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("complete(%+v) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// TestGoPluralIsCodeGenerators pins the plural the generated clients use
// (Networks(namespace), NetworkPolicies(namespace)): the fork renames calls
// to them, so it must predict gengo's rules exactly.
func TestGoPluralIsCodeGenerators(t *testing.T) {
	for kind, want := range map[string]string{
		"Network": "Networks", "Subnet": "Subnets", "Policy": "Policies", "Gateway": "Gateways",
		"Class": "Classes", "Box": "Boxes", "Quiz": "Quizes", "Switch": "Switches", "Mesh": "Meshes",
		"Path": "Paths", "Leaf": "Leaves", "Knife": "Knives", "Safe": "Saves", "Endpoints": "Endpoints", "X": "X",
	} {
		if got := goPlural(kind); got != want {
			t.Errorf("goPlural(%s) = %s, want %s", kind, got, want)
		}
	}
}

func TestDerivedShortNameAndName(t *testing.T) {
	for kind, want := range map[string]string{"Network": "net", "Subnet": "sub", "NetworkPolicy": "np", "CSIDriver": "cd", "Pod": "pod", "IPPool": "ip"} {
		if got := deriveShortName(kind); got != want {
			t.Errorf("deriveShortName(%s) = %s, want %s", kind, got, want)
		}
	}
	for module, want := range map[string]string{
		"github.com/example/subnet-controller": "subnet-controller",
		"example.org/widget-operator/v3":       "widget-operator",
	} {
		if got := deriveName(module); got != want {
			t.Errorf("deriveName(%s) = %s, want %s", module, got, want)
		}
	}
}
