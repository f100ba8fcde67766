package boc_test

import (
	"bytes"
	"testing"

	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/boc"
)

func TestParseRoundTripsAndRefusesMalformed(t *testing.T) {
	c := cell.BeginCell().MustStoreUInt(0xdead, 16).MustStoreRef(cell.BeginCell().MustStoreUInt(1, 8).EndCell()).EndCell()
	for _, b := range [][]byte{c.ToBOC(), c.ToBOCWithFlags(false), c.ToBOCWithFlags(true, true)} {
		got, err := boc.Parse(b)
		if err != nil || !bytes.Equal(got.Hash(), c.Hash()) {
			t.Fatalf("%x: %v", b, err)
		}
	}
	two := cell.ToBOCWithFlags([]*cell.Cell{c, cell.BeginCell().MustStoreUInt(2, 8).EndCell()}, true)
	if _, err := boc.Parse(two); err == nil {
		t.Fatal("two roots accepted as one")
	}
	if roots, err := boc.ParseMulti(two); err != nil || len(roots) != 2 {
		t.Fatalf("two roots: %d %v", len(roots), err)
	}
	magic := []byte{0xb5, 0xee, 0x9c, 0x72}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"no roots":       append(append([]byte{}, magic...), 0x01, 0x01, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00),
		"huge root list": append(append([]byte{}, magic...), 0x04, 0x01, 0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x02),
		"truncated":      c.ToBOC()[:12],
		"size 0":         append(append([]byte{}, magic...), 0x00, 0x01, 0x01),
	} {
		if _, err := boc.Parse(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParse: Parse never panics and what it accepts serializes back to a
// bag that parses to the same root.
func FuzzParse(f *testing.F) {
	c := cell.BeginCell().MustStoreUInt(0xdead, 16).MustStoreRef(cell.BeginCell().MustStoreUInt(1, 8).EndCell()).EndCell()
	f.Add(c.ToBOC())
	f.Add(c.ToBOCWithFlags(true, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := boc.Parse(b)
		if err != nil {
			return
		}
		again, err := boc.Parse(root.ToBOC())
		if err != nil || !bytes.Equal(again.Hash(), root.Hash()) {
			t.Fatalf("%x does not round-trip: %v", b, err)
		}
	})
}
