// Package connlimit bounds the connections an HTTP server holds for callers
// it does not trust: how many one address holds, and when a connection
// starts to count against the server's read timeouts.
package connlimit

import (
	"net"
	"sync"

	"github.com/go-logr/logr"
)

// perIPListener closes at once each connection from an address that already
// holds max open connections, so that one caller (on a node, one pod: each
// has its own address) cannot take every connection the server accepts.
type perIPListener struct {
	net.Listener
	max int
	log logr.Logger

	mu    sync.Mutex
	count map[string]int
}

// PerIP wraps ln to hold at most max (positive) connections per address;
// log says at verbosity 1 which connections it refuses.
func PerIP(ln net.Listener, max int, log logr.Logger) net.Listener {
	return &perIPListener{Listener: ln, max: max, log: log, count: map[string]int{}}
}

// Accept returns the next connection whose address is under the bound.
func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		n := l.count[ip]
		if n < l.max {
			l.count[ip] = n + 1
		}
		l.mu.Unlock()
		if n < l.max {
			return &perIPConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		l.log.V(1).Info("refusing a connection: too many from one address", "address", ip, "limit", l.max)
		_ = c.Close()
	}
}

func (l *perIPListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count[ip]--; l.count[ip] <= 0 {
		delete(l.count, ip)
	}
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

// perIPConn gives its address's slot back when it closes.
type perIPConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot, once.
func (c *perIPConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
