package podrefs

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseNetworkStatus(t *testing.T) {
	ips := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	// cluster is the cluster network's entry, as Multus writes it first.
	const cluster = `{"name":"kindnet","interface":"eth0","ips":["10.244.1.5"],"mac":"aa:bb:cc:dd:ee:ff","default":true,"dns":{}}`
	tests := []struct {
		name       string
		annotation string
		want       []Attachment
		wantErr    string
	}{
		{"no annotation lists nothing", "", nil, ""},
		{"the cluster network alone lists nothing", "[" + cluster + "]", nil, ""},
		{"each secondary network is listed with its interface and IPs", "[" + cluster +
			`,{"name":"net/blue","interface":"net1","ips":["198.18.0.5","2001:db8::5"],"mac":"02:00:00:00:00:01","dns":{}}` +
			`,{"name":"pods/red","interface":"net2","ips":["198.19.0.9"]}]`,
			[]Attachment{
				{Network: "net/blue", Interface: "net1", IPs: ips("198.18.0.5", "2001:db8::5")},
				{Network: "pods/red", Interface: "net2", IPs: ips("198.19.0.9")},
			}, ""},
		{"an entry named without a namespace is in the pod's", `[{"name":"blue","interface":"net1"}]`,
			[]Attachment{{Network: "pods/blue", Interface: "net1"}}, ""},
		{"an entry without interface or IPs is still an attachment", `[{"name":"net/blue"}]`,
			[]Attachment{{Network: "net/blue"}}, ""},
		{"an address with a prefix length is the address", `[{"name":"net/blue","ips":["198.18.0.5/24"]}]`,
			[]Attachment{{Network: "net/blue", IPs: ips("198.18.0.5")}}, ""},
		{"an IPv4 address written as IPv6 is the IPv4 address, with or without a prefix length", `[{"name":"net/blue","ips":["::ffff:198.18.0.5","::ffff:198.18.0.6/120"]}]`,
			[]Attachment{{Network: "net/blue", IPs: ips("198.18.0.5", "198.18.0.6")}}, ""},
		{"other fields are ignored", `[{"name":"net/blue","device-info":{"type":"pci"},"gateway":["198.18.0.1"],"mtu":1400}]`,
			[]Attachment{{Network: "net/blue"}}, ""},

		{"text that is not JSON is refused", "net/blue", nil, "not a JSON list"},
		{"a null entry is refused", `[null]`, nil, "entry 1 is null"},
		{"an entry without a name is refused", `[{"interface":"net1"}]`, nil, "entry 1: no network name"},
		{"a name no object can have is refused", `[{"name":"net/Blue"}]`, nil, "network name"},
		{"a bad IP is refused", `[{"name":"net/blue","ips":["198.18.0.500"]}]`, nil, `"198.18.0.500" is not an IP address`},
		{"an IP with a zone is refused", `[{"name":"net/blue","ips":["fe80::1%eth0"]}]`, nil, "is not an IP address"},
		{"an interface name Linux cannot have is refused", `[{"name":"net/blue","interface":"net 1"}]`, nil, "is not an interface name"},
		{"a 16-byte interface name is refused", `[{"name":"net/blue","interface":"` + strings.Repeat("i", 16) + `"}]`, nil, "is not an interface name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNetworkStatus(tt.annotation, "pods")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || got != nil {
					t.Fatalf("ParseNetworkStatus(%q) = %+v, %v; want only an error saying %q", tt.annotation, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseNetworkStatus(%q) = %+v, %v; want %+v", tt.annotation, got, err, tt.want)
			}
		})
	}
}

// FuzzParseNetworkStatus holds ParseNetworkStatus to its contract on any
// text: nothing with an error, valid keys and addresses otherwise, and
// what it returns, written back as network-status, reads back the same.
func FuzzParseNetworkStatus(f *testing.F) {
	for _, s := range []string{
		"", "[]", "null", `[null]`, `[{"name":"kindnet","default":true}]`,
		`[{"name":"net/blue","interface":"net1","ips":["198.18.0.5","2001:db8::5/64"]}]`,
		`[{"name":"blue"}]`, `[{"name":"net/Blue"}]`, `[{"name":"a/b","ips":["::ffff:198.18.0.1"]}]`, `[{"name":"a/b","ips":["::ffff:198.18.0.1/120"]}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, annotation string) {
		got, err := ParseNetworkStatus(annotation, "pods")
		if err != nil {
			if got != nil {
				t.Fatalf("ParseNetworkStatus(%q) returned %+v with error %v", annotation, got, err)
			}
			return
		}
		var entries []map[string]any
		for _, a := range got {
			ns, name, ok := strings.Cut(a.Network, "/")
			if !ok || networkKeyErr(ns, name) != nil {
				t.Fatalf("ParseNetworkStatus(%q) key %q is not namespace/name", annotation, a.Network)
			}
			var ips []string
			for _, ip := range a.IPs {
				if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() {
					t.Fatalf("ParseNetworkStatus(%q) address %v", annotation, ip)
				}
				ips = append(ips, ip.String())
			}
			entries = append(entries, map[string]any{"name": a.Network, "interface": a.Interface, "ips": ips})
		}
		text, err := json.Marshal(entries)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseNetworkStatus(string(text), "elsewhere")
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("%+v of %q reads back as %+v, %v", got, annotation, again, err)
		}
	})
}
