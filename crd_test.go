package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
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
// together: every message pkg/netspec can produce for a malformed value or
// a refused change must be a CEL rule message on the same field of the
// shipped CRD, and every CEL rule must be one of them, so the API server
// and the controller tell users the same thing and neither has a rule the
// other lacks. (The one Go rule without a CEL twin, and the two the
// schema's enum and maxItems carry, are checked below.)
func TestCRDRulesCarryTheGoMessages(t *testing.T) {
	crd := readCRD(t)
	got := map[string][]string{}
	celMessages(crd, "", got)

	want := map[string][]string{
		".spec.cidr":    {netspec.MsgCIDRInvalid, netspec.MsgCIDRNotCanonical, netspec.MsgCIDRTooSmall, netspec.MsgMacvlanCIDRImmutable},
		".spec.gateway": {netspec.MsgGatewayInvalid, netspec.MsgGatewayFamily, netspec.MsgGatewayOutside, netspec.MsgGatewayNetwork, netspec.MsgGatewayBroadcast, netspec.MsgMacvlanGatewayImmutable},
		".spec.mode":    {netspec.MsgImmutable},
		".spec.uplink":  {netspec.MsgUplinkRequired, netspec.MsgUplinkForbidden, netspec.MsgUplinkInvalid, netspec.MsgImmutable},
		".spec.mtu":     {netspec.MsgMTURange, netspec.MsgMTUIPv6},
		".spec.excludeRanges": {netspec.MsgExcludeInvalid, netspec.MsgExcludeNotCanonical, netspec.MsgExcludeFamily,
			netspec.MsgExcludeOutside, netspec.MsgExcludeWhole, netspec.MsgMacvlanExcludeImmutable},
	}
	for field, msgs := range want {
		for _, m := range msgs {
			if !slices.Contains(got[field], m) {
				t.Errorf("CRD has no CEL rule on %s with message %q (it has %q)", field, m, got[field])
			}
		}
		for _, m := range got[field] {
			if !slices.Contains(msgs, m) {
				t.Errorf("CRD has a CEL rule on %s with message %q that pkg/netspec does not produce", field, m)
			}
		}
	}
	// Only the fields above have rules, so a new rule forces a look here.
	for field := range got {
		if _, ok := want[field]; !ok {
			t.Errorf("unexpected CEL rules on %s: %q", field, got[field])
		}
	}
	for _, m := range []string{netspec.MsgExcludeLeavesNoAddress} {
		for field, msgs := range got {
			if slices.Contains(msgs, m) {
				t.Errorf("%q is a CEL rule on %s; the package comment of pkg/netspec says it is Go-only", m, field)
			}
		}
	}
}

// The rules that are schema keywords rather than CEL: the Go messages
// must be what the API server says for them (the integration test checks
// the server's text), and the values must agree.
func TestCRDSchemaAgreesWithTheGoRules(t *testing.T) {
	crd := readCRD(t)
	spec := dig(t, crd, "spec", "versions", 0, "schema", "openAPIV3Schema", "properties", "spec", "properties").(map[string]interface{})
	mode := spec["mode"].(map[string]interface{})
	var enum []string
	for _, v := range mode["enum"].([]interface{}) {
		enum = append(enum, `"`+v.(string)+`"`)
	}
	if want := "supported values: " + strings.Join(enum, ", "); want != netspec.MsgModeUnsupported {
		t.Errorf("spec.mode enum gives %q, pkg/netspec says %q", want, netspec.MsgModeUnsupported)
	}
	if mode["default"] != string(samplecrdv1.NetworkModeBridge) {
		t.Errorf("spec.mode defaults to %v, want Bridge", mode["default"])
	}
	if max := spec["excludeRanges"].(map[string]interface{})["maxItems"]; max != float64(netspec.MaxExcludeRanges) {
		t.Errorf("spec.excludeRanges maxItems %v, pkg/netspec allows %d", max, netspec.MaxExcludeRanges)
	}
	if !strings.Contains(netspec.MsgTooManyExcludeRanges, fmt.Sprint(netspec.MaxExcludeRanges)) {
		t.Errorf("%q does not say %d", netspec.MsgTooManyExcludeRanges, netspec.MaxExcludeRanges)
	}
}

// readCRD decodes the shipped Network CRD.
func readCRD(t *testing.T) map[string]interface{} {
	t.Helper()
	raw, err := os.ReadFile("artifacts/examples/crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]interface{}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	return crd
}

// dig follows keys (strings) and indexes (ints) into decoded YAML.
func dig(t *testing.T, node interface{}, path ...interface{}) interface{} {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			node = node.(map[string]interface{})[k]
		case int:
			node = node.([]interface{})[k]
		}
		if node == nil {
			t.Fatalf("no %v in the CRD", path)
		}
	}
	return node
}
