package cnisim

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Footprint names everything a Node may leave behind, and what the
// machine's own network namespace looked like before it started. It is
// plain data (JSON-encodable), so that another process, for instance a test
// that killed the owner, can check it.
type Footprint struct {
	// Prefix starts the name of every namespace the node creates.
	Prefix string `json:"prefix"`
	// NetnsDir is where the namespaces are mounted.
	NetnsDir string `json:"netnsDir"`
	// Dir is the node's temporary directory.
	Dir string `json:"dir"`
	// Host is the machine's network state when the node was created.
	Host HostState `json:"host"`
}

// HostState is what this package must never change on the machine: the
// links, addresses and routes of its network namespace, its forwarding
// switches (which ptp and bridge turn on in their "host", the node), and
// the files under /var/lib/cni (host-local's and libcni's default places).
type HostState struct {
	Links    []string `json:"links"`
	Addrs    []string `json:"addrs"`
	Routes   []string `json:"routes"`
	Sysctls  []string `json:"sysctls"`
	CNIFiles []string `json:"cniFiles"`
}

// hostCNIDir is where plugins and libcni keep state by default.
const hostCNIDir = "/var/lib/cni"

// hostSysctls are the switches the plugins flip in the namespace they run in.
var hostSysctls = []string{"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"}

// snapshotHost records the calling thread's network namespace, which is the
// process's own unless the caller is inside Namespace.Do.
func snapshotHost() (HostState, error) {
	var h HostState
	ifaces, err := net.Interfaces()
	if err != nil {
		return h, err
	}
	for _, i := range ifaces {
		h.Links = append(h.Links, fmt.Sprintf("%d:%s", i.Index, i.Name))
		addrs, err := i.Addrs()
		if err != nil {
			return h, err
		}
		for _, a := range addrs {
			h.Addrs = append(h.Addrs, i.Name+" "+a.String())
		}
	}
	names := map[int]string{}
	for _, i := range ifaces {
		names[i.Index] = i.Name
	}
	// Every table, not only main: a stray local or policy route counts too.
	all := &netlink.Route{Table: unix.RT_TABLE_UNSPEC}
	routes, err := netlinksafe.RouteListFiltered(netlink.FAMILY_ALL, all, netlink.RT_FILTER_TABLE)
	if err != nil {
		return h, err
	}
	for _, r := range routes {
		for _, one := range readRoutes(r, names) {
			h.Routes = append(h.Routes, routeKey(one, r.Table))
		}
	}
	for _, s := range hostSysctls {
		b, err := os.ReadFile(filepath.Join("/proc/sys", s))
		if err == nil {
			h.Sysctls = append(h.Sysctls, s+"="+string(bytes.TrimSpace(b)))
		}
	}
	h.CNIFiles, err = listFiles(hostCNIDir)
	slices.Sort(h.Routes)
	return h, err
}

// routeKey identifies a route without its changing parts (expiry, cache).
func routeKey(r Route, table int) string {
	return fmt.Sprintf("table %d %s %s via %s dev %s", table, r.Type, r.Dst, r.Gateway, r.Dev)
}

// listFiles lists every path under dir; none if it does not exist.
func listFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// Leftovers returns an error listing whatever the node left behind: a
// namespace with its prefix, its directory, a process that names the prefix
// in its command line or environment (a watchdog, a plugin), and any
// difference in the machine's network namespace or /var/lib/cni since the
// node was created. Nil means clean. Call it from a thread outside any
// Namespace.Do.
func (f Footprint) Leftovers() error {
	var problems []string
	if f.Prefix == "" {
		return errors.New("empty footprint")
	}
	entries, _ := os.ReadDir(f.NetnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), f.Prefix) {
			problems = append(problems, "namespace "+filepath.Join(f.NetnsDir, e.Name()))
		}
	}
	if _, err := os.Lstat(f.Dir); !errors.Is(err, fs.ErrNotExist) {
		problems = append(problems, "directory "+f.Dir)
	}
	for _, p := range processesNaming(f.Prefix) {
		problems = append(problems, "process "+p)
	}
	now, err := snapshotHost()
	if err != nil {
		problems = append(problems, "reading the machine's network state: "+err.Error())
	}
	problems = append(problems, diff("machine's link", f.Host.Links, now.Links)...)
	problems = append(problems, diff("machine's address", f.Host.Addrs, now.Addrs)...)
	problems = append(problems, diff("machine's route", f.Host.Routes, now.Routes)...)
	problems = append(problems, diff("machine's sysctl", f.Host.Sysctls, now.Sysctls)...)
	problems = append(problems, diff("file", f.Host.CNIFiles, now.CNIFiles)...)
	if len(problems) > 0 {
		return fmt.Errorf("left behind by %s:\n  %s", f.Prefix, strings.Join(problems, "\n  "))
	}
	return nil
}

// diff describes what is in after but not before ("new") and the reverse
// ("gone").
func diff(what string, before, after []string) []string {
	var out []string
	for _, s := range after {
		if !slices.Contains(before, s) {
			out = append(out, fmt.Sprintf("new %s %s", what, s))
		}
	}
	for _, s := range before {
		if !slices.Contains(after, s) {
			out = append(out, fmt.Sprintf("gone: %s %s", what, s))
		}
	}
	return out
}

// processesNaming lists live processes whose command line or environment
// contains s. Zombies hold nothing and are skipped.
func processesNaming(s string) []string {
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		environ, _ := os.ReadFile(filepath.Join(d, "environ"))
		if !bytes.Contains(cmdline, []byte(s)) && !bytes.Contains(environ, []byte(s)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join(d, "stat")); err != nil || bytes.Contains(stat, []byte(") Z ")) {
			continue
		}
		found = append(found, filepath.Base(d)+": "+strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
	}
	return found
}

// Clean removes what Leftovers would find in NetnsDir and Dir, as the
// watchdog does, for a test that must not leave them even when the code
// under test failed to.
func (f Footprint) Clean() error {
	if f.Prefix == "" {
		return errors.New("empty footprint")
	}
	var errs []error
	entries, _ := os.ReadDir(f.NetnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), f.Prefix) {
			errs = append(errs, unmountAndRemove(filepath.Join(f.NetnsDir, e.Name())))
		}
	}
	if f.Dir != "" {
		errs = append(errs, os.RemoveAll(f.Dir))
	}
	return errors.Join(errs...)
}
