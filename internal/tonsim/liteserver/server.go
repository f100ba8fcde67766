package liteserver

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/adnl"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/ton"
)

// FaultMode is a kind of injected liteserver misbehaviour.
type FaultMode string

// Fault modes: drop closes connections (and refuses new queries by closing),
// stall never answers, delay answers late, error answers with an LSError,
// lose_externals accepts sendMessage but never delivers the message (a
// liteserver that lost it).
const (
	FaultDrop          FaultMode = "drop"
	FaultStall         FaultMode = "stall"
	FaultDelay         FaultMode = "delay"
	FaultError         FaultMode = "error"
	FaultLoseExternals FaultMode = "lose_externals"
)

// Fault is one active fault.
type Fault struct {
	Mode  FaultMode
	Until time.Time
	Delay time.Duration // for FaultDelay
}

// Faults holds the faults in force; the zero value has none.
type Faults struct {
	mu     sync.Mutex
	active []Fault
}

// Inject adds a fault for d.
func (f *Faults) Inject(mode FaultMode, d, delay time.Duration) error {
	switch mode {
	case FaultDrop, FaultStall, FaultDelay, FaultError, FaultLoseExternals:
	default:
		return fmt.Errorf("unknown fault mode %q (want drop, stall, delay or error)", mode)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active = append(f.active, Fault{Mode: mode, Until: time.Now().Add(d), Delay: delay})
	return nil
}

// Clear removes all faults.
func (f *Faults) Clear() {
	f.mu.Lock()
	f.active = nil
	f.mu.Unlock()
}

// current returns the fault in force of the given mode, if any.
func (f *Faults) current(mode FaultMode) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	keep := f.active[:0]
	var found Fault
	ok := false
	for _, x := range f.active {
		if now.After(x.Until) {
			continue
		}
		keep = append(keep, x)
		if x.Mode == mode && !ok {
			found, ok = x, true
		}
	}
	f.active = keep
	return found, ok
}

// Active lists the faults still in force.
func (f *Faults) Active() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	var out []Fault
	for _, x := range f.active {
		if now.Before(x.Until) {
			out = append(out, x)
		}
	}
	return out
}

// errDropped tells the transport to close the connection.
var errDropped = errors.New("connection dropped by injected fault")

// serve answers q, applying faults. It returns errDropped when the
// connection must be closed.
func (h *Handler) serve(ctx context.Context, faults *Faults, q tl.Serializable) (tl.Serializable, error) {
	if faults != nil {
		if _, ok := faults.current(FaultDrop); ok {
			return nil, errDropped
		}
		if f, ok := faults.current(FaultStall); ok {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Until(f.Until)):
			}
		}
		if f, ok := faults.current(FaultDelay); ok {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(f.Delay):
			}
		}
		if _, ok := faults.current(FaultError); ok {
			return lsErr(codeError, "injected fault"), nil
		}
		if _, ok := q.(ton.SendMessage); ok {
			if _, lose := faults.current(FaultLoseExternals); lose {
				return ton.SendMessageStatus{Status: 1}, nil
			}
		}
	}
	return h.Handle(ctx, q), nil
}

// Server serves the liteserver protocol over ADNL TCP.
type Server struct {
	handler *Handler
	faults  *Faults
	key     ed25519.PrivateKey
	srv     *liteclient.Server

	mu      sync.Mutex
	clients map[*liteclient.ServerClient]struct{}
}

// NewServer creates a server with the given identity key.
func NewServer(h *Handler, faults *Faults, key ed25519.PrivateKey) *Server {
	s := &Server{handler: h, faults: faults, key: key, clients: map[*liteclient.ServerClient]struct{}{}}
	s.srv = liteclient.NewServer([]ed25519.PrivateKey{key})
	s.srv.SetConnectionHook(func(c *liteclient.ServerClient) error {
		if faults != nil {
			if _, ok := faults.current(FaultDrop); ok {
				return errDropped
			}
		}
		s.mu.Lock()
		s.clients[c] = struct{}{}
		s.mu.Unlock()
		return nil
	})
	s.srv.SetDisconnectHook(func(c *liteclient.ServerClient) {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
	})
	s.srv.SetMessageHandler(s.onMessage)
	return s
}

// PublicKey is the server's key as a global config lists it.
func (s *Server) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

