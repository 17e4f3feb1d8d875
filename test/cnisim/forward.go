package cnisim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Forwarder relays TCP connections made inside a namespace to an address
// reached from the machine's own network namespace, the way a node reaches
// the API server. It runs in the test process: its listening socket was
// created inside the namespace (and stays bound there), and each relayed
// connection is dialled from an ordinary goroutine, whose thread is in the
// machine's namespace. Nothing is configured on the machine's network, and
// the forwarder dies with the process that runs it.
type Forwarder struct {
	ln     net.Listener
	remote string

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
	once   sync.Once

	// Relayed counts the connections relayed so far.
	relayed int
}

// Forward listens on local inside the namespace and relays every
// connection to remote ("host:port"), dialled from the machine's network
// namespace. Bytes pass unchanged (TLS included). The namespace's removal
// closes the forwarder.
func (n *Namespace) Forward(ctx context.Context, local netip.AddrPort, remote string) (*Forwarder, error) {
	var ln net.Listener
	err := n.Do(func() error {
		var err error
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", local.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s in %s: %w", local, n.Name, err)
	}
	f := &Forwarder{ln: ln, remote: remote, conns: map[net.Conn]bool{}}
	if err := n.own(f); err != nil {
		ln.Close()
		return nil, err
	}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

// serve accepts until the listener closes.
func (f *Forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go f.relay(c)
	}
}

// relay copies between the accepted connection and a new one to remote
// until either side is done.
func (f *Forwarder) relay(in net.Conn) {
	defer f.wg.Done()
	out, err := (&net.Dialer{Timeout: 10 * time.Second}).Dial("tcp", f.remote)
	if err != nil {
		in.Close()
		return
	}
	if !f.track(in, out) {
		in.Close()
		out.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Pass the half-close on, so that request/response protocols see
		// the end of the request.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
	f.untrack(in, out)
	in.Close()
	out.Close()
}

// track records a relayed pair so that Close can end it; false once closed.
func (f *Forwarder) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	for _, c := range conns {
		f.conns[c] = true
	}
	f.relayed++
	return true
}

// untrack forgets a finished pair.
func (f *Forwarder) untrack(conns ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range conns {
		delete(f.conns, c)
	}
}

// Relayed is how many connections the forwarder has relayed.
func (f *Forwarder) Relayed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.relayed
}

// Addr is the address the forwarder listens on, inside its namespace.
func (f *Forwarder) Addr() netip.AddrPort {
	return f.ln.Addr().(*net.TCPAddr).AddrPort()
}

// Close stops listening, ends the connections being relayed and waits for
// them.
func (f *Forwarder) Close() error {
	var err error
	f.once.Do(func() {
		err = f.ln.Close()
		f.mu.Lock()
		f.closed = true
		for c := range f.conns {
			err = errors.Join(err, ignoreClosed(c.Close()))
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return err
}

// ignoreClosed drops the error of closing what is already closed.
func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
