// Package boc parses bags of cells that come from outside: a client's
// external message, a file, a fuzzer. tonutils-go's parser trusts the
// header: it panics on a bag with no roots or a truncated header and
// allocates by the declared cell and root counts before reading them, so a
// few crafted bytes crash or exhaust the process. Parse checks the header
// against the bytes first and turns any remaining parser panic into an
// error.
package boc

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

var magic = []byte{0xb5, 0xee, 0x9c, 0x72}

// Parse returns the only root of a serialized bag of cells; a bag with
// more than one root is refused (a message, a transaction or a contract is
// one cell tree).
func Parse(b []byte) (*cell.Cell, error) {
	roots, err := ParseMulti(b)
	if err != nil {
		return nil, err
	}
	if len(roots) != 1 {
		return nil, fmt.Errorf("boc: %d roots, want 1", len(roots))
	}
	return roots[0], nil
}

// ParseMulti returns every root of a serialized bag of cells (at least one).
func ParseMulti(b []byte) (roots []*cell.Cell, err error) {
	if err := checkHeader(b); err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			roots, err = nil, fmt.Errorf("boc: malformed: %v", p)
		}
	}()
	roots, err = cell.FromBOCMultiRoot(b)
	if err != nil {
		return nil, fmt.Errorf("boc: %w", err)
	}
	if len(roots) == 0 {
		return nil, errors.New("boc: no roots")
	}
	return roots, nil
}

// checkHeader checks the serialized_boc header (TL-B in crypto/tl/boc.tlb:
// magic, flags and size, off_bytes, cells, roots, absent, tot_cells_size,
// root_list, index) against the length of b.
func checkHeader(b []byte) error {
	if len(b) < 6 || !bytes.Equal(b[:4], magic) {
		return errors.New("boc: not a bag of cells (magic b5ee9c72)")
	}
	hasIndex := b[4]&0x80 != 0
	size, off := int(b[4]&7), int(b[5])
	if size < 1 || size > 4 || off < 1 || off > 8 {
		return fmt.Errorf("boc: size %d, off_bytes %d out of range", size, off)
	}
	head := 6 + 3*size + off
	if len(b) < head {
		return errors.New("boc: truncated header")
	}
	read := func(p, n int) (v uint64) {
		for _, c := range b[p : p+n] {
			v = v<<8 | uint64(c)
		}
		return v
	}
	n := uint64(len(b))
	cells, roots, data := read(6, size), read(6+size, size), read(6+3*size, off)
	switch {
	case roots == 0:
		return errors.New("boc: no roots")
	case roots > cells || cells > n || data > n:
		return fmt.Errorf("boc: header declares %d cells, %d roots, %d data bytes in %d bytes", cells, roots, data, n)
	case uint64(head)+roots*uint64(size) > n:
		return errors.New("boc: truncated root list")
	case hasIndex && uint64(head)+roots*uint64(size)+cells*uint64(off) > n:
		return errors.New("boc: truncated index")
	}
	return nil
}
