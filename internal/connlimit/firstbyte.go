package connlimit

import (
	"errors"
	"net"
	"sync"
)

// OnFirstByte wraps ln so that Accept hands over a connection only once its
// peer has sent its first byte. An HTTP server's header timeout then starts
// when a call does, not when the connection opens: a client that opens a
// connection before it has a call to send, and takes the connection's
// closing for the server's loss (Mesos's scheduler and executor libraries
// do both), keeps it however long it stays quiet, while headers sent
// slowly are still cut off. A connection waiting for its first byte holds
// a goroutine and its place in whatever limits ln applies (wrap a
// limiting listener, so that those limits bound the waiting connections);
// Close closes the waiting ones too.
func OnFirstByte(ln net.Listener) net.Listener {
	l := &firstByteListener{Listener: ln, ready: make(chan accepted), done: make(chan struct{}), waiting: map[net.Conn]struct{}{}}
	go l.acceptLoop()
	return l
}

type accepted struct {
	conn net.Conn
	err  error
}

type firstByteListener struct {
	net.Listener
	ready chan accepted
	done  chan struct{}
	once  sync.Once

	mu      sync.Mutex
	closed  bool
	waiting map[net.Conn]struct{}
}

// Accept returns the next connection that has sent something, or the
// error accepting from the wrapped listener.
func (l *firstByteListener) Accept() (net.Conn, error) {
	select {
	case a := <-l.ready:
		return a.conn, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the connections not yet handed over.
func (l *firstByteListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() {
		close(l.done)
		l.mu.Lock()
		l.closed = true
		for c := range l.waiting {
			_ = c.Close()
		}
		l.waiting = nil
		l.mu.Unlock()
	})
	return err
}

func (l *firstByteListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.ready <- accepted{err: err}:
			case <-l.done:
				return
			}
			// The server decides whether an error is worth another
			// Accept; one that is not makes it close this listener.
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !l.wait(c) {
			_ = c.Close()
			return
		}
		go l.awaitFirstByte(c)
	}
}

// wait records c as waiting for its first byte, unless the listener is
// closed.
func (l *firstByteListener) wait(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.waiting[c] = struct{}{}
	return true
}

func (l *firstByteListener) awaitFirstByte(c net.Conn) {
	var b [1]byte
	// A byte read with an error is handed over: the next Read repeats
	// the error.
	n, _ := c.Read(b[:])
	l.mu.Lock()
	delete(l.waiting, c)
	l.mu.Unlock()
	if n == 0 {
		_ = c.Close()
		return
	}
	select {
	case l.ready <- accepted{conn: &firstByteConn{Conn: c, first: b[0], unread: true}}:
	case <-l.done:
		_ = c.Close()
	}
}

// firstByteConn gives back the byte its listener read first.
type firstByteConn struct {
	net.Conn
	first  byte
	unread bool
}

// Read returns the first byte first, then what the connection reads.
func (c *firstByteConn) Read(p []byte) (int, error) {
	if c.unread && len(p) > 0 {
		c.unread = false
		p[0] = c.first
		return 1, nil
	}
	return c.Conn.Read(p)
}
