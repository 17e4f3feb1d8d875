package cnisim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Server is a TCP listener in a namespace that answers every connection
// with its greeting (the namespace's name and the listening address), so a
// client can tell which namespace it reached.
type Server struct {
	ln       net.Listener
	greeting string
	wg       sync.WaitGroup
	once     sync.Once
}

// addrWait bounds how long ServeTCP waits for its address: DAD takes about
// a second, and an address that never appears is a failure to report, not
// a reason to hang until the test's -timeout.
const addrWait = 10 * time.Second

// ServeTCP listens on addr inside the namespace (port 0 picks one). It
// first waits, within ctx and addrWait, for the address to be usable (see
// WaitAddr). The namespace's removal closes the server.
func (n *Namespace) ServeTCP(ctx context.Context, addr netip.AddrPort) (*Server, error) {
	if !addr.Addr().IsUnspecified() {
		wctx, cancel := context.WithTimeout(ctx, addrWait)
		err := n.WaitAddr(wctx, addr.Addr())
		cancel()
		if err != nil {
			return nil, err
		}
	}
	var ln net.Listener
	err := n.Do(func() error {
		var err error
		// The socket is created here, on a thread inside the namespace,
		// and stays bound to it whichever thread accepts later.
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s in %s: %w", addr, n.Name, err)
	}
	s := &Server{ln: ln, greeting: n.Name + " " + ln.Addr().String()}
	if err := n.own(s); err != nil {
		ln.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// own makes c the namespace's to close on removal, unless it is removed
// already.
func (n *Namespace) own(c io.Closer) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.removed {
		return fmt.Errorf("namespace %s is removed", n.Name)
	}
	n.closers = append(n.closers, c)
	return nil
}

// serve answers connections until the listener closes.
func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, s.greeting+"\n")
		c.Close()
	}
}

// Addr is the address the server listens on.
func (s *Server) Addr() netip.AddrPort {
	ap := s.ln.Addr().(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Greeting is what the server sends on every connection.
func (s *Server) Greeting() string { return s.greeting }

// Close stops the server and waits for it.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		err = s.ln.Close()
		s.wg.Wait()
	})
	return err
}

// Reply is what DialTCP got back.
type Reply struct {
	// Greeting is the first line the server sent.
	Greeting string
	// Local is the client's end of the connection: its address shows
	// which interface the pod's routing chose.
	Local netip.AddrPort
}

// DialTCP connects from inside the namespace to addr and reads the
// server's greeting, within ctx (and at most 10 s).
func (n *Namespace) DialTCP(ctx context.Context, addr netip.AddrPort) (Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var conn net.Conn
	err := n.Do(func() error {
		var err error
		// A literal address makes one connection attempt, in this
		// goroutine, so the socket is created inside the namespace.
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr.String())
		return err
	})
	if err != nil {
		return Reply{}, fmt.Errorf("from %s to %s: %w", n.Name, addr, err)
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	b, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, io.EOF) {
		return Reply{}, fmt.Errorf("from %s to %s: reading: %w", n.Name, addr, err)
	}
	local := conn.LocalAddr().(*net.TCPAddr).AddrPort()
	return Reply{
		Greeting: strings.TrimSuffix(string(b), "\n"),
		Local:    netip.AddrPortFrom(local.Addr().Unmap(), local.Port()),
	}, nil
}
