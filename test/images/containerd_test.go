package images

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The images hack/images.sh writes, by file and name.
var builtImages = map[string]string{
	"pause.tar":      "localhost/pause:network-controller",
	"workload.tar":   "localhost/workload:network-controller",
	"controller.tar": "localhost/network-controller:dev",
}

// The applets hack/images.sh links in the workload image.
var applets = []string{"sh", "ip", "sleep", "cat", "ls", "nc", "ping", "wget", "hostname", "ifconfig", "route"}

// shimSocketDir is where containerd 1.6 puts its shims' sockets, whatever
// its configuration says.
const shimSocketDir = "/run/containerd/s"

// containerIDs are the containers a throwaway containerd runs; their shim
// sockets are known before they start, so the watchdog can remove them.
var containerIDs = []string{"workload", "pause", "controller", "controller-user"}

func TestImagesImportAndRunInContainerd(t *testing.T) {
	RequireRoot(t, "containerd", "ctr", "runc", "containerd-shim-runc-v2")
	dir := buildImages(t)
	c := startContainerd(t)

	for file, name := range builtImages {
		if out, err := c.ctr(t.Context(), "images", "import", filepath.Join(dir, file)); err != nil {
			t.Fatalf("ctr images import %s: %v\n%s", file, err, out)
		}
		t.Logf("imported %s as %s", file, name)
	}
	out, err := c.ctr(t.Context(), "images", "ls", "-q")
	if err != nil {
		t.Fatalf("ctr images ls: %v\n%s", err, out)
	}
	for _, name := range builtImages {
		if !slices.Contains(strings.Fields(out), name) {
			t.Errorf("ctr images ls does not list %s:\n%s", name, out)
		}
	}

	t.Run("workload runs busybox and has the applets", func(t *testing.T) {
		script := "for a in " + strings.Join(applets, " ") + "; do [ -x /bin/$a ] || echo missing $a; done; busybox echo ok"
		out, err := c.run(t.Context(), builtImages["workload.tar"], "workload", nil, "/bin/sh", "-c", script)
		if err != nil || strings.TrimSpace(out) != "ok" {
			t.Errorf("workload: %v, output %q, want ok", err, out)
		}
	})

	t.Run("pause runs until SIGTERM, then exits 0", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		run := c.command(ctx, c.runArgs(builtImages["pause.tar"], "pause", []string{"--rm"})...)
		var output bytes.Buffer
		run.Stdout, run.Stderr = &output, &output
		if err := run.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- run.Wait() }()
		running := false
		for deadline := time.Now().Add(20 * time.Second); !running && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			select {
			case err := <-done:
				t.Fatalf("pause ended before it was seen running: %v\n%s", err, output.String())
			default:
			}
			out, _ := c.ctr(ctx, "tasks", "ls")
			running = strings.Contains(out, "RUNNING") && strings.Contains(out, "pause")
		}
		if !running {
			_ = run.Process.Kill()
			<-done
			t.Fatalf("the pause task is not running after 20 s:\n%s", output.String())
		}
		if _, err := os.Stat(c.shimSocket("pause")); err != nil {
			t.Errorf("the shim's socket is not where the cleanup looks for it: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // a moment for it to misbehave
		select {
		case err := <-done:
			t.Fatalf("pause stopped on its own: %v\n%s", err, output.String())
		default:
		}
		start := time.Now()
		if out, err := c.ctr(ctx, "tasks", "kill", "-s", "SIGTERM", "pause"); err != nil {
			t.Fatalf("ctr tasks kill: %v\n%s", err, out)
		}
		if err := <-done; err != nil {
			t.Errorf("pause after SIGTERM: %v, want exit 0\n%s", err, output.String())
		}
		t.Logf("pause stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	})

	t.Run("controller runs its entrypoint as 65532:65532", func(t *testing.T) {
		// With no kubeconfig and no in-cluster environment the controller
		// stops at once, saying why: proof that the entrypoint is the
		// controller.
		out, err := c.run(t.Context(), builtImages["controller.tar"], "controller", nil)
		if err == nil || !strings.Contains(out, "unable to load in-cluster configuration") {
			t.Errorf("the controller's entrypoint: %v, output %q, want it to fail for want of a cluster", err, out)
		}
		// The image has no shell: borrow the static busybox that went
		// into the workload image.
		busybox := cmp.Or(os.Getenv("BUSYBOX"), "/bin/busybox")
		mount := []string{"--mount", "type=bind,src=" + busybox + ",dst=/busybox,options=rbind:ro"}
		out, err = c.run(t.Context(), builtImages["controller.tar"], "controller-user", mount, "/busybox", "sh", "-c",
			"/busybox id -u; /busybox id -g; /busybox ls -l /network-controller")
		if f := strings.Fields(out); err != nil || len(f) < 4 || f[0] != "65532" || f[1] != "65532" || !strings.HasPrefix(f[2], "-rwxr-xr-x") {
			t.Errorf("in the controller's image: %v, output %q, want uid and gid 65532 and /network-controller 0755", err, out)
		}
	})
}

// dieEnv, set to pause.tar's path, makes TestCleanupWhenTheTestDies the
// test that dies: it starts containerd and a pause container, prints its
// containerd's state as JSON and kills itself with SIGKILL.
const dieEnv = "NC_IMAGES_DIE_WITH"

// TestCleanupWhenTheTestDies runs a test that dies with containerd, a shim,
// a container, its rootfs mount and its cgroup in place, and checks that its
// watchdog leaves nothing of them behind.
func TestCleanupWhenTheTestDies(t *testing.T) {
	if tar := os.Getenv(dieEnv); tar != "" {
		c := startContainerd(t)
		if out, err := c.ctr(t.Context(), "images", "import", tar); err != nil {
			t.Fatalf("ctr images import: %v\n%s", err, out)
		}
		if out, err := c.ctr(t.Context(), c.runArgs(builtImages["pause.tar"], "pause", []string{"--detach", "--null-io"})...); err != nil {
			t.Fatalf("ctr run: %v\n%s", err, out)
		}
		mounted, _ := os.ReadFile("/proc/self/mounts")
		if _, err := os.Stat(c.shimSocket("pause")); err != nil || !bytes.Contains(mounted, []byte(c.dir+"/")) {
			t.Fatalf("the pause container has no shim socket (%v) or no mount under %s", err, c.dir)
		}
		state, _ := json.Marshal(dyingState{Dir: c.dir, Sock: c.sock, Cgroup: c.cgroup, Rmdirs: c.rmdirs})
		fmt.Printf("%s\n", state)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never reached
	}
	RequireRoot(t, "containerd", "ctr", "runc", "containerd-shim-runc-v2")
	dir := t.TempDir()
	if out, err := exec.CommandContext(t.Context(), "../../hack/images.sh", dir, "pause").CombinedOutput(); err != nil {
		t.Fatalf("hack/images.sh: %v\n%s", err, out)
	}
	child := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCleanupWhenTheTestDies$", "-test.count=1")
	child.Env = append(os.Environ(), dieEnv+"="+filepath.Join(dir, "pause.tar"))
	out, err := child.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the dying test ended with %v, want SIGKILL:\n%s", err, out)
	}
	var state dyingState
	if err := json.Unmarshal(bytes.TrimSpace(out), &state); err != nil || state.Dir == "" {
		t.Fatalf("the dying test's state %q: %v", out, err)
	}
	c := &containerd{dir: state.Dir, sock: state.Sock, cgroup: state.Cgroup, rmdirs: state.Rmdirs}
	start := time.Now()
	for c.leftovers() != nil && time.Since(start) < 30*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.leftovers(); err != nil {
		t.Fatalf("30 s after the test died, left behind: %v", err)
	}
	t.Logf("the watchdog had removed everything %v after the test died", time.Since(start).Round(time.Millisecond))
}

// dyingState is what the dying test tells about its containerd.
type dyingState struct {
	Dir, Sock, Cgroup string
	Rmdirs            []string
}

// buildImages runs hack/images.sh into a temporary directory and checks
// that it writes exactly the three tarballs and prints nothing.
func buildImages(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	start := time.Now()
	cmd := exec.CommandContext(t.Context(), "../../hack/images.sh", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("hack/images.sh: %v\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("hack/images.sh printed on stdout: %q", stdout.String())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		info, _ := e.Info()
		files = append(files, e.Name())
		t.Logf("%s: %d bytes", e.Name(), info.Size())
	}
	want := []string{"controller.tar", "pause.tar", "workload.tar"}
	if !slices.Equal(files, want) {
		t.Fatalf("hack/images.sh wrote %v, want %v", files, want)
	}
	t.Logf("hack/images.sh took %v", time.Since(start).Round(time.Millisecond))
	return dir
}

// containerd is a throwaway containerd: every path of its own (root, state,
// sockets, FIFOs, runc's root) in dir, its containers' cgroups under
// cgroup, and a watchdog that removes all of it when the test ends, or
// dies.
type containerd struct {
	dir, sock, cgroup string
	cmd               *exec.Cmd
	exited            chan struct{}
	watchdog          *exec.Cmd
	watchdogPipe      *os.File
	rmdirs            []string // made by this containerd: /run/containerd/s and its parent
}

// watchdogScript waits for its standard input, a pipe whose only writer is
// the test process, to reach end of file: when the test closes it after
// stopping containerd, or when the kernel closes it because the test died,
// however it died. Then it kills, by the process IDs in the pid files, in
// the containers' cgroups and of the processes whose arguments name the
// directory (the shims), whatever is still running, unmounts
// what is mounted under the directory, removes the directory, the
// containers' cgroups and the shims' sockets. It runs in a session of its
// own, so that a Ctrl-C or go test's kill of the test binary does not
// reach it, and it is the only cleanup, so every run of the test checks
// it.
const watchdogScript = `cat >/dev/null
dir=$1 cgroup=$2
for f in "$dir/containerd.pid" "$dir"/state/io.containerd.runtime.v2.task/*/*/init.pid; do
	[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
done
# The shims write no pid file; their arguments name the socket in $dir.
for p in /proc/[0-9]*; do
	[ "${p#/proc/}" = $$ ] && continue
	case $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) in
	*" $dir/"*) kill -9 "${p#/proc/}" 2>/dev/null ;;
	esac
done
for procs in /sys/fs/cgroup/*/"$cgroup"/*/cgroup.procs /sys/fs/cgroup/*/"$cgroup"/cgroup.procs; do
	[ -f "$procs" ] && for pid in $(cat "$procs"); do kill -9 "$pid" 2>/dev/null; done
done
for i in 1 2 3 4 5 6 7 8 9 10; do
	mounts=$(cut -d' ' -f2 /proc/self/mounts | grep "^$dir/" | sort -r)
	[ -z "$mounts" ] && break
	for m in $mounts; do umount "$m" 2>/dev/null || umount -l "$m"; done
done
rm -rf "$dir"
for i in 1 2 3 4 5 6 7 8 9 10; do
	left=
	for cg in /sys/fs/cgroup/*/"$cgroup"; do
		[ -d "$cg" ] && { find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || left=1; }
	done
	[ -z "$left" ] && break
	sleep 0.2
done
for s in $SOCKETS; do rm -f "$s"; done
for d in $RMDIRS; do rmdir "$d" 2>/dev/null; done
exit 0`

// startContainerd starts a throwaway containerd for t and its watchdog,
// and checks at the end of t that nothing of it is left.
func startContainerd(t *testing.T) *containerd {
	t.Helper()
	dir, err := os.MkdirTemp("", "nc-images-")
	if err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	c := &containerd{
		dir:    dir,
		sock:   filepath.Join(dir, "containerd.sock"),
		cgroup: "network-controller-images-" + hex.EncodeToString(suffix),
		exited: make(chan struct{}),
	}
	for _, d := range []string{shimSocketDir, filepath.Dir(shimSocketDir)} {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			c.rmdirs = append(c.rmdirs, d)
		}
	}
	if err := c.startWatchdog(); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Error(err)
		}
		if err := c.leftovers(); err != nil {
			t.Errorf("left behind: %v", err)
		}
	})
	// CRI is off: ctr needs none of it, and it would start a CNI watcher
	// and a sandbox image pull.
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc", filepath.Join(dir, "opt"))
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	c.cmd = exec.Command("containerd", "--config", configPath)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.exited) }()
	if err := os.WriteFile(filepath.Join(dir, "containerd.pid"), fmt.Appendf(nil, "%d\n", c.cmd.Process.Pid), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		if _, err := c.ctr(t.Context(), "version"); err == nil {
			break
		}
		select {
		case <-c.exited:
			t.Fatalf("containerd exited:\n%s", c.log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("containerd does not answer after 30 s:\n%s", c.log())
		}
	}
	t.Logf("containerd answered after %v", time.Since(start).Round(time.Millisecond))
	return c
}

