package sinktest

import (
	"testing"

	"github.com/ton-custody/processor/internal/tcpproxy"
)

// Proxy is a TCP proxy between the code under test and a server (e.g. a
// RabbitMQ broker shared with other tests). Cut simulates the server going
// away for this test alone: every connection through the proxy is closed
// and new ones are refused, until Restore listens again on the same
// address, as a restarted server would.
type Proxy struct {
	*tcpproxy.Proxy
	tb testing.TB
}

// NewProxy starts a proxy on 127.0.0.1 to target (host:port); it is closed
// when the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := tcpproxy.New(target)
	if err != nil {
		tb.Fatalf("sinktest: %v", err)
	}
	tb.Cleanup(p.Close)
	return &Proxy{Proxy: p, tb: tb}
}

// Restore listens on the proxy's address again.
func (p *Proxy) Restore() {
	p.tb.Helper()
	if err := p.Proxy.Restore(); err != nil {
		p.tb.Fatalf("sinktest: %v", err)
	}
}
