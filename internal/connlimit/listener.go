// Package connlimit bounds the connections an HTTP server holds for
// callers it does not trust, without closing a quiet connection that a
// caller keeps on purpose.
//
// Mesos's scheduler and executor libraries open the connection for their
// calls when they connect, may send nothing on it for a long time (before
// their first call, and between calls), and take its closing for the
// master's or the agent's loss. A server for them cannot close a
// connection for being quiet, and a bound that quiet connections fill
// would let a few callers that open connections and send nothing keep
// every other caller out. So a Listener:
//
//   - hands a connection to the server only once it has sent its first
//     byte, so that the server's header timeout starts with a call, not
//     with the connection;
//   - closes at once a connection from an address that already holds its
//     bound;
//   - when the server holds its bound of connections, makes room for a new
//     one by closing the connection that has been quiet the longest of the
//     address holding the most connections, when that address holds at
//     least two more than the new one's: a caller that keeps one or two
//     quiet connections loses them only to a newcomer from an address
//     holding far fewer, never to the address that fills the server. When
//     that address has no quiet connection, the new one is closed at once,
//     never left waiting.
//
// A connection is quiet while it waits for its first byte, and while the
// server waits for its next call (http.StateIdle: the server must pass
// Listener.ConnState as its ConnState) until it reads the call's first
// bytes.
package connlimit

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Limits bound the connections a Listener holds.
type Limits struct {
	// Max bounds the open connections, all addresses together.
	Max int
	// MaxPerAddress bounds the open connections from one address.
	MaxPerAddress int
}

// Listener holds connections within Limits; see the package comment.
type Listener struct {
	inner  net.Listener
	limits Limits
	log    logr.Logger
	ready  chan *conn
	failed chan error // the inner listener's failure for good
	done   chan struct{}
	once   sync.Once

	mu      sync.Mutex
	closed  bool
	conns   map[*conn]struct{}
	perAddr map[string]int
	// quietSeq orders the quiet connections: the lower, the longer quiet.
	quietSeq uint64
}

// Listen returns a Listener of inner's connections within limits (each at
// least 1); log says at verbosity 1 which connections it closes and why.
func Listen(inner net.Listener, limits Limits, log logr.Logger) *Listener {
	l := &Listener{inner: inner, limits: limits, log: log, ready: make(chan *conn), failed: make(chan error, 1), done: make(chan struct{}),
		conns: map[*conn]struct{}{}, perAddr: map[string]int{}}
	go l.acceptLoop()
	return l
}

// Accept returns the next connection that has sent something, or the
// inner listener's failure.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.failed:
		l.failed <- err // for the next Accept too
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Addr is the address listened on.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Close stops accepting and closes the connections not yet handed over;
// those handed over are the server's to close.
func (l *Listener) Close() error {
	err := l.inner.Close()
	l.once.Do(func() {
		close(l.done)
		l.mu.Lock()
		l.closed = true
		var waiting []*conn
		for c := range l.conns {
			if !c.handed {
				waiting = append(waiting, c)
			}
		}
		l.mu.Unlock()
		for _, c := range waiting {
			_ = c.Close()
		}
	})
	return err
}

// ConnState is the server's http.Server.ConnState: it tells the Listener
// when a connection handed over waits for its next call.
func (l *Listener) ConnState(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	switch s {
	case http.StateIdle:
		l.setQuiet(c, true)
	case http.StateActive:
		l.setQuiet(c, false)
	}
}

func (l *Listener) setQuiet(c *conn, quiet bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !quiet {
		c.quiet.Store(0)
		return
	}
	l.quietSeq++
	c.quiet.Store(l.quietSeq)
}

func (l *Listener) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := l.inner.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			// As http.Server does: a temporary failure (out of file
			// descriptors, for one) is waited out; any other ends the
			// server at its next Accept.
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.log.V(1).Info("accepting a connection failed; trying again", "error", err.Error(), "delay", delay)
				select {
				case <-time.After(delay):
				case <-l.done:
					return
				}
				continue
			}
			l.failed <- err
			return
		}
		delay = 0
		if c := l.admit(nc); c != nil {
			go l.awaitFirstByte(c)
		}
	}
}