func (c *containerd) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	var sockets []string
	for _, id := range containerIDs {
		sockets = append(sockets, c.shimSocket(id))
	}
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "images-watchdog", c.dir, c.cgroup)
	cmd.Env = append(os.Environ(), "SOCKETS="+strings.Join(sockets, " "), "RMDIRS="+strings.Join(c.rmdirs, " "))
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("starting the cleanup watchdog: %w", err)
	}
	c.watchdog, c.watchdogPipe = cmd, w
	return nil
}

// stop stops containerd (SIGTERM, then SIGKILL after 10 s), then lets the
// watchdog clean up and waits for it.
func (c *containerd) stop() error {
	var errs []error
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			errs = append(errs, errors.New("containerd did not stop within 10 s of SIGTERM"))
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.exited
		}
		// Its pid may be reused now: the watchdog must not kill it.
		_ = os.Remove(filepath.Join(c.dir, "containerd.pid"))
	}
	c.watchdogPipe.Close()
	done := make(chan error, 1)
	go func() { done <- c.watchdog.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			errs = append(errs, fmt.Errorf("cleanup watchdog: %w", err))
		}
	case <-time.After(30 * time.Second):
		errs = append(errs, errors.New("the cleanup watchdog did not finish within 30 s"))
	}
	return errors.Join(errs...)
}

