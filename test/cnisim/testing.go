package cnisim

import (
	"os"
	"strconv"
	"testing"
)

// PluginsDirEnv names the environment variable that gives tests the
// plugins' directory: CNI_PLUGINS_DIR="$(hack/cni/install.sh)".
const PluginsDirEnv = "CNI_PLUGINS_DIR"

// NewForTest returns a Node for a test, closed at the end of the test and
// then checked with Footprint.Leftovers; either failing fails the test, and
// then Footprint.Clean removes what is left. It applies PluginsDirForTest's
// rule first.
func NewForTest(t testing.TB) *Node {
	t.Helper()
	n, err := New(Options{PluginsDir: PluginsDirForTest(t)})
	if err != nil {
		t.Fatalf("cnisim: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("cnisim: closing the node: %v", err)
		}
		if err := n.Footprint().Leftovers(); err != nil {
			t.Errorf("cnisim: %v", err)
			if err := n.Footprint().Clean(); err != nil {
				t.Errorf("cnisim: cleaning up after the node: %v", err)
			}
		}
	})
	return n
}

// PluginsDirForTest returns the plugins' directory for a test that needs
// root and the plugins, or ends the test. Under go test -short it skips.
// Otherwise, when the directory is not given or incomplete, or network
// namespaces cannot be created, it skips with one line saying why, except
// under CI=true, where it fails: CI must not pass by skipping.
func PluginsDirForTest(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("cnisim: skipped under -short (needs root and the CNI plugins; make test-cni runs it)")
	}
	dir := os.Getenv(PluginsDirEnv)
	if dir == "" {
		unavailable(t, PluginsDirEnv+" is not set; make test-cni sets it to the output of hack/cni/install.sh")
	}
	if err := CheckPlugins(dir); err != nil {
		unavailable(t, err.Error())
	}
	if err := CanCreateNamespaces(); err != nil {
		unavailable(t, err.Error())
	}
	return dir
}

// unavailable skips the test, or fails it under CI=true.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("cnisim: cannot run, and CI=true, so this fails rather than skips: %s", why)
	}
	t.Skipf("cnisim: skipped: %s", why)
}

// CanCreateNamespaces reports whether this process may create network
// namespaces and mount them in NetnsDir, without creating one that
// outlives the call. Its errors wrap ErrNotPermitted when privileges are
// what is missing.
func CanCreateNamespaces() error {
	if err := probeUnshare(); err != nil {
		return permission(err)
	}
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return permission(err)
	}
	f, err := os.CreateTemp(NetnsDir, ".cnisim-probe-*")
	if err != nil {
		return permission(err)
	}
	f.Close()
	return permission(os.Remove(f.Name()))
}

// NewSwitchForTest returns a Switch for a test, closed at the end of the
// test and then checked with Footprint.Leftovers, like NewForTest's node.
// Ask for it before the nodes plugged into it, so that it is closed after
// them. It applies PluginsDirForTest's rule first.
func NewSwitchForTest(t testing.TB) *Switch {
	t.Helper()
	PluginsDirForTest(t)
	s, err := NewSwitch()
	if err != nil {
		t.Fatalf("cnisim: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("cnisim: closing the switch: %v", err)
		}
		if err := s.Footprint().Leftovers(); err != nil {
			t.Errorf("cnisim: %v", err)
			if err := s.Footprint().Clean(); err != nil {
				t.Errorf("cnisim: cleaning up after the switch: %v", err)
			}
		}
	})
	return s
}
