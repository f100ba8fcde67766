package chain

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// acceptExec accepts every message and counts them.
type acceptExec struct{ calls int }

func (e *acceptExec) Execute(context.Context, *cell.Cell, *cell.Cell, ExecParams) (*ExecResult, error) {
	e.calls++
	return &ExecResult{Success: true}, nil
}
func (e *acceptExec) RunGetMethod(context.Context, GetMethodCall) (*GetMethodResult, error) {
	return &GetMethodResult{ExitCode: 11}, nil
}

func configWith43(t *testing.T, p43 *cell.Cell) *cell.Cell {
	t.Helper()
	d := testConfig(t).AsDict(32)
	if err := d.SetIntKey(big.NewInt(43), cell.BeginCell().MustStoreRef(p43).EndCell()); err != nil {
		t.Fatal(err)
	}
	return d.AsCell()
}

func TestSizeLimitsFromConfig(t *testing.T) {
	if l, err := SizeLimitsFromConfig(testConfig(t)); err != nil || l != DefaultSizeLimits() {
		t.Fatalf("without param 43: %+v, %v; want the defaults", l, err)
	}
	custom := SizeLimits{MaxMsgBits: 1000, MaxMsgCells: 10, MaxLibraryCells: 5, MaxVMDataDepth: 64, MaxExtMsgSize: 300, MaxExtMsgDepth: 16}
	if l, err := SizeLimitsFromConfig(configWith43(t, custom.Cell())); err != nil || l != custom {
		t.Fatalf("v1 round trip: %+v, %v", l, err)
	}
	// size_limits_config_v2 starts with the same fields; the tail varies
	// between node versions and tonsim does not read it.
	v2 := cell.BeginCell().MustStoreUInt(sizeLimitsV2, 8).
		MustStoreUInt(1000, 32).MustStoreUInt(10, 32).MustStoreUInt(5, 32).MustStoreUInt(64, 16).
		MustStoreUInt(300, 32).MustStoreUInt(16, 16).
		MustStoreUInt(1<<16, 32).MustStoreUInt(8, 8).EndCell()
	if l, err := SizeLimitsFromConfig(configWith43(t, v2)); err != nil || l != custom {
		t.Fatalf("v2: %+v, %v", l, err)
	}
	bad := cell.BeginCell().MustStoreUInt(0x04, 8).MustStoreUInt(0, 32).EndCell()
	if _, err := SizeLimitsFromConfig(configWith43(t, bad)); err == nil {
		t.Fatal("an unknown constructor was read")
	}
}

func extIn(t *testing.T, body *cell.Cell) []byte {
	t.Helper()
	c, err := tlb.ToCell(&tlb.ExternalMessage{DstAddr: address.NewAddress(0, 0, bytes.Repeat([]byte{0x42}, 32)), Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return c.ToBOCWithFlags(false)
}

// paddedBody is a body of distinct cells, payload bytes in all.
func paddedBody(payload int) *cell.Cell {
	var cells []*cell.Cell
	for i := 0; payload > 0; i++ {
		n := min(payload, 120)
		payload -= n
		data := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 60)[:n]
		cells = append(cells, cell.BeginCell().MustStoreSlice(data, uint(n)*8).EndCell())
	}
	// Four refs a cell, so that depth stays small.
	for len(cells) > 1 {
		var next []*cell.Cell
		for i := 0; i < len(cells); i += 4 {
			b := cell.BeginCell().MustStoreUInt(uint64(len(next)), 16)
			for _, c := range cells[i:min(i+4, len(cells))] {
				b.MustStoreRef(c)
			}
			next = append(next, b.EndCell())
		}
		cells = next
	}
	return cells[0]
}

func deepBody(n int) *cell.Cell {
	c := cell.BeginCell().EndCell()
	for i := 1; i < n; i++ {
		c = cell.BeginCell().MustStoreUInt(uint64(i), 16).MustStoreRef(c).EndCell()
	}
	return c
}

// The validator's limits, exactly at the boundaries: a BoC of
// max_ext_msg_size bytes and a root max_ext_msg_depth-1 deep pass; one byte
// or one level more is refused before anything runs.
func TestSendExternalSizeAndDepthBoundaries(t *testing.T) {
	ctx := context.Background()
	exec := &acceptExec{}
	c, err := New(Config{Blockchain: testConfig(t)}, exec, nil)
	if err != nil {
		t.Fatal(err)
	}
	lim := c.SizeLimits()
	lo, hi := 50_000, 70_000
	for lo+1 < hi {
		if mid := (lo + hi) / 2; len(extIn(t, paddedBody(mid))) <= int(lim.MaxExtMsgSize) {
			lo = mid
		} else {
			hi = mid
		}
	}
	at, over := extIn(t, paddedBody(lo)), extIn(t, paddedBody(hi))
	if len(at) != int(lim.MaxExtMsgSize) || len(over) != int(lim.MaxExtMsgSize)+1 {
		t.Fatalf("messages of %d and %d bytes, want %d and one more", len(at), len(over), lim.MaxExtMsgSize)
	}
	if err := c.SendExternal(ctx, over); !errors.Is(err, ErrExtMsgTooLarge) || exec.calls != 0 {
		t.Fatalf("%d bytes: %v (executed %d times)", len(over), err, exec.calls)
	}
	if err := c.SendExternal(ctx, at); err != nil {
		t.Fatalf("%d bytes: %v", len(at), err)
	}

	probe, _ := cell.FromBOC(extIn(t, deepBody(10)))
	base := int(probe.Depth()) - 9
	for _, tc := range []struct {
		depth int
		ok    bool
	}{{int(lim.MaxExtMsgDepth) - 1, true}, {int(lim.MaxExtMsgDepth), false}} {
		boc := extIn(t, deepBody(tc.depth-base+1))
		root, _ := cell.FromBOC(boc)
		if int(root.Depth()) != tc.depth {
			t.Fatalf("message depth %d, want %d", root.Depth(), tc.depth)
		}
		calls := exec.calls
		err := c.SendExternal(ctx, boc)
		if tc.ok && err != nil {
			t.Fatalf("depth %d: %v", tc.depth, err)
		}
		if !tc.ok && (!errors.Is(err, ErrExtMsgTooDeep) || exec.calls != calls) {
			t.Fatalf("depth %d: %v (executed: %v)", tc.depth, err, exec.calls != calls)
		}
	}

	// The limits come from config param 43.
	small := DefaultSizeLimits()
	small.MaxExtMsgSize = 1000
	c2, err := New(Config{Blockchain: configWith43(t, small.Cell())}, exec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.SendExternal(ctx, extIn(t, paddedBody(2000))); !errors.Is(err, ErrExtMsgTooLarge) {
		t.Fatalf("with max_ext_msg_size 1000: %v", err)
	}
}
