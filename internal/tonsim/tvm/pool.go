package tvm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// PoolOptions configure a Pool.
type PoolOptions struct {
	// Size is the number of instances (default runtime.NumCPU()). Each costs
	// ~20-30 MiB of wasm memory; more instances than cores buy nothing.
	Size int
	// Verbosity is the VM log verbosity of the pool's emulators.
	Verbosity int
	// MaxConfigsPerInstance bounds how many emulators (one per distinct
	// config) an instance keeps (default 4); the least recently used is
	// freed first.
	MaxConfigsPerInstance int
}

// Pool shares a fixed number of instances between goroutines. It is safe for
// concurrent use. Calls borrow an instance for their duration, so at most
// Size calls run at once and the rest wait (or give up when their context
// ends). Instances are created lazily, and an instance that trapped is
// discarded and replaced on next use.
type Pool struct {
	eng   *Engine
	opts  PoolOptions
	slots chan *slot // idle slots; a nil instance is created on borrow

	mu     sync.Mutex
	closed bool
	done   chan struct{} // closed by Close, wakes waiting borrowers
}

// slot is one pool seat: an instance and its emulators keyed by config hash
// (a given slot is used by one goroutine at a time).
type slot struct {
	in        *Instance
	emulators []*Emulator // most recently used last
}

// NewPool creates a pool over eng. Instances are created on first use.
func NewPool(eng *Engine, opts PoolOptions) *Pool {
	if opts.Size <= 0 {
		opts.Size = runtime.NumCPU()
	}
	if opts.MaxConfigsPerInstance <= 0 {
		opts.MaxConfigsPerInstance = 4
	}
	p := &Pool{eng: eng, opts: opts, slots: make(chan *slot, opts.Size), done: make(chan struct{})}
	for range opts.Size {
		p.slots <- &slot{}
	}
	return p
}

// Size returns the number of instances.
func (p *Pool) Size() int { return p.opts.Size }

// borrow takes an idle slot with a healthy instance.
func (p *Pool) borrow(ctx context.Context) (*slot, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	var s *slot
	select {
	case s = <-p.slots:
	case <-p.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.in != nil && s.in.Err() != nil {
		s.reset(ctx)
	}
	if s.in == nil {
		in, err := p.eng.NewInstance(ctx)
		if err != nil {
			p.slots <- s
			return nil, err
		}
		s.in = in
	}
	return s, nil
}

// release returns a slot; a broken instance is dropped right away so its
// memory is freed.
func (p *Pool) release(ctx context.Context, s *slot) {
	if s.in != nil && s.in.Err() != nil {
		s.reset(context.WithoutCancel(ctx))
	}
	p.slots <- s
}

func (s *slot) reset(ctx context.Context) {
	_ = s.in.Close(ctx)
	s.in, s.emulators = nil, nil
}

// emulator returns the slot's emulator for config, creating it if needed.
func (p *Pool) emulator(ctx context.Context, s *slot, config *cell.Cell) (*Emulator, error) {
	h := config.Hash()
	for i, em := range s.emulators {
		if string(em.configHash) == string(h) {
			copy(s.emulators[i:], s.emulators[i+1:])
			s.emulators[len(s.emulators)-1] = em
			return em, nil
		}
	}
	em, err := s.in.NewEmulator(ctx, config, p.opts.Verbosity)
	if err != nil {
		return nil, err
	}
	if len(s.emulators) >= p.opts.MaxConfigsPerInstance {
		_ = s.emulators[0].Close(ctx)
		s.emulators = s.emulators[1:]
	}
	s.emulators = append(s.emulators, em)
	return em, nil
}

// Emulate runs one message like Emulator.Emulate, on any idle instance,
// with that instance's emulator for config.
func (p *Pool) Emulate(ctx context.Context, config, shardAccount, msg *cell.Cell, params Params) (*Result, error) {
	if config == nil {
		return nil, errors.New("tvm: Pool.Emulate: nil config")
	}
	s, err := p.borrow(ctx)
	if err != nil {
		return nil, err
	}
	defer p.release(ctx, s)
	em, err := p.emulator(ctx, s, config)
	if err != nil {
		return nil, err
	}
	return em.Emulate(ctx, shardAccount, msg, params)
}

// RunGetMethod runs a get method on any idle instance.
func (p *Pool) RunGetMethod(ctx context.Context, params GetMethodParams) (*GetMethodResult, error) {
	s, err := p.borrow(ctx)
	if err != nil {
		return nil, err
	}
	defer p.release(ctx, s)
	return s.in.RunGetMethod(ctx, params)
}

// Close waits for borrowed instances to come back, then closes them all.
// Calls after Close fail with ErrClosed.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	var errs []error
	for range p.opts.Size {
		select {
		case s := <-p.slots:
			if s.in != nil {
				if err := s.in.Close(ctx); err != nil {
					errs = append(errs, err)
				}
			}
		case <-ctx.Done():
			return fmt.Errorf("tvm: pool close: %w", ctx.Err())
		}
	}
	return errors.Join(errs...)
}
