package cnisim_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"

	"github.com/samplecrd/network-controller/test/cnisim"
)

// Two nodes plugged into a switch are on one layer-2 network through their
// uplinks: with addresses put on the uplinks (only here; a Macvlan Network
// needs none) one node reaches the other over TCP. The uplinks carry the
// MTU asked for, and the nodes' other links are untouched.
func TestSwitchJoinsNodesThroughTheirUplinks(t *testing.T) {
	sw := cnisim.NewSwitchForTest(t)
	a, b := cnisim.NewForTest(t), cnisim.NewForTest(t)
	ctx := t.Context()
	for _, n := range []*cnisim.Node{a, b} {
		if err := sw.Plug(n, "eth1", 1400); err != nil {
			t.Fatal(err)
		}
		l, ok, err := n.Link("eth1")
		if err != nil || !ok || l.Kind != "veth" || l.State != "UP" {
			t.Fatalf("%s: uplink %+v (%v, %v), want a veth that is up", n.Name, l, ok, err)
		}
		for _, a := range l.Addrs {
			if !a.Prefix.Addr().IsLinkLocalUnicast() {
				t.Fatalf("%s: uplink has %s; Plug gives it no address but IPv6's link-local one", n.Name, a.Prefix)
			}
		}
	}
	addrs := map[*cnisim.Node]netip.Prefix{a: netip.MustParsePrefix("198.18.99.1/24"), b: netip.MustParsePrefix("198.18.99.2/24")}
	for n, p := range addrs {
		err := n.Do(func() error {
			l, err := netlinksafe.LinkByName("eth1")
			if err != nil {
				return err
			}
			if l.Attrs().MTU != 1400 {
				t.Errorf("%s: uplink MTU %d, want 1400", n.Name, l.Attrs().MTU)
			}
			return netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv, err := b.ServeTCP(ctx, netip.AddrPortFrom(addrs[b].Addr(), 0))
	if err != nil {
		t.Fatal(err)
	}
	reply, err := a.DialTCP(ctx, srv.Addr())
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, a.Describe(), sw.Describe())
	}
	if reply.Greeting != srv.Greeting() || reply.Local.Addr() != addrs[a].Addr() {
		t.Fatalf("node a reached %q from %s, want %q from %s", reply.Greeting, reply.Local, srv.Greeting(), addrs[a].Addr())
	}
}

// A forwarder in a node relays what the node's plugins send to an address
// on the node's loopback to the same address on the machine's loopback,
// which the node cannot reach otherwise; it stops with the node.
func TestForwarderRelaysFromTheNodeToTheMachine(t *testing.T) {
	node := cnisim.NewForTest(t)
	ctx := t.Context()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the machine's loopback
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			line, _ := io.ReadAll(io.LimitReader(c, 64))
			_, _ = io.WriteString(c, "machine got "+string(line)+"\n")
			c.Close()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr).AddrPort()

	if _, err := node.DialTCP(ctx, addr); err == nil {
		t.Fatal("the node reaches the machine's loopback without a forwarder; the test would prove nothing")
	}
	fw, err := node.Forward(ctx, addr, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := exchange(ctx, node, addr, "hello")
	if err != nil || got != "machine got hello" {
		t.Fatalf("through the forwarder: %q, %v", got, err)
	}
	if fw.Relayed() != 1 {
		t.Errorf("relayed %d connections, want 1", fw.Relayed())
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := exchange(ctx, node, addr, "again"); err == nil {
		t.Error("the forwarder still relays after Close")
	}
}

// exchange sends msg from inside node to addr, half-closes and reads the
// answer.
func exchange(ctx context.Context, node *cnisim.Node, addr netip.AddrPort, msg string) (string, error) {
	var conn net.Conn
	err := node.Do(func() error {
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr.String())
		return err
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, msg); err != nil {
		return "", err
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(conn)
	return strings.TrimSpace(string(b)), err
}
