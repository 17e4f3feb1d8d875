// Package apiserverproc finds and kills a kube-apiserver process, for the
// tests and benchmarks that take the API server away mid-run. envtest can
// stop its API server, but only gracefully, which takes long and varying
// times to drain the requests in flight; a kill starts the outage when the
// caller says, as a crash or a lost node would.
package apiserverproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// KillByCertDir sends SIGKILL to the kube-apiserver whose command line
// names certDir as its --cert-dir. envtest does not say which process is
// its API server, but it gives each its own certificate directory.
func KillByCertDir(certDir string) error {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return err
	}
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		argv := strings.Split(string(cmdline), "\x00")
		if filepath.Base(argv[0]) != "kube-apiserver" || !strings.Contains(string(cmdline), "\x00--cert-dir="+certDir+"\x00") {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return fmt.Errorf("killing kube-apiserver %d: %w", pid, err)
		}
		return nil
	}
	return errors.New("no kube-apiserver process with --cert-dir=" + certDir)
}
