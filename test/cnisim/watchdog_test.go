package cnisim_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samplecrd/network-controller/pkg/cni"
	"github.com/samplecrd/network-controller/test/cnisim"
)

// ownerEnv makes the test binary act as the owner process that
// TestWatchdogCleansUpAfterTheOwnerIsKilled kills.
const ownerEnv = "CNISIM_TEST_OWNER"

// footprintLine starts the line on which the owner reports its node's
// footprint, switchLine the one with its switch's.
const (
	footprintLine = "footprint: "
	switchLine    = "switch footprint: "
)

// cleanupBound is how long the watchdog may take once its owner is dead.
const cleanupBound = 10 * time.Second

func TestMain(m *testing.M) {
	if os.Getenv(ownerEnv) != "" {
		os.Exit(runOwner())
	}
	os.Exit(m.Run())
}

// runOwner sets up a node and a pod with the Network attached, holding a
// listening socket in the pod (which alone would keep its namespace
// alive), and a switch the node is plugged into, with a forwarder in the
// node (another such socket); it prints both footprints and waits to be
// killed.
func runOwner() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "owner:", err); return 1 }
	node, err := cnisim.New(cnisim.Options{PluginsDir: os.Getenv(cnisim.PluginsDirEnv)})
	if err != nil {
		return fail(err)
	}
	defer node.Close() // only if something below fails
	ctx := context.Background()
	pod, err := node.NewPod(ctx, "a")
	if err != nil {
		return fail(err)
	}
	conf, err := cni.Render(networkNamespace, networkName, netip.MustParsePrefix("198.18.5.0/24"), netip.MustParseAddr("198.18.5.1"))
	if err != nil {
		return fail(err)
	}
	a, err := pod.Attach(ctx, net1, conf)
	if err != nil {
		return fail(err)
	}
	if _, err := pod.ServeTCP(ctx, netip.AddrPortFrom(a.Addrs()[0].Addr(), 0)); err != nil {
		return fail(err)
	}
	sw, err := cnisim.NewSwitch()
	if err != nil {
		return fail(err)
	}
	defer sw.Close() // only if something below fails
	if err := sw.Plug(node, "eth1", 0); err != nil {
		return fail(err)
	}
	if _, err := node.Forward(ctx, netip.MustParseAddrPort("127.0.0.1:6443"), "127.0.0.1:1"); err != nil {
		return fail(err)
	}
	b, err := json.Marshal(sw.Footprint())
	if err != nil {
		return fail(err)
	}
	fmt.Printf("%s%s\n", switchLine, b)
	b, err = json.Marshal(node.Footprint())
	if err != nil {
		return fail(err)
	}
	fmt.Printf("%s%s\n", footprintLine, b)
	for {
		time.Sleep(time.Hour)
	}
}

// An owner killed with SIGKILL runs no Close and no deferred code; its
// watchdogs must still remove the namespaces (and with them the bridges,
// veths and uplinks), the temporary directories and themselves, within
// cleanupBound; the forwarder, a socket of the owner, dies with it.
func TestWatchdogCleansUpAfterTheOwnerIsKilled(t *testing.T) {
	dir := cnisim.PluginsDirForTest(t)
	owner, footprint, switchFootprint := startOwner(t, dir)
	// Should the watchdog fail, this test must not leave its work behind.
	t.Cleanup(func() {
		for _, f := range []cnisim.Footprint{footprint, switchFootprint} {
			if err := f.Clean(); err != nil {
				t.Error(err)
			}
		}
	})

	mounted, _ := filepath.Glob(filepath.Join(footprint.NetnsDir, footprint.Prefix+"*"))
	if len(mounted) != 2 {
		t.Fatalf("the owner has namespaces %v, want its node and its pod", mounted)
	}
	if mounted, _ := filepath.Glob(filepath.Join(switchFootprint.NetnsDir, switchFootprint.Prefix+"*")); len(mounted) != 1 {
		t.Fatalf("the owner has switch namespaces %v, want one", mounted)
	}
	for _, f := range []cnisim.Footprint{footprint, switchFootprint} {
		if f.Leftovers() == nil {
			t.Fatal("Leftovers sees nothing while the owner's node and switch exist, so it could not see leftovers either")
		}
	}

	if err := owner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = owner.Wait()
	killed := time.Now()
	for {
		err := errors.Join(footprint.Leftovers(), switchFootprint.Leftovers())
		if err == nil {
			t.Logf("clean %v after SIGKILL", time.Since(killed).Round(time.Millisecond))
			return
		}
		if time.Since(killed) > cleanupBound {
			t.Fatalf("%v after SIGKILL: %v", cleanupBound, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startOwner starts this test binary as the owner and reads its footprint.
// The owner dies with this process (Pdeathsig), and then its watchdog
// cleans up after both.
func startOwner(t *testing.T, pluginsDir string) (*exec.Cmd, cnisim.Footprint, cnisim.Footprint) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), ownerEnv+"=1", cnisim.PluginsDirEnv+"="+pluginsDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Pdeathsig fires when the forking thread ends, not this process, and
	// Go ends the threads this package's namespace code leaves locked:
	// fork from a locked thread that lives until the test ends.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		started <- cmd.Start()
		<-t.Context().Done()
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan [2]string, 1)
	go func() {
		var sw string
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if strings.HasPrefix(s.Text(), switchLine) {
				sw = strings.TrimPrefix(s.Text(), switchLine)
			}
			if strings.HasPrefix(s.Text(), footprintLine) {
				lines <- [2]string{strings.TrimPrefix(s.Text(), footprintLine), sw}
				return
			}
		}
		close(lines)
	}()
	var footprint, switchFootprint cnisim.Footprint
	select {
	case line, ok := <-lines:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("the owner exited without a footprint: %s", stderr.String())
		}
		if err := json.Unmarshal([]byte(line[0]), &footprint); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(line[1]), &switchFootprint); err != nil {
			t.Fatalf("switch footprint %q: %v", line[1], err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("no footprint from the owner within a minute: %s", stderr.String())
	}
	return cmd, footprint, switchFootprint
}
