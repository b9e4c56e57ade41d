package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
)

// loopbackProxy forwards connections from a loopback port of the machine
// to an address inside the cluster's network namespaces (TLS passes
// through untouched), so that kubectl, helm and the tests reach the API
// server without any route into the cluster.
type loopbackProxy struct {
	ln     net.Listener
	netns  string
	target string
}

// newLoopbackProxy listens on a free 127.0.0.1 port.
func newLoopbackProxy(netns, target string) (*loopbackProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening on loopback: %w", err)
	}
	return &loopbackProxy{ln: ln, netns: netns, target: target}, nil
}

// addr is the proxy's loopback address.
func (p *loopbackProxy) addr() string { return p.ln.Addr().String() }

// serve forwards connections until ctx ends.
func (p *loopbackProxy) serve(ctx context.Context) {
	go func() { <-ctx.Done(); p.ln.Close() }()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(ctx, c)
	}
}

func (p *loopbackProxy) forward(ctx context.Context, c net.Conn) {
	defer c.Close()
	up, err := dialInNetns(ctx, p.netns, p.target)
	if err != nil {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
}
