package chain

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// gateExec accepts every message at sendMessage; once armed, the next
// emulation (the round's) waits until released, and from then on every
// message is dropped.
type gateExec struct {
	armed, released  atomic.Bool
	entered, release chan struct{}
}

func (e *gateExec) Execute(context.Context, *cell.Cell, *cell.Cell, ExecParams) (*ExecResult, error) {
	if e.armed.CompareAndSwap(true, false) {
		close(e.entered)
		<-e.release
		e.released.Store(true)
	}
	if e.released.Load() {
		return nil, errors.New("dropped by the test")
	}
	return &ExecResult{Success: true}, nil
}

func (e *gateExec) RunGetMethod(context.Context, GetMethodCall) (*GetMethodResult, error) {
	return &GetMethodResult{ExitCode: 11}, nil
}

// A liteserver answers queries and accepts messages while validators make
// the next block. tonsim held its chain lock for a whole round (mostly
// emulation), so every query waited for the block being made: clients
// measured tonsim's rounds, not their own work.
// startGatedRound queues one message and starts a round that stops while
// it emulates it, until exec.release is closed; produced reports the
// round's end.
func startGatedRound(t *testing.T) (c *Chain, exec *gateExec, before uint32, produced chan error) {
	t.Helper()
	exec = &gateExec{entered: make(chan struct{}), release: make(chan struct{})}
	c, err := New(Config{Blockchain: testConfig(t)}, exec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendExternal(context.Background(), extIn(t, paddedBody(10))); err != nil {
		t.Fatal(err)
	}
	before = c.Last().ID.SeqNo
	exec.armed.Store(true)
	produced = make(chan error, 1)
	go func() {
		_, err := c.ProduceBlock(context.Background())
		produced <- err
	}()
	select {
	case <-exec.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the round never emulated the queued message")
	}
	return c, exec, before, produced
}

func TestQueriesAreAnsweredWhileABlockIsMade(t *testing.T) {
	c, exec, before, produced := startGatedRound(t)
	ctx := context.Background()
	answered := make(chan error, 1)
	go func() {
		last := c.Last()
		if last.ID.SeqNo != before {
			answered <- errors.New("the head moved before the round ended")
			return
		}
		if _, err := c.MasterBySeqno(before); err != nil {
			answered <- err
			return
		}
		answered <- c.SendExternal(ctx, extIn(t, paddedBody(20)))
	}()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		close(exec.release)
		t.Fatal("queries and sendMessage waited for the block being made")
	}
	close(exec.release)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if got := c.Last().ID.SeqNo; got != before+1 {
		t.Fatalf("head %d after the round, want %d", got, before+1)
	}
}

// A collator takes external messages from the mempool when it starts a
// block; one that arrives while the block is made goes in a later block.
// tonsim's round kept taking messages that arrived while it emulated, so
// under a steady stream of sends one round (and its block) grew for as
// long as the stream lasted and nothing was visible until it ended.
func TestMessagesArrivingDuringARoundWaitForTheNext(t *testing.T) {
	c, exec, _, produced := startGatedRound(t)
	err := c.SendExternal(context.Background(), extIn(t, paddedBody(20)))
	during := c.QueueLen() // the round's message and the new one
	close(exec.release)
	if err != nil {
		t.Fatal(err)
	}
	if during != 2 {
		t.Errorf("%d messages waiting while the round runs, want 2 (its own and the one sent meanwhile)", during)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if n := c.QueueLen(); n != 1 {
		t.Fatalf("%d messages wait after the round, want 1: the one sent during the round was taken into it", n)
	}
}
