package main

// Integration tests of the Network's modes (#14): what the API server
// refuses, with which message, what it lets change, and what a Macvlan
// Network becomes.

import (
	"encoding/json"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/cni"
	"github.com/samplecrd/network-controller/pkg/netspec"
)

// specOf decodes a spec written as JSON the way the controller would see
// it once stored (with the API server's default for mode).
func specOf(t *testing.T, spec map[string]interface{}) samplecrdv1.NetworkSpec {
	t.Helper()
	var s samplecrdv1.NetworkSpec
	if err := json.Unmarshal(mustJSON(t, spec), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// requireGoMessages fails unless the API server's error err carries each of
// the controller's violations vs on its field.
func requireGoMessages(t *testing.T, err error, vs []netspec.Violation) {
	t.Helper()
	if len(vs) == 0 {
		t.Errorf("pkg/netspec finds nothing wrong, the API server says %v", err)
	}
	for _, v := range vs {
		if !strings.Contains(err.Error(), v.Field+": ") || !strings.Contains(err.Error(), v.Message) {
			t.Errorf("API server error %q lacks the controller's %q", err, v)
		}
	}
}

func TestIntegrationInvalidModeFieldsAreRefusedWithTheGoMessages(t *testing.T) {
	e := newEnv(t)
	v4 := func(extra map[string]interface{}) map[string]interface{} {
		spec := map[string]interface{}{"cidr": "198.18.0.0/24", "gateway": "198.18.0.1"}
		for k, v := range extra {
			spec[k] = v
		}
		return spec
	}
	v6 := func(extra map[string]interface{}) map[string]interface{} {
		spec := v4(extra)
		spec["cidr"], spec["gateway"] = "fd00:14::/64", "fd00:14::1"
		return spec
	}
	macvlan := map[string]interface{}{"mode": "Macvlan", "uplink": "eth1"}
	with := func(base map[string]interface{}, k string, v interface{}) map[string]interface{} {
		out := map[string]interface{}{k: v}
		for bk, bv := range base {
			if bk != k {
				out[bk] = bv
			}
		}
		return out
	}
	many := make([]interface{}, 17)
	for i := range many {
		many[i] = "198.18.0.128/25"
	}
	tests := []struct {
		name string
		spec map[string]interface{}
	}{
		{"an unknown mode", v4(map[string]interface{}{"mode": "IPVLAN"})},
		{"a Macvlan Network without an uplink", v4(map[string]interface{}{"mode": "Macvlan"})},
		{"a Bridge Network with an uplink", v4(map[string]interface{}{"mode": "Bridge", "uplink": "eth1"})},
		{"a Network without a mode (a Bridge Network) with an uplink", v4(map[string]interface{}{"uplink": "eth1"})},
		{"an uplink of 16 bytes", v4(with(macvlan, "uplink", "abcdefghijklmnop"))},
		{"an uplink of 8 letters but 16 bytes", v4(with(macvlan, "uplink", "ññññññññ"))},
		{"an uplink with a colon", v4(with(macvlan, "uplink", "eth1:0"))},
		{"an uplink with a slash", v4(with(macvlan, "uplink", "eth/1"))},
		{"an uplink with a space", v4(with(macvlan, "uplink", "eth 1"))},
		{"an uplink with a vertical tab", v4(with(macvlan, "uplink", "eth\v1"))},
		{"an uplink of ..", v4(with(macvlan, "uplink", ".."))},
		{"an MTU of 67", v4(map[string]interface{}{"mtu": 67})},
		{"an MTU of 65536", v4(with(macvlan, "mtu", 65536))},
		{"an IPv6 MTU of 1279", v6(map[string]interface{}{"mtu": 1279})},
		{"an excluded range that is no CIDR", v4(map[string]interface{}{"excludeRanges": []interface{}{"198.18.0.128/25", "banana"}})},
		{"an excluded range with host bits set", v4(with(macvlan, "excludeRanges", []interface{}{"198.18.0.129/25"}))},
		{"an excluded range of the other family", v4(map[string]interface{}{"excludeRanges": []interface{}{"fd00::/120"}})},
		{"an excluded range outside spec.cidr", v4(with(macvlan, "excludeRanges", []interface{}{"198.18.1.0/25"}))},
		{"an excluded range that is spec.cidr", v6(map[string]interface{}{"excludeRanges": []interface{}{"fd00:14::/64"}})},
		{"17 excluded ranges", v4(map[string]interface{}{"excludeRanges": many})},
		{"every field wrong at once", map[string]interface{}{"cidr": "198.18.0.0/24", "gateway": "198.18.0.1", "mode": "Macvlan", "uplink": "a:b", "mtu": 1, "excludeRanges": []interface{}{"fd00::/64", "x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]interface{}{
				"apiVersion": samplecrdv1.SchemeGroupVersion.String(), "kind": "Network",
				"metadata": map[string]interface{}{"name": "bad"}, "spec": tc.spec,
			}
			err := e.networks.SamplecrdV1().RESTClient().Post().Namespace(e.namespace).Resource("networks").
				Body(mustJSON(t, body)).Do(e.ctx).Error()
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			t.Log(err)
			// The controller's own check must say the same thing.
			requireGoMessages(t, err, netspec.ValidateSpec(specOf(t, tc.spec)))
		})
	}
	t.Run("valid Networks of each mode are accepted", func(t *testing.T) {
		for name, spec := range map[string]map[string]interface{}{
			"bridge":  v4(map[string]interface{}{"mtu": 9000, "excludeRanges": []interface{}{"198.18.0.128/25"}}),
			"macvlan": v6(with(macvlan, "excludeRanges", []interface{}{"fd00:14::/120"})),
		} {
			body := map[string]interface{}{
				"apiVersion": samplecrdv1.SchemeGroupVersion.String(), "kind": "Network",
				"metadata": map[string]interface{}{"name": name}, "spec": spec,
			}
			if err := e.networks.SamplecrdV1().RESTClient().Post().Namespace(e.namespace).Resource("networks").Body(mustJSON(t, body)).Do(e.ctx).Error(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if vs := netspec.ValidateSpec(specOf(t, spec)); vs != nil {
				t.Errorf("%s: the API server accepts it, pkg/netspec says %v", name, vs)
			}
		}
		n, err := e.networks.SamplecrdV1().Networks(e.namespace).Get(e.ctx, "bridge", metav1.GetOptions{})
		if err != nil || n.Spec.Mode != samplecrdv1.NetworkModeBridge {
			t.Errorf("a Network created without a mode reads back with mode %q (%v), want the default Bridge", n.Spec.Mode, err)
		}
	})
}

// A Macvlan Network's addresses are held cluster-wide by whereabouts, so
// what decides them cannot change under the pods; the mode and uplink
// cannot change in any Network. The refusals carry the controller's Go
// messages for the same rules; what may change, changes.
func TestIntegrationImmutableFieldsAreRefusedWithTheGoMessages(t *testing.T) {
	e := newEnv(t)
	client := e.networks.SamplecrdV1().Networks(e.namespace)
	create := func(name string, spec samplecrdv1.NetworkSpec) {
		t.Helper()
		if _, err := client.Create(e.ctx, &samplecrdv1.Network{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create("mv", samplecrdv1.NetworkSpec{CIDR: "198.18.14.0/24", Gateway: "198.18.14.1", Mode: samplecrdv1.NetworkModeMacvlan, Uplink: "eth1", ExcludeRanges: []string{"198.18.14.128/25"}})
	create("br", samplecrdv1.NetworkSpec{CIDR: "198.18.15.0/24", Gateway: "198.18.15.1"})
	mtu := int32(1400)

	tests := []struct {
		name    string
		network string
		change  func(*samplecrdv1.NetworkSpec)
		allowed bool
	}{
		{"a Macvlan Network cannot become a Bridge Network", "mv", func(s *samplecrdv1.NetworkSpec) { s.Mode, s.Uplink = samplecrdv1.NetworkModeBridge, "" }, false},
		{"a Bridge Network cannot become a Macvlan Network", "br", func(s *samplecrdv1.NetworkSpec) { s.Mode, s.Uplink = samplecrdv1.NetworkModeMacvlan, "eth1" }, false},
		{"a Macvlan Network's uplink cannot change", "mv", func(s *samplecrdv1.NetworkSpec) { s.Uplink = "eth2" }, false},
		{"a Macvlan Network's CIDR cannot change", "mv", func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.ExcludeRanges = "198.18.16.0/24", "198.18.16.1", nil
		}, false},
		{"a Macvlan Network's gateway cannot change", "mv", func(s *samplecrdv1.NetworkSpec) { s.Gateway = "198.18.14.2" }, false},
		{"a Macvlan Network's excluded ranges cannot change", "mv", func(s *samplecrdv1.NetworkSpec) { s.ExcludeRanges = append(s.ExcludeRanges, "198.18.14.64/26") }, false},
		{"a Macvlan Network's excluded ranges cannot be dropped", "mv", func(s *samplecrdv1.NetworkSpec) { s.ExcludeRanges = nil }, false},
		{"a Macvlan Network's MTU may change", "mv", func(s *samplecrdv1.NetworkSpec) { s.MTU = &mtu }, true},
		{"a Bridge Network's CIDR, gateway and excluded ranges may change", "br", func(s *samplecrdv1.NetworkSpec) {
			s.CIDR, s.Gateway, s.ExcludeRanges = "198.18.17.0/24", "198.18.17.1", []string{"198.18.17.0/28"}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := client.Get(e.ctx, tc.network, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			old := *n.Spec.DeepCopy()
			tc.change(&n.Spec)
			_, err = client.Update(e.ctx, n, metav1.UpdateOptions{})
			if tc.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if vs := netspec.ValidateUpdate(old, n.Spec); vs != nil {
					t.Errorf("the API server allows it, pkg/netspec refuses it: %v", vs)
				}
				return
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			t.Log(err)
			requireGoMessages(t, err, netspec.ValidateUpdate(old, n.Spec))
		})
	}
}

// A Macvlan Network is realised as the configuration pkg/cni renders for
// it, byte for byte, and is Ready; one whose excluded ranges leave no
// address (the rule only the controller checks) is InvalidSpec and gets no
// attachment.
func TestIntegrationMacvlanNetworkGetsItsConfiguration(t *testing.T) {
	e := newEnv(t)
	e.startController(Options{})
	client := e.networks.SamplecrdV1().Networks(e.namespace)
	mtu := int32(1400)
	spec := samplecrdv1.NetworkSpec{CIDR: "198.18.18.0/24", Gateway: "198.18.18.1", Mode: samplecrdv1.NetworkModeMacvlan, Uplink: "eth1", MTU: &mtu, ExcludeRanges: []string{"198.18.18.128/25"}}
	if _, err := client.Create(e.ctx, &samplecrdv1.Network{ObjectMeta: metav1.ObjectMeta{Name: "span"}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitForReady("span", metav1.ConditionTrue, samplecrdv1.ReasonSynced)
	parsed, err := netspec.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	want, err := cni.RenderNetwork(parsed.Named(e.namespace, "span"))
	if err != nil {
		t.Fatal(err)
	}
	nad, err := e.attachment("span")
	if err != nil {
		t.Fatal(err)
	}
	if nad.Spec.Config != string(want) {
		t.Errorf("attachment config\n%s\nwant\n%s", nad.Spec.Config, want)
	}
	for _, text := range []string{`"type": "macvlan"`, `"master": "eth1"`, `"type": "whereabouts"`, `"198.18.18.128/25"`, `"disableCheck": true`} {
		if !strings.Contains(nad.Spec.Config, text) {
			t.Errorf("attachment config lacks %s", text)
		}
	}

	full := samplecrdv1.NetworkSpec{CIDR: "198.18.19.0/24", Gateway: "198.18.19.1", Mode: samplecrdv1.NetworkModeMacvlan, Uplink: "eth1", ExcludeRanges: []string{"198.18.19.0/25", "198.18.19.128/25"}}
	if _, err := client.Create(e.ctx, &samplecrdv1.Network{ObjectMeta: metav1.ObjectMeta{Name: "full"}, Spec: full}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the API server refuses what only the controller checks: %v", err)
	}
	e.waitForReady("full", metav1.ConditionFalse, samplecrdv1.ReasonInvalidSpec)
	e.waitForEvent("full", "Warning", samplecrdv1.ReasonInvalidSpec, netspec.MsgExcludeLeavesNoAddress)
	if _, err := e.attachment("full"); !apierrors.IsNotFound(err) {
		t.Errorf("a Network with no address for pods got an attachment (%v)", err)
	}
}
