package cnisim

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
)

// switchBridge is the bridge inside a Switch's namespace.
const switchBridge = "switch"

// Switch is a network namespace holding a bridge: the layer-2 network that
// the nodes' uplinks are plugged into, as a real cluster's node NICs are
// plugged into a switch. A Network that spans nodes (macvlan on the uplink)
// carries pods' traffic from node to node through it; nothing else is on
// it, and it has no address.
//
// Like a Node it has its own namespace prefix and temporary directory, a
// watchdog that removes them if the owner dies without Close, and a
// Footprint for Leftovers.
type Switch struct {
	*Namespace

	dir       string
	footprint Footprint
	watchdog  *watchdog

	mu     sync.Mutex
	ports  int
	closed bool
}

// NewSwitch creates a switch: it snapshots the machine's network namespace,
// starts the watchdog, then creates the switch's namespace with the bridge
// up. Call Close when done. Errors from missing privileges wrap
// ErrNotPermitted.
func NewSwitch() (s *Switch, err error) {
	host, err := snapshotHost()
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("ncsim-%d-%s-", os.Getpid(), randomHex(3))
	dir, err := os.MkdirTemp("", prefix+"*")
	if err != nil {
		return nil, err
	}
	s = &Switch{dir: dir, footprint: Footprint{Prefix: prefix, NetnsDir: NetnsDir, Dir: dir, Host: host}}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
			s = nil
		}
	}()
	if s.watchdog, err = startWatchdog(s.footprint); err != nil {
		return s, err
	}
	if s.Namespace, err = createNamespace(prefix + "switch"); err != nil {
		return s, err
	}
	err = s.Do(func() error {
		if err := setLoopbackUp(); err != nil {
			return err
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: switchBridge}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("adding the bridge: %w", err)
		}
		return netlink.LinkSetUp(br)
	})
	if err != nil {
		return s, fmt.Errorf("setting up the switch: %w", err)
	}
	return s, nil
}

// Plug connects node to the switch with a veth pair whose node end is the
// node's uplink, named uplink and brought up without an address, and whose
// other end is a port of the switch's bridge. mtu sets both ends' MTU (0:
// the kernel's default, 1500). The link goes with either namespace.
func (s *Switch) Plug(node *Node, uplink string, mtu int) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("switch is closed")
	}
	s.ports++
	port := fmt.Sprintf("port%d", s.ports)
	s.mu.Unlock()

	err := s.Do(func() error {
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: port, MTU: mtu},
			PeerName:      uplink,
			PeerMTU:       uint32(mtu),
			PeerNamespace: netlink.NsFd(int(node.handle.Fd())),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("adding veth %s/%s: %w", port, uplink, err)
		}
		l, err := netlinksafe.LinkByName(port)
		if err != nil {
			return err
		}
		br, err := netlinksafe.LinkByName(switchBridge)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetMaster(l, br); err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		return fmt.Errorf("plugging %s into the switch: %w", node.Name, err)
	}
	return node.Do(func() error {
		l, err := netlinksafe.LinkByName(uplink)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
		return waitOperUp(uplink)
	})
}

// operUpTimeout bounds how long Plug waits for the uplink's carrier. The
// kernel reports a new link's operational state asynchronously, at most
// about once a second per link, so "set up" is not yet "up".
const operUpTimeout = 5 * time.Second

// waitOperUp waits, in the calling thread's namespace, until the link
// name's operational state is up.
func waitOperUp(name string) error {
	deadline := time.Now().Add(operUpTimeout)
	for {
		l, err := netlinksafe.LinkByName(name)
		if err != nil {
			return err
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is %s, not up, %v after it was set up", name, l.Attrs().OperState, operUpTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Footprint describes everything the switch may leave behind; see
// Leftovers.
func (s *Switch) Footprint() Footprint { return s.footprint }

// Close removes the switch's namespace (and with it the bridge and its
// ports, whose veths take the nodes' uplinks with them) and directory, and
// stops the watchdog. Close is idempotent.
func (s *Switch) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	var errs []error
	if s.Namespace != nil {
		errs = append(errs, s.remove())
	}
	errs = append(errs, os.RemoveAll(s.dir))
	err := errors.Join(errs...)
	if s.watchdog != nil {
		err = errors.Join(err, s.watchdog.stop(err == nil))
	}
	return err
}
