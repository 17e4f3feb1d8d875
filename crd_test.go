package main

import (
	"os"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/samplecrd/network-controller/pkg/netspec"
)

// celMessages returns the messages of every x-kubernetes-validations rule in
// a decoded CRD, keyed by the field the rule reports on.
func celMessages(node interface{}, path string, out map[string][]string) {
	switch n := node.(type) {
	case map[string]interface{}:
		if rules, ok := n["x-kubernetes-validations"].([]interface{}); ok {
			for _, r := range rules {
				rule := r.(map[string]interface{})
				field := path
				if fp, ok := rule["fieldPath"].(string); ok {
					field += fp
				}
				out[field] = append(out[field], rule["message"].(string))
			}
		}
		if props, ok := n["properties"].(map[string]interface{}); ok {
			for name, child := range props {
				celMessages(child, path+"."+name, out)
			}
		}
		for k, v := range n {
			if k != "properties" {
				celMessages(v, path, out)
			}
		}
	case []interface{}:
		for _, v := range n {
			celMessages(v, path, out)
		}
	}
}

// TestCRDRulesCarryTheGoMessages ties the two copies of the spec rules
// together: every message pkg/netspec can produce for a malformed value
// must be a CEL rule message on the same field of the shipped CRD, so the
// API server and the controller tell users the same thing.
func TestCRDRulesCarryTheGoMessages(t *testing.T) {
	raw, err := os.ReadFile("artifacts/examples/crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]interface{}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	celMessages(crd, "", got)

	want := map[string][]string{
		".spec.cidr":    {netspec.MsgCIDRInvalid, netspec.MsgCIDRNotCanonical, netspec.MsgCIDRTooSmall},
		".spec.gateway": {netspec.MsgGatewayInvalid, netspec.MsgGatewayFamily, netspec.MsgGatewayOutside, netspec.MsgGatewayNetwork, netspec.MsgGatewayBroadcast},
	}
	for field, msgs := range want {
		for _, m := range msgs {
			if !slices.Contains(got[field], m) {
				t.Errorf("CRD has no CEL rule on %s with message %q (it has %q)", field, m, got[field])
			}
		}
	}
	// Only the fields above have rules, so a new rule forces a look here.
	for field := range got {
		if _, ok := want[field]; !ok {
			t.Errorf("unexpected CEL rules on %s: %q", field, got[field])
		}
	}
}
