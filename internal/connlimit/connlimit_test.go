package connlimit

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// TestOnFirstByte: a connection is handed over only once it sends, with
// every byte it sent; closing the listener closes the connections still
// waiting, and Accept then fails as a closed listener does.
func TestOnFirstByte(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := OnFirstByte(inner)
	got := make(chan net.Conn, 2)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			got <- c
		}
	}()
	quiet, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	talking, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer talking.Close()
	if _, err := talking.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	select {
	case c = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("a connection that sent 5 bytes was not handed over")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || !bytes.Equal(b, []byte("hello")) {
		t.Fatalf("the handed-over connection read %q (%v), want \"hello\"", b, err)
	}
	select {
	case c := <-got:
		t.Fatalf("a connection that sent nothing was handed over: %v", c.RemoteAddr())
	case <-time.After(300 * time.Millisecond):
	}
	c.Close()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	_ = quiet.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := quiet.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("the waiting connection, after the listener closed: %v, want EOF", err)
	}
	select {
	case err := <-acceptErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Accept still blocked after Close")
	}
}

// TestPerIP: an address holds at most max connections; one that closes
// frees its place.
func TestPerIP(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := PerIP(inner, 2, logr.Discard())
	defer ln.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	first, _ := dial(), dial()
	var held []net.Conn
	for range 2 {
		select {
		case c := <-accepted:
			held = append(held, c)
		case <-time.After(5 * time.Second):
			t.Fatal("the first two connections were not accepted")
		}
	}
	third := dial()
	_ = third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("a third connection from the address: %v, want it closed", err)
	}
	first.Close()
	for _, c := range held {
		c.Close()
	}
	dial()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Error("a connection after the others closed was not accepted")
	}
}
