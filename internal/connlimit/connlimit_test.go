package connlimit

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// serve serves h on a Listener of limits on a loopback port, until the test
// ends.
func serve(t *testing.T, limits Limits, h http.Handler) (string, *Listener) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(inner, limits, logr.Discard())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 500 * time.Millisecond, IdleTimeout: -1, ConnState: l.ConnState}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
		<-served
	})
	return inner.Addr().String(), l
}

// dialFrom opens a connection from the loopback address from.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends a GET on c and returns the answer's status, or the error.
func get(c net.Conn) (int, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// closedByServer reports whether the server closed c within 5 s.
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// stillOpen reports whether c is open after a moment.
func stillOpen(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// waitFor waits up to 10 s for cond, checked under l's lock.
func waitFor(t *testing.T, l *Listener, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		l.mu.Lock()
		met := cond()
		l.mu.Unlock()
		if met {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

// TestAQuietConnectionStays: a connection that sends nothing for longer
// than the header timeout, new or kept alive, still answers; one whose
// headers stall is closed; the bytes a connection sends first reach the
// server whole.
func TestAQuietConnectionStays(t *testing.T) {
	addr, _ := serve(t, Limits{Max: 8, MaxPerAddress: 8}, ok)
	quiet := dialFrom(t, "127.0.0.1", addr)
	stalled := dialFrom(t, "127.0.0.1", addr)
	if _, err := io.WriteString(stalled, "GET / HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	for _, when := range []string{"new", "kept alive"} {
		time.Sleep(time.Second)
		if code, err := get(quiet); code != http.StatusOK {
			t.Fatalf("a call on a connection %s and quiet for 1 s: %d, %v; want 200", when, code, err)
		}
	}
	if !closedByServer(stalled) {
		t.Error("headers that stalled past the header timeout: the connection is still open")
	}
}

// TestQuietConnectionsLockNobodyOut: with every place taken by quiet
// connections, a caller with a call gets in, in the place of the
// connection quiet the longest of the address holding the most; the
// caller that keeps one quiet connection keeps it. An address over its
// bound is closed at once even then; with every connection carrying a
// call, a new one is closed at once rather than left waiting.
func TestQuietConnectionsLockNobodyOut(t *testing.T) {
	release := make(chan struct{})
	busy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			<-release
		}
	})
	addr, l := serve(t, Limits{Max: 4, MaxPerAddress: 3}, busy)
	keeper := dialFrom(t, "127.0.0.2", addr)
	if code, err := get(keeper); code != http.StatusOK { // then kept alive, quiet
		t.Fatalf("keeper's call: %d, %v", code, err)
	}
	hog := []net.Conn{dialFrom(t, "127.0.0.3", addr), dialFrom(t, "127.0.0.3", addr), dialFrom(t, "127.0.0.3", addr)}
	waitFor(t, l, "four connections counted", func() bool { return len(l.conns) == 4 })
	if over := dialFrom(t, "127.0.0.3", addr); !closedByServer(over) {
		t.Error("a fourth connection from an address bound to 3 was not closed")
	}
	caller := dialFrom(t, "127.0.0.4", addr)
	if code, err := get(caller); code != http.StatusOK {
		t.Fatalf("a call with every place taken by quiet connections: %d, %v; want 200", code, err)
	}
	if !closedByServer(hog[0]) {
		t.Error("the hog's first quiet connection stayed; want it closed to make room")
	}
	if !stillOpen(keeper) || !stillOpen(hog[1]) {
		t.Error("a connection other than the hog's longest quiet one was closed")
	}

	// Every place carries a call: a new connection is closed at once.
	for _, c := range []net.Conn{keeper, hog[1], hog[2]} {
		go func() { _, _ = io.WriteString(c, "GET /busy HTTP/1.1\r\nHost: x\r\n\r\n") }()
	}
	go func() { _, _ = io.WriteString(caller, "GET /busy HTTP/1.1\r\nHost: x\r\n\r\n") }()
	waitFor(t, l, "four calls being served", func() bool {
		for c := range l.conns {
			if c.quiet.Load() != 0 {
				return false
			}
		}
		return len(l.conns) == 4
	})
	if late := dialFrom(t, "127.0.0.5", addr); !closedByServer(late) {
		t.Error("with every connection carrying a call, a new one was left waiting; want it closed")
	}
	close(release)
}

// TestCloseClosesTheWaitingConnections: closing the Listener closes the
// connections that have not sent anything, and Accept then fails as a
// closed listener does.
func TestCloseClosesTheWaitingConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(inner, Limits{Max: 4, MaxPerAddress: 4}, logr.Discard())
	quiet := dialFrom(t, "127.0.0.1", inner.Addr().String())
	waitFor(t, l, "the connection counted", func() bool { return len(l.conns) == 1 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !closedByServer(quiet) {
		t.Error("a waiting connection stayed open after the listener closed")
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

// TestTheConnectionCanCloseItsSendingSide: the server's CloseWrite, before
// it closes a connection after an error, reaches the TCP connection.
func TestTheConnectionCanCloseItsSendingSide(t *testing.T) {
	var c net.Conn = &conn{Conn: &net.TCPConn{}}
	if _, ok := c.(interface{ CloseWrite() error }); !ok {
		t.Fatal("conn has no CloseWrite")
	}
}

// TestAQuietCallerKeepsItsConnection: when the address that fills the
// server has only busy connections, a newcomer is closed, not given the
// quiet connection of a caller holding one.
func TestAQuietCallerKeepsItsConnection(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	busy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			<-release
		}
	})
	addr, l := serve(t, Limits{Max: 4, MaxPerAddress: 3}, busy)
	keeper := dialFrom(t, "127.0.0.2", addr)
	if code, err := get(keeper); code != http.StatusOK {
		t.Fatalf("keeper's call: %d, %v", code, err)
	}
	for range 3 {
		go func() {
			_, _ = io.WriteString(dialFrom(t, "127.0.0.3", addr), "GET /busy HTTP/1.1\r\nHost: x\r\n\r\n")
		}()
	}
	waitFor(t, l, "three busy calls and the quiet keeper", func() bool {
		busy := 0
		for c := range l.conns {
			if c.quiet.Load() == 0 {
				busy++
			}
		}
		return len(l.conns) == 4 && busy == 3
	})
	if late := dialFrom(t, "127.0.0.4", addr); !closedByServer(late) {
		t.Error("a newcomer to a full server was not closed")
	}
	if !stillOpen(keeper) {
		t.Error("the keeper's quiet connection was closed for a newcomer, while another address filled the server")
	}
}

// TestAConnectionThatWakesIsNotQuiet: a kept-alive connection that has
// sent the first bytes of its next call carries a call: room is made by
// closing another.
func TestAConnectionThatWakesIsNotQuiet(t *testing.T) {
	addr, l := serve(t, Limits{Max: 2, MaxPerAddress: 2}, ok)
	a, b := dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.2", addr)
	for _, c := range []net.Conn{a, b} { // a quiet first, then b
		if code, err := get(c); code != http.StatusOK {
			t.Fatalf("a call: %d, %v", code, err)
		}
	}
	waitFor(t, l, "both quiet", func() bool {
		for c := range l.conns {
			if c.quiet.Load() == 0 {
				return false
			}
		}
		return len(l.conns) == 2
	})
	if _, err := io.WriteString(a, "GET / HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, l, "a's next call read", func() bool {
		for c := range l.conns {
			if c.quiet.Load() == 0 {
				return true
			}
		}
		return false
	})
	dialFrom(t, "127.0.0.4", addr)
	if !closedByServer(b) {
		t.Error("the quiet connection b stayed; want it closed to make room")
	}
	_ = a.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(a, "Host: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(bufio.NewReader(a), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the call a had started: %v, %v; want 200", resp, err)
	}
}
