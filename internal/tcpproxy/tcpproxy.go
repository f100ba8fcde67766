// Package tcpproxy is a TCP proxy for fault tests: it stands between the
// code under test and a server shared with others (a RabbitMQ broker, ...)
// and takes that server away for this test alone. Cut closes every
// proxied connection and stops listening (new connections are refused, as
// by a server that is down); Restore listens on the same address again,
// as a restarted server would.
package tcpproxy

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards 127.0.0.1:<port> to a target host:port.
type Proxy struct {
	target, addr string

	mu     sync.Mutex
	ln     net.Listener      // nil while cut
	conns  map[net.Conn]bool // true: the client's side
	cut    int               // client connections closed by cuts
	closed bool
}

// New starts a proxy on 127.0.0.1 to target.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tcpproxy: listen: %w", err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// Cut closes every proxied connection and stops listening.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked()
}

func (p *Proxy) cutLocked() {
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c, client := range p.conns {
		_ = c.Close()
		if client {
			p.cut++
		}
	}
	clear(p.conns)
}

// Cuts is how many live client connections cuts have closed.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Restore listens on the proxy's address again (retrying for up to 10 s
// while the port is in TIME_WAIT or taken); nothing when it is up or
// closed.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil || p.closed {
		return nil
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.ln = ln
			go p.accept(ln)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tcpproxy: cannot listen on %s again: %w", p.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close cuts for good.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.cutLocked()
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.accept(ln)
}

func (p *Proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c, ln)
	}
}

// track registers c unless the listener it came through was cut meanwhile.
func (p *Proxy) track(c net.Conn, ln net.Listener, client bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil || p.ln != ln {
		return false
	}
	p.conns[c] = client
	return true
}

func (p *Proxy) pipe(client net.Conn, ln net.Listener) {
	if !p.track(client, ln, true) {
		_ = client.Close()
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil || !p.track(server, ln, false) {
		if server != nil {
			_ = server.Close()
		}
		_ = client.Close()
		return
	}
	var wg sync.WaitGroup
	for _, pair := range [][2]net.Conn{{server, client}, {client, server}} {
		wg.Go(func() {
			// Either side ending (or a cut) ends both.
			_, _ = io.Copy(pair[0], pair[1])
			_ = pair[0].Close()
			_ = pair[1].Close()
		})
	}
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}
