package cnisim

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// watchdogScript waits until its standard input, a pipe whose only writer
// is the owning process, reaches end of file, then removes the node's
// namespaces and directory. End of file comes when the owner closes the
// pipe (Close, after doing the same work itself) or when the kernel closes
// it because the owner died, however it died, with no polling and no PID
// to be reused. Its arguments name the prefix, so Leftovers sees it if it
// is still running.
const watchdogScript = `read -r _
for ns in "$1/$2"*; do
	[ -e "$ns" ] || continue
	umount -l "$ns" 2>/dev/null
	rm -f "$ns"
done
rm -rf "$3"`

// watchdog is the detached cleanup process of one node.
type watchdog struct {
	cmd  *exec.Cmd
	pipe *os.File
	done chan error
}

// startWatchdog starts the cleanup process for f in its own session, so
// that a Ctrl-C to the terminal's process group or go test's kill of the
// test binary does not reach it. Its output goes to /dev/null: go test
// would otherwise wait for it to close the test binary's output.
func startWatchdog(f Footprint) (*watchdog, error) {
	r, w, err := os.Pipe() // close-on-exec: no plugin inherits the writer
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "cnisim-watchdog", f.NetnsDir, f.Prefix, f.Dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("starting the cleanup watchdog: %w", err)
	}
	wd := &watchdog{cmd: cmd, pipe: w, done: make(chan error, 1)}
	go func() { wd.done <- cmd.Wait() }()
	return wd, nil
}

// stop lets the watchdog run (what is left to remove is nothing, normally)
// and waits for it to exit.
func (w *watchdog) stop() error {
	w.pipe.Close()
	select {
	case err := <-w.done:
		if err != nil {
			return fmt.Errorf("cleanup watchdog: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("cleanup watchdog did not exit within 10 s of Close")
	}
}
