package cni

import (
	"encoding/json"
	"net"
	"net/netip"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/allocator"
)

// checkLoadsWithLibcni fails the test unless out loads the way a container
// runtime or Multus loads it: libcni, the library they use, parses it as a
// configuration list of the declared version with one bridge plugin, and
// host-local's own configuration loader (the code the IPAM plugin runs at
// ADD) accepts the plugin's ipam section with exactly subnet and gateway.
// The bridge plugin's loader lives in its main package and cannot be
// imported; the end-to-end tests run the real binary on this output.
func checkLoadsWithLibcni(t *testing.T, out []byte, subnet netip.Prefix, gateway netip.Addr) {
	t.Helper()
	list, err := libcni.ConfListFromBytes(out)
	if err != nil {
		t.Fatalf("libcni refuses the configuration list: %v\n%s", err, out)
	}
	if list.CNIVersion != CNIVersion || len(list.Plugins) != 1 || list.Plugins[0].Network.Type != "bridge" {
		t.Fatalf("libcni reads version %q with plugins %+v", list.CNIVersion, list.Plugins)
	}
	if list.Plugins[0].Network.IPAM.Type != "host-local" {
		t.Fatalf("ipam type = %q, want host-local", list.Plugins[0].Network.IPAM.Type)
	}

	// A runtime hands each plugin of a list its own section with the list's
	// name and cniVersion added; do the same for host-local's loader.
	var plugin map[string]any
	if err := json.Unmarshal(list.Plugins[0].Bytes, &plugin); err != nil {
		t.Fatal(err)
	}
	plugin["name"], plugin["cniVersion"] = list.Name, list.CNIVersion
	pluginBytes, err := json.Marshal(plugin)
	if err != nil {
		t.Fatal(err)
	}
	ipam, _, err := allocator.LoadIPAMConfig(pluginBytes, "")
	if err != nil {
		t.Fatalf("host-local refuses the ipam section: %v", err)
	}
	if len(ipam.Ranges) != 1 || len(ipam.Ranges[0]) != 1 {
		t.Fatalf("host-local reads ranges %+v, want exactly one", ipam.Ranges)
	}
	r := ipam.Ranges[0][0]
	if got := (*net.IPNet)(&r.Subnet).String(); got != subnet.String() {
		t.Fatalf("host-local reads subnet %s, want %s", got, subnet)
	}
	if got, _ := netip.AddrFromSlice(r.Gateway); got.Unmap() != gateway {
		t.Fatalf("host-local reads gateway %s, want %s", r.Gateway, gateway)
	}
	if len(ipam.Routes) != 0 {
		t.Fatalf("host-local would install routes %+v; a secondary network installs none", ipam.Routes)
	}
}
