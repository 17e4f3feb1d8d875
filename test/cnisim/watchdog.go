package cnisim

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// watchdogScript reads a line from its standard input, a pipe whose only
// writer is the owning process. "closed" means Close cleaned up and the
// watchdog exits without touching anything, so that a bug in Close shows
// in Leftovers instead of being mended here. Anything else, end of file
// above all, which comes when the kernel closes the pipe because the owner
// died, however it died (no polling, no PID to be reused), makes it remove
// the node's namespaces and directory. Its arguments name the prefix, so
// Leftovers sees it if it is still running.
const watchdogScript = `read -r line
[ "$line" = closed ] && exit 0
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

// stop ends the watchdog and waits for it to exit. If cleaned, the owner
// removed everything itself and the watchdog leaves at once; otherwise it
// removes what it can, as if the owner had died.
func (w *watchdog) stop(cleaned bool) error {
	if cleaned {
		_, _ = w.pipe.WriteString("closed\n")
	}
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
