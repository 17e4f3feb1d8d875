package cnisim_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
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

// footprintLine starts the line on which the owner reports its footprint.
const footprintLine = "footprint: "

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
// alive), prints the node's footprint and waits to be killed.
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
	b, err := json.Marshal(node.Footprint())
	if err != nil {
		return fail(err)
	}
	fmt.Printf("%s%s\n", footprintLine, b)
	for {
		time.Sleep(time.Hour)
	}
}

// An owner killed with SIGKILL runs no Close and no deferred code; its
// watchdog must still remove the namespaces (and with them the bridge and
// veths), the temporary directory and itself, within cleanupBound.
func TestWatchdogCleansUpAfterTheOwnerIsKilled(t *testing.T) {
	dir := cnisim.PluginsDirForTest(t)
	owner, footprint := startOwner(t, dir)
	// Should the watchdog fail, this test must not leave its work behind.
	t.Cleanup(func() {
		if err := footprint.Clean(); err != nil {
			t.Error(err)
		}
	})

	mounted, _ := filepath.Glob(filepath.Join(footprint.NetnsDir, footprint.Prefix+"*"))
	if len(mounted) != 2 {
		t.Fatalf("the owner has namespaces %v, want its node and its pod", mounted)
	}
	if footprint.Leftovers() == nil {
		t.Fatal("Leftovers sees nothing while the owner's node exists, so it could not see leftovers either")
	}

	if err := owner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = owner.Wait()
	killed := time.Now()
	for {
		err := footprint.Leftovers()
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
func startOwner(t *testing.T, pluginsDir string) (*exec.Cmd, cnisim.Footprint) {
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
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if strings.HasPrefix(s.Text(), footprintLine) {
				lines <- strings.TrimPrefix(s.Text(), footprintLine)
				return
			}
		}
		close(lines)
	}()
	var footprint cnisim.Footprint
	select {
	case line, ok := <-lines:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("the owner exited without a footprint: %s", stderr.String())
		}
		if err := json.Unmarshal([]byte(line), &footprint); err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("no footprint from the owner within a minute: %s", stderr.String())
	}
	return cmd, footprint
}