// admit counts nc in, making room for it, or closes it and returns nil.
func (l *Listener) admit(nc net.Conn) *conn {
	addr := remoteIP(nc)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = nc.Close()
		return nil
	}
	if l.perAddr[addr] >= l.limits.MaxPerAddress {
		l.mu.Unlock()
		l.log.V(1).Info("closing a connection: too many from one address", "address", addr, "limit", l.limits.MaxPerAddress)
		_ = nc.Close()
		return nil
	}
	var evicted *conn
	if len(l.conns) >= l.limits.Max {
		evicted = l.quietestLocked(l.perAddr[addr])
		if evicted == nil {
			l.mu.Unlock()
			l.log.V(1).Info("closing a connection: the server is full, and the address holding the most has no quiet one to give up", "address", addr, "limit", l.limits.Max)
			_ = nc.Close()
			return nil
		}
		l.releaseLocked(evicted)
	}
	l.quietSeq++
	c := &conn{Conn: nc, l: l, addr: addr}
	c.quiet.Store(l.quietSeq)
	l.conns[c] = struct{}{}
	l.perAddr[addr]++
	l.mu.Unlock()
	if evicted != nil {
		l.log.V(1).Info("closing the longest quiet connection of the address holding the most, to make room", "address", evicted.addr, "limit", l.limits.Max)
		_ = evicted.Conn.Close()
	}
	return c
}

// quietestLocked returns the connection quiet the longest of the
// addresses holding the most connections, when they hold at least two
// more than the newcomer's address (which holds has), or nil.
func (l *Listener) quietestLocked(has int) *conn {
	most := 0
	for _, n := range l.perAddr {
		most = max(most, n)
	}
	if most < has+2 {
		return nil
	}
	var best *conn
	var bestQuiet uint64
	for c := range l.conns {
		q := c.quiet.Load()
		if q == 0 || l.perAddr[c.addr] != most {
			continue
		}
		if best == nil || q < bestQuiet {
			best, bestQuiet = c, q
		}
	}
	return best
}

// releaseLocked stops counting c, once.
func (l *Listener) releaseLocked(c *conn) {
	if c.released {
		return
	}
	c.released = true
	delete(l.conns, c)
	if l.perAddr[c.addr]--; l.perAddr[c.addr] <= 0 {
		delete(l.perAddr, c.addr)
	}
}

func (l *Listener) awaitFirstByte(c *conn) {
	// A byte read with an error is handed over: the next Read repeats
	// the error.
	n, _ := c.Conn.Read(c.first[:])
	if n == 0 {
		_ = c.Close()
		return
	}
	c.unread = true
	c.quiet.Store(0)
	l.mu.Lock()
	c.handed = true
	l.mu.Unlock()
	select {
	case l.ready <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// conn is a connection the Listener counts, which gives back the byte the
// Listener read first.
type conn struct {
	net.Conn
	l    *Listener
	addr string

	first [1]byte
	// unread is written before the hand-over, and then read only by the
	// server's reader of the connection; handed too, under l.mu.
	unread, handed bool

	// quiet is 0 while the connection carries a call, else when it became
	// quiet (Listener.quietSeq, written under l.mu); a read of the next
	// call's bytes zeroes it.
	quiet atomic.Uint64
	// released, guarded by l.mu, is whether it is no longer counted.
	released bool
}

// Read returns the first byte first, then what the connection reads. A
// connection the server reads from carries a call.
func (c *conn) Read(p []byte) (int, error) {
	if c.unread && len(p) > 0 {
		c.unread = false
		p[0] = c.first[0]
		return 1, nil
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.handed {
		c.quiet.Store(0)
	}
	return n, err
}

// Close closes the connection and stops counting it.
func (c *conn) Close() error {
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite closes the connection's sending side when it has one (TCP),
// as the server does before it closes a connection after an error, so
// that the caller reads the answer before the connection ends.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
