package cni

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/allocator"
	fakestore "github.com/containernetworking/plugins/plugins/ipam/host-local/backend/testing"
	"github.com/k8snetworkplumbingwg/whereabouts/pkg/allocate"
	wbconfig "github.com/k8snetworkplumbingwg/whereabouts/pkg/config"
	wblogging "github.com/k8snetworkplumbingwg/whereabouts/pkg/logging"
	wbtypes "github.com/k8snetworkplumbingwg/whereabouts/pkg/types"
)

// The plugins' own configuration loaders and allocators are the code the
// IPAM plugins run at ADD. The tests feed them what Render wrote and let
// them hand out addresses, and require exactly Pool's addresses in Pool's
// order: the excluded ranges, the gateway and the addresses each IPAM keeps
// back are never handed out, and nothing else is held back. Subnets too
// large to drain are compared on their first poolSample addresses. The
// main plugins' (bridge's, macvlan's) loaders live in main packages and
// cannot be imported; the tests in test/cnisim and test/e2e run the real
// binaries on this output.
const poolSample = 300

// whereabouts' library logs every step at debug level to standard error
// unless told otherwise; its errors reach the tests anyway.
func init() { wblogging.SetLogStderr(false) }

// loadList loads out as a runtime or Multus does, with libcni, and returns
// its one plugin's section with the list's name and cniVersion added, as a
// runtime hands it to the plugin.
func loadList(t *testing.T, out []byte, wantType string) (*libcni.NetworkConfigList, map[string]any) {
	t.Helper()
	list, err := libcni.ConfListFromBytes(out)
	if err != nil {
		t.Fatalf("libcni refuses the configuration list: %v\n%s", err, out)
	}
	if list.CNIVersion != CNIVersion || len(list.Plugins) != 1 || list.Plugins[0].Network.Type != wantType {
		t.Fatalf("libcni reads version %q with plugins %+v, want one %s", list.CNIVersion, list.Plugins, wantType)
	}
	var plugin map[string]any
	if err := json.Unmarshal(list.Plugins[0].Bytes, &plugin); err != nil {
		t.Fatal(err)
	}
	plugin["name"], plugin["cniVersion"] = list.Name, list.CNIVersion
	return list, plugin
}

// poolAddrs lists the first max addresses of Pool(n).
func poolAddrs(n Network, max int) []netip.Addr {
	var out []netip.Addr
	for _, r := range Pool(n) {
		for a := r.First; len(out) < max; a = a.Next() {
			out = append(out, a)
			if a == r.Last {
				break
			}
		}
	}
	return out
}

// checkBridgeLoads fails the test unless host-local's loader accepts the
// ipam section of a Bridge Network with n's subnet, gateway and no routes,
// and its allocator hands out Pool(n).
func checkBridgeLoads(t *testing.T, out []byte, n Network) {
	t.Helper()
	list, plugin := loadList(t, out, "bridge")
	if list.Plugins[0].Network.IPAM.Type != "host-local" {
		t.Fatalf("ipam type = %q, want host-local", list.Plugins[0].Network.IPAM.Type)
	}
	pluginBytes, err := json.Marshal(plugin)
	if err != nil {
		t.Fatal(err)
	}
	ipam, _, err := allocator.LoadIPAMConfig(pluginBytes, "")
	if err != nil {
		t.Fatalf("host-local refuses the ipam section: %v\n%s", err, out)
	}
	if len(ipam.Ranges) != 1 {
		t.Fatalf("host-local reads range sets %+v, want exactly one", ipam.Ranges)
	}
	for _, r := range ipam.Ranges[0] {
		if got := (*net.IPNet)(&r.Subnet).String(); got != n.Subnet.String() {
			t.Fatalf("host-local reads subnet %s, want %s", got, n.Subnet)
		}
		if got, _ := netip.AddrFromSlice(r.Gateway); got.Unmap() != n.Gateway {
			t.Fatalf("host-local reads gateway %s, want %s", r.Gateway, n.Gateway)
		}
	}
	if len(ipam.Routes) != 0 {
		t.Fatalf("host-local would install routes %+v; a secondary network installs none", ipam.Routes)
	}

	set := ipam.Ranges[0]
	if err := set.Canonicalize(); err != nil {
		t.Fatalf("host-local refuses the range set: %v", err)
	}
	alloc := allocator.NewIPAllocator(&set, fakestore.NewFakeStore(map[string]string{}, map[string]net.IP{}), 0)
	var got []netip.Addr
	for i := 0; i < poolSample; i++ {
		ipc, err := alloc.Get(fmt.Sprintf("pod-%d", i), "net1", nil)
		if err != nil {
			break // drained
		}
		a, _ := netip.AddrFromSlice(ipc.Address.IP)
		got = append(got, a.Unmap())
	}
	if want := poolAddrs(n, poolSample); !slices.Equal(got, want) {
		t.Fatalf("host-local hands out\n%v\nwant Pool's\n%v", got, want)
	}
}

