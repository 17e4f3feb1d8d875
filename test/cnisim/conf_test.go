package cnisim_test

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"

	"github.com/samplecrd/network-controller/pkg/cni"
	"github.com/samplecrd/network-controller/test/cnisim"
)

// decode parses JSON into generic values, failing the test on error.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return v
}

// The plugins see exactly what pkg/cni.Render wrote, plus host-local's
// dataDir: the harness tests the rendered configuration, not its own.
func TestWithDataDirAddsOnlyHostLocalsDataDir(t *testing.T) {
	conf, err := cni.Render("ns", "name", netip.MustParsePrefix("198.18.5.0/24"), netip.MustParseAddr("198.18.5.1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := cnisim.WithDataDir(conf, "/tmp/d")
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, conf)
	want["plugins"].([]any)[0].(map[string]any)["ipam"].(map[string]any)["dataDir"] = "/tmp/d"
	if g := decode(t, got); !reflect.DeepEqual(g, want) {
		t.Errorf("WithDataDir gives\n%s\nwant\n%v", got, want)
	}
}

// A dataDir in the configuration would make host-local write outside the
// node's directory, so it is replaced; other IPAM plugins keep theirs, and
// numbers keep their exact text.
func TestWithDataDirReplacesHostLocalsDataDirOnly(t *testing.T) {
	in := `{"cniVersion":"1.0.0","name":"n","plugins":[` +
		`{"type":"bridge","mtu":9000,"ipam":{"type":"host-local","dataDir":"/var/lib/cni/networks"}},` +
		`{"type":"macvlan","ipam":{"type":"static","dataDir":"/elsewhere"}},` +
		`{"type":"tuning","big":12345678901234567890}]}`
	got, err := cnisim.WithDataDir([]byte(in), "/tmp/d")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cniVersion":"1.0.0","name":"n","plugins":[` +
		`{"ipam":{"dataDir":"/tmp/d","type":"host-local"},"mtu":9000,"type":"bridge"},` +
		`{"ipam":{"dataDir":"/elsewhere","type":"static"},"type":"macvlan"},` +
		`{"big":12345678901234567890,"type":"tuning"}]}`
	if string(got) != want {
		t.Errorf("WithDataDir gives\n%s\nwant\n%s", got, want)
	}
}

// A NetworkAttachmentDefinition may hold a single configuration instead of
// a list; it is run as a list of that one plugin.
func TestWithDataDirTurnsASingleConfigurationIntoAList(t *testing.T) {
	in := `{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{"type":"host-local"}}`
	got, err := cnisim.WithDataDir([]byte(in), "/tmp/d")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cniVersion":"1.0.0","name":"n","plugins":[{"ipam":{"dataDir":"/tmp/d","type":"host-local"},"type":"bridge"}]}`
	if string(got) != want {
		t.Errorf("WithDataDir gives\n%s\nwant\n%s", got, want)
	}
}

// whereabouts reads its node's flat configuration file, which names its
// kubeconfig; in a simulated node that file is in the node's directory,
// and nothing else of the configuration changes. Without one, a
// configuration that uses whereabouts is refused rather than let it read
// the machine's /etc/cni/net.d.
func TestWithWhereaboutsConfigPointsWhereaboutsAtTheNodesFile(t *testing.T) {
	in := `{"cniVersion":"1.0.0","name":"n","plugins":[` +
		`{"type":"macvlan","master":"eth1","mtu":9000,"ipam":{"type":"whereabouts","range":"198.18.0.0/24","configuration_path":"/etc/elsewhere"}},` +
		`{"type":"bridge","ipam":{"type":"host-local"}}]}`
	got, err := cnisim.WithWhereaboutsConfig([]byte(in), "/tmp/d/whereabouts.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cniVersion":"1.0.0","name":"n","plugins":[` +
		`{"ipam":{"configuration_path":"/tmp/d/whereabouts.conf","range":"198.18.0.0/24","type":"whereabouts"},"master":"eth1","mtu":9000,"type":"macvlan"},` +
		`{"ipam":{"type":"host-local"},"type":"bridge"}]}`
	if string(got) != want {
		t.Errorf("WithWhereaboutsConfig gives\n%s\nwant\n%s", got, want)
	}
	if _, err := cnisim.WithWhereaboutsConfig([]byte(in), ""); err == nil {
		t.Error("a whereabouts configuration was accepted for a node without whereabouts' file")
	}
	if _, err := cnisim.WithWhereaboutsConfig([]byte(`{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","ipam":{"type":"host-local"}}]}`), ""); err != nil {
		t.Errorf("a configuration without whereabouts needs no whereabouts file: %v", err)
	}
}
