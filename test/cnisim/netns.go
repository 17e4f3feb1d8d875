package cnisim

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where namespaces are bind-mounted: the directory `ip netns`
// uses, so that while a test runs `ip netns list` shows its namespaces and
// `ip -n NAME addr` inspects them.
const NetnsDir = "/run/netns"

// ErrNotPermitted is returned (wrapped) when this process may not create
// network namespaces.
var ErrNotPermitted = errors.New("creating network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)")

// Namespace is a named network namespace created by this package. Node and
// Pod embed it, so its methods (Do, Links, Routes, ServeTCP, DialTCP) are
// theirs.
type Namespace struct {
	// Name is the namespace's name as `ip netns list` shows it.
	Name string
	// Path is its bind mount, the value a runtime passes as CNI_NETNS.
	Path string

	handle ns.NetNS

	mu sync.Mutex
	// closers are the namespace's listening sockets (servers, forwarders),
	// closed before it is removed.
	closers []io.Closer
	removed bool
}

// createNamespace creates a network namespace and bind-mounts it at
// NetnsDir/name. Permission errors wrap ErrNotPermitted.
func createNamespace(name string) (*Namespace, error) {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return nil, permission(err)
	}
	path := filepath.Join(NetnsDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return nil, permission(err)
	}
	f.Close()
	if err := bindNewNetns(path); err != nil {
		_ = os.Remove(path)
		return nil, permission(err)
	}
	h, err := ns.GetNS(path)
	if err != nil {
		_ = unmountAndRemove(path)
		return nil, fmt.Errorf("opening namespace %s: %w", name, err)
	}
	return &Namespace{Name: name, Path: path, handle: h}, nil
}

// bindNewNetns moves a dedicated OS thread into a new network namespace and
// bind-mounts that namespace at path, which keeps it alive after the thread
// is gone. The thread stays locked, so the Go runtime ends it with the
// goroutine rather than reuse a thread that sits in another namespace.
func bindNewNetns(path string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mounting a new network namespace on %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	return <-errc
}

// permission wraps err with ErrNotPermitted when it is EPERM or EACCES.
func permission(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: %w", ErrNotPermitted, err)
	}
	return err
}

// Do runs f on an OS thread inside the namespace. Sockets f creates stay in
// the namespace after Do returns, and processes it starts run in it.
func (n *Namespace) Do(f func() error) error {
	return n.handle.Do(func(ns.NetNS) error { return f() })
}

// remove closes the namespace's sockets and its handle, then unmounts it.
// Once the last reference is gone the kernel destroys the namespace and
// every interface in it; a veth whose other end was in it goes as well.
// Sockets are closed first because a socket, too, keeps its namespace alive.
func (n *Namespace) remove() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.removed {
		return nil
	}
	n.removed = true
	var errs []error
	for _, c := range n.closers {
		errs = append(errs, c.Close())
	}
	n.closers = nil
	errs = append(errs, n.handle.Close())
	errs = append(errs, unmountAndRemove(n.Path))
	return errors.Join(errs...)
}

// unmountAndRemove undoes a namespace's bind mount, tolerating one that is
// already gone.
func unmountAndRemove(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// probeUnshare moves a throwaway OS thread into a new network namespace,
// which dies with the thread.
func probeUnshare() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends here
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		errc <- nil
	}()
	return <-errc
}