// leftovers reports anything of this containerd still on the machine.
func (c *containerd) leftovers() error {
	var left []string
	if _, err := os.Stat(c.dir); err == nil {
		left = append(left, c.dir)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], c.dir+"/") {
			left = append(left, "mount "+f[1])
		}
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/" + c.cgroup)
	left = append(left, cgroups...)
	for _, id := range containerIDs {
		if _, err := os.Lstat(c.shimSocket(id)); err == nil {
			left = append(left, c.shimSocket(id))
		}
	}
	for _, d := range c.rmdirs {
		if _, err := os.Stat(d); err == nil {
			left = append(left, d)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if cmdline, err := os.ReadFile(p); err == nil && bytes.Contains(cmdline, []byte(c.dir)) {
			left = append(left, "process "+filepath.Base(filepath.Dir(p))+": "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	if len(left) > 0 {
		return errors.New(strings.Join(left, "; "))
	}
	return nil
}

// shimSocket is where containerd 1.6 puts the socket of container id's
// shim: /run/containerd/s/ and the sha256 of its address, namespace and id.
func (c *containerd) shimSocket(id string) string {
	sum := sha256.Sum256([]byte(filepath.Join(c.sock, "k8s.io", id)))
	return filepath.Join(shimSocketDir, hex.EncodeToString(sum[:]))
}

// command is ctr against this containerd, in the namespace the kubelet uses.
func (c *containerd) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ctr", append([]string{"--address", c.sock, "--namespace", "k8s.io"}, args...)...)
}

func (c *containerd) ctr(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := c.command(ctx, args...).CombinedOutput()
	return string(out), err
}

// runArgs are ctr's arguments to run image as container id with flags,
// its FIFOs, runc's state and its cgroup where the watchdog looks for
// them. With no args the image's entrypoint runs.
func (c *containerd) runArgs(image, id string, flags []string, args ...string) []string {
	a := []string{"run", "--fifo-dir", filepath.Join(c.dir, "fifo"), "--runc-root", filepath.Join(c.dir, "runc"),
		"--cgroup", "/" + c.cgroup + "/" + id}
	a = append(a, flags...)
	return append(append(a, image, id), args...)
}

// run runs image as container id, removed when it exits, and returns its
// output.
func (c *containerd) run(ctx context.Context, image, id string, flags []string, args ...string) (string, error) {
	return c.ctr(ctx, c.runArgs(image, id, append([]string{"--rm"}, flags...), args...)...)
}

func (c *containerd) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "containerd.log"))
	var last []string
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		last = append(last, s.Text())
		if len(last) > 20 {
			last = last[1:]
		}
	}
	return strings.Join(last, "\n")
}