func (s *Server) onMessage(ctx context.Context, c *liteclient.ServerClient, msg tl.Serializable) error {
	switch m := msg.(type) {
	case adnl.MessageQuery:
		q, ok := m.Data.(liteclient.LiteServerQuery)
		if !ok {
			return fmt.Errorf("unexpected adnl query %T", m.Data)
		}
		// Answer in a goroutine: the transport reads the next query only
		// after this returns, and waitMasterchainSeqno may block for long.
		go func() {
			ans, err := s.handler.serve(ctx, s.faults, q.Data)
			if err != nil {
				c.Close()
				return
			}
			_ = c.Send(adnl.MessageAnswer{ID: m.ID, Data: ans})
		}()
		return nil
	case liteclient.TCPAuthenticate:
		return c.Send(liteclient.TCPAuthenticationNonce{Nonce: make([]byte, 32)})
	case liteclient.TCPAuthenticationComplete:
		return nil
	case liteclient.TCPPing:
		if s.faults != nil {
			if _, ok := s.faults.current(FaultDrop); ok {
				return errDropped
			}
			if _, ok := s.faults.current(FaultStall); ok {
				return nil // a stalled server does not answer pings either
			}
		}
		return c.Send(liteclient.TCPPong(m))
	}
	return fmt.Errorf("unknown message %T", msg)
}

// Listen starts serving on addr ("127.0.0.1:0" picks a port) and returns the
// bound address.
func (s *Server) Listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("liteserver listen: %w", err)
	}
	bound := ln.Addr().String()
	_ = ln.Close() // liteclient.Server binds itself; reuse the chosen port
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Listen(bound) }()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			return "", fmt.Errorf("liteserver listen: %w", err)
		default:
		}
		if conn, err := net.DialTimeout("tcp", bound, 100*time.Millisecond); err == nil {
			_ = conn.Close()
			return bound, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("liteserver did not start on %s", bound)
}

// DropConnections closes every open client connection.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		c.Close()
	}
}

// Close stops the server.
func (s *Server) Close() error {
	s.DropConnections()
	return s.srv.Close()
}

// Endpoint is one liteserver of a global config.
type Endpoint struct {
	Addr string // IPv4 host:port
	Key  ed25519.PublicKey
}

// GlobalConfig is a global config JSON listing the liteservers, in order.
func GlobalConfig(servers ...Endpoint) (*liteclient.GlobalConfig, error) {
	if len(servers) == 0 {
		return nil, errors.New("a global config needs a liteserver")
	}
	list := make([]liteclient.LiteserverConfig, 0, len(servers))
	for _, s := range servers {
		host, portStr, err := net.SplitHostPort(s.Addr)
		if err != nil {
			return nil, err
		}
		ip := net.ParseIP(host).To4()
		if ip == nil {
			return nil, fmt.Errorf("liteserver address %s is not IPv4", s.Addr)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, err
		}
		ipInt := int64(int32(uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])))
		list = append(list, liteclient.LiteserverConfig{IP: ipInt, Port: port,
			ID: liteclient.ServerID{Type: "pub.ed25519", Key: base64.StdEncoding.EncodeToString(s.Key)}})
	}
	return &liteclient.GlobalConfig{Type: "config.global", Liteservers: list,
		DHT:       liteclient.DHTConfig{Type: "dht.config.global", StaticNodes: liteclient.DHTNodes{Type: "dht.nodes", Nodes: []liteclient.DHTNode{}}},
		Validator: liteclient.ValidatorConfig{Type: "validator.config.global", Hardforks: []liteclient.ConfigBlock{}},
	}, nil
}

// Client is an in-process ton.LiteClient. Queries and answers round-trip
// through TL serialisation exactly as on the wire.
type Client struct {
	handler *Handler
	faults  *Faults
}

// NewClient creates an in-process client.
func NewClient(h *Handler, faults *Faults) *Client { return &Client{handler: h, faults: faults} }

var _ ton.LiteClient = (*Client)(nil)

// QueryLiteserver implements ton.LiteClient.
func (c *Client) QueryLiteserver(ctx context.Context, payload tl.Serializable, result tl.Serializable) error {
	raw, err := tl.Serialize(liteclient.LiteServerQuery{Data: payload}, true)
	if err != nil {
		return fmt.Errorf("serialize query: %w", err)
	}
	var q tl.Serializable
	if _, err = tl.Parse(&q, raw, true); err != nil {
		return fmt.Errorf("parse query: %w", err)
	}
	ans, err := c.handler.serve(ctx, c.faults, q.(liteclient.LiteServerQuery).Data)
	if err != nil {
		return err
	}
	rb, err := tl.Serialize(ans, true)
	if err != nil {
		return fmt.Errorf("serialize answer: %w", err)
	}
	if _, err = tl.Parse(result, rb, true); err != nil {
		return fmt.Errorf("parse answer: %w", err)
	}
	return nil
}

// StickyContext implements ton.LiteClient.
func (c *Client) StickyContext(ctx context.Context) context.Context { return ctx }

// StickyContextNextNode implements ton.LiteClient; there is one node.
func (c *Client) StickyContextNextNode(ctx context.Context) (context.Context, error) {
	return ctx, errors.New("no more nodes")
}

// StickyContextNextNodeBalanced implements ton.LiteClient.
func (c *Client) StickyContextNextNodeBalanced(ctx context.Context) (context.Context, error) {
	return ctx, errors.New("no more nodes")
}

// StickyNodeID implements ton.LiteClient.
func (c *Client) StickyNodeID(ctx context.Context) uint32 { return 0 }
