package cnisim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// nodeExec is the invoke.Exec libcni runs plugins with. It starts each
// plugin from a thread inside the node namespace: a child process starts in
// the network namespace of the thread that forks it, so the plugin's "host"
// is the node namespace, exactly as a runtime's plugin sees the real node.
type nodeExec struct {
	node   *Namespace
	stderr io.Writer
}

var _ invoke.Exec = (*nodeExec)(nil)

// ExecPlugin runs the plugin at path with stdin and environ, and returns its
// standard output. A plugin that fails returns the CNI error it printed,
// or its exit status and standard error.
func (e *nodeExec) ExecPlugin(ctx context.Context, path string, stdin []byte, environ []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = environ
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if e.stderr != nil {
		cmd.Stderr = io.MultiWriter(&stderr, e.stderr)
	}
	// If the owner dies mid-ADD, the plugin goes with it rather than keep
	// working in namespaces the watchdog is removing.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := e.node.Do(cmd.Run); err != nil {
		return nil, pluginError(path, err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// pluginError prefers the CNI error a plugin printed on standard output,
// which is what the specification says a failing plugin does.
func pluginError(path string, err error, stdout, stderr []byte) error {
	var cniErr types.Error
	if json.Unmarshal(stdout, &cniErr) == nil && (cniErr.Code != 0 || cniErr.Msg != "") {
		return &cniErr
	}
	return fmt.Errorf("%s: %w; stderr: %s", filepath.Base(path), err, bytes.TrimSpace(stderr))
}

// FindInPath finds a plugin binary as libcni's own exec does.
func (e *nodeExec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}

// Decode parses a plugin's VERSION answer.
func (e *nodeExec) Decode(b []byte) (version.PluginInfo, error) {
	var d version.PluginDecoder
	return d.Decode(b)
}