// checkMacvlanLoads fails the test unless whereabouts' loader accepts the
// ipam section of a Macvlan Network, given a node's flat configuration
// file, with n's range, gateway and network_name and no routes, and its
// allocator hands out Pool(n).
func checkMacvlanLoads(t *testing.T, out []byte, n Network) {
	t.Helper()
	list, plugin := loadList(t, out, "macvlan")
	if list.Plugins[0].Network.IPAM.Type != "whereabouts" {
		t.Fatalf("ipam type = %q, want whereabouts", list.Plugins[0].Network.IPAM.Type)
	}
	// whereabouts refuses to load without its flat file, which names the
	// kubeconfig (not read here); the test points it at one as the only
	// change to the section.
	flat := filepath.Join(t.TempDir(), "whereabouts.conf")
	if err := os.WriteFile(flat, []byte(`{"datastore": "kubernetes", "kubernetes": {"kubeconfig": "/nonexistent/whereabouts.kubeconfig"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	plugin["ipam"].(map[string]any)["configuration_path"] = flat
	pluginBytes, err := json.Marshal(plugin)
	if err != nil {
		t.Fatal(err)
	}
	ipam, _, err := wbconfig.LoadIPAMConfig(pluginBytes, "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p")
	if err != nil {
		t.Fatalf("whereabouts refuses the ipam section: %v\n%s", err, out)
	}
	if len(ipam.IPRanges) != 1 || ipam.IPRanges[0].Range != n.Subnet.String() {
		t.Fatalf("whereabouts reads ranges %+v, want %s", ipam.IPRanges, n.Subnet)
	}
	if gw, _ := netip.AddrFromSlice(ipam.Gateway); gw.Unmap() != n.Gateway {
		t.Fatalf("whereabouts reads gateway %s, want %s", ipam.Gateway, n.Gateway)
	}
	if ipam.NetworkName != NetworkName(n.Namespace, n.Name) {
		t.Fatalf("whereabouts reads network_name %q, want %q", ipam.NetworkName, NetworkName(n.Namespace, n.Name))
	}
	if len(ipam.Routes) != 0 {
		t.Fatalf("whereabouts would install routes %+v; a secondary network installs none", ipam.Routes)
	}

	var reserved []wbtypes.IPReservation
	var got []netip.Addr
	for i := 0; i < poolSample; i++ {
		ipn, updated, err := allocate.AssignIP(ipam.IPRanges[0], reserved, fmt.Sprintf("c%d", i), fmt.Sprintf("ns/pod-%d", i), "net1")
		if err != nil {
			break // drained
		}
		reserved = updated
		a, _ := netip.AddrFromSlice(ipn.IP)
		got = append(got, a.Unmap())
	}
	if want := poolAddrs(n, poolSample); !slices.Equal(got, want) {
		t.Fatalf("whereabouts hands out\n%v\nwant Pool's\n%v", got, want)
	}
}
