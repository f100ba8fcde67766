package tvm

import (
	"errors"
	"fmt"
)

// This file reads just enough of the WebAssembly binary format to learn
// what wazero does not expose: which function sits at each slot of the
// function table (needed because experimental/table.LookupFunction panics on
// imported functions, which emscripten also places in the table) and which
// global is emscripten's stack pointer. It also rewrites the export section
// to export that global, so the host can save and restore the stack pointer
// around invoke_* without a call into wasm.

// Wasm section ids.
const (
	secImport  = 2
	secTable   = 4
	secGlobal  = 6
	secExport  = 7
	secElement = 9
)

// Import/export kinds.
const (
	kindFunc   = 0
	kindTable  = 1
	kindMemory = 2
	kindGlobal = 3
)

// moduleInfo is what the host needs to know about the emulator module.
type moduleInfo struct {
	// importedFuncs is the number of imported functions: function index i
	// below it is import number i, which the host implements itself.
	importedFuncs uint32
	// importedGlobals is the number of imported globals; the first defined
	// global therefore has index importedGlobals.
	importedGlobals uint32
	// firstGlobalMutableI32 reports whether the first defined global is a
	// mutable i32 (a stack pointer candidate).
	firstGlobalMutableI32 bool
	// table0 maps each initialised slot of table 0 to a function index
	// (-1 for ref.null).
	table0 map[uint32]int64
	// table0Size is the initial size of table 0 (0 if imported or absent).
	table0Size uint32
}

var errTruncated = errors.New("wasm: truncated binary")

// wasmReader is a bounds-checked cursor over a wasm binary.
type wasmReader struct {
	b   []byte
	pos int
}

func (r *wasmReader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *wasmReader) uleb() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("wasm: LEB128 too long")
}

func (r *wasmReader) sleb() (int64, error) {
	var v int64
	var shift uint
	for {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
		if shift >= 64 {
			return 0, errors.New("wasm: LEB128 too long")
		}
	}
}

func (r *wasmReader) skip(n uint64) error {
	if uint64(len(r.b)-r.pos) < n {
		return errTruncated
	}
	r.pos += int(n)
	return nil
}

// skipName skips a length-prefixed name.
func (r *wasmReader) skipName() error {
	n, err := r.uleb()
	if err != nil {
		return err
	}
	return r.skip(n)
}

// skipLimits skips a limits structure (flags bit 0: has max; bit 2: 64-bit).
func (r *wasmReader) skipLimits() (min uint64, err error) {
	flags, err := r.byte()
	if err != nil {
		return 0, err
	}
	if min, err = r.uleb(); err != nil {
		return 0, err
	}
	if flags&1 != 0 {
		if _, err = r.uleb(); err != nil {
			return 0, err
		}
	}
	return min, nil
}

// section is one top-level section of a wasm binary.
type section struct {
	id         byte
	start, end int // whole section including id and size
	body       []byte
}

func sections(w []byte) ([]section, error) {
	if len(w) < 8 || string(w[:4]) != "\x00asm" {
		return nil, errors.New("wasm: bad magic")
	}
	r := &wasmReader{b: w, pos: 8}
	var out []section
	for r.pos < len(w) {
		start := r.pos
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.uleb()
		if err != nil {
			return nil, err
		}
		bodyStart := r.pos
		if err := r.skip(size); err != nil {
			return nil, err
		}
		out = append(out, section{id: id, start: start, end: r.pos, body: w[bodyStart:r.pos]})
	}
	return out, nil
}

// parseModuleInfo extracts moduleInfo from a wasm binary.
func parseModuleInfo(w []byte) (*moduleInfo, error) {
	secs, err := sections(w)
	if err != nil {
		return nil, err
	}
	mi := &moduleInfo{table0: map[uint32]int64{}}
	importedTables := 0
	for _, s := range secs {
		r := &wasmReader{b: s.body}
		switch s.id {
		case secImport:
			if err := mi.readImports(r, &importedTables); err != nil {
				return nil, fmt.Errorf("wasm import section: %w", err)
			}
		case secTable:
			n, err := r.uleb()
			if err != nil {
				return nil, err
			}
			if n > 0 && importedTables == 0 {
				if _, err := r.byte(); err != nil { // reftype
					return nil, err
				}
				min, err := r.skipLimits()
				if err != nil {
					return nil, fmt.Errorf("wasm table section: %w", err)
				}
				mi.table0Size = uint32(min)
			}
		case secGlobal:
			n, err := r.uleb()
			if err != nil {
				return nil, err
			}
			if n > 0 {
				typ, err := r.byte()
				if err != nil {
					return nil, err
				}
				mut, err := r.byte()
				if err != nil {
					return nil, err
				}
				mi.firstGlobalMutableI32 = typ == 0x7f && mut == 1
			}
		case secElement:
			if err := mi.readElements(r); err != nil {
				return nil, fmt.Errorf("wasm element section: %w", err)
			}
		}
	}
	return mi, nil
}

func (mi *moduleInfo) readImports(r *wasmReader, importedTables *int) error {
	n, err := r.uleb()
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if err := r.skipName(); err != nil { // module
			return err
		}
		if err := r.skipName(); err != nil { // name
			return err
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		switch kind {
		case kindFunc:
			if _, err := r.uleb(); err != nil {
				return err
			}
			mi.importedFuncs++
		case kindTable:
			if _, err := r.byte(); err != nil {
				return err
			}
			if _, err := r.skipLimits(); err != nil {
				return err
			}
			*importedTables++
		case kindMemory:
			if _, err := r.skipLimits(); err != nil {
				return err
			}
		case kindGlobal:
			if err := r.skip(2); err != nil { // valtype, mut
				return err
			}
			mi.importedGlobals++
		default:
			return fmt.Errorf("unknown import kind %d", kind)
		}
	}
	return nil
}

// readConstOffset reads an `i32.const N; end` offset expression.
func readConstOffset(r *wasmReader) (uint32, error) {
	op, err := r.byte()
	if err != nil {
		return 0, err
	}
	if op != 0x41 {
		return 0, fmt.Errorf("unsupported offset expression opcode 0x%x", op)
	}
	v, err := r.sleb()
	if err != nil {
		return 0, err
	}
	if end, err := r.byte(); err != nil || end != 0x0b {
		return 0, errors.New("malformed offset expression")
	}
	return uint32(v), nil
}

// readFuncRefExpr reads `ref.func x; end` or `ref.null t; end`.
func readFuncRefExpr(r *wasmReader) (int64, error) {
	op, err := r.byte()
	if err != nil {
		return 0, err
	}
	var v int64
	switch op {
	case 0xd2: // ref.func
		x, err := r.uleb()
		if err != nil {
			return 0, err
		}
		v = int64(x)
	case 0xd0: // ref.null
		if _, err := r.byte(); err != nil {
			return 0, err
		}
		v = -1
	default:
		return 0, fmt.Errorf("unsupported element expression opcode 0x%x", op)
	}
	if end, err := r.byte(); err != nil || end != 0x0b {
		return 0, errors.New("malformed element expression")
	}
	return v, nil
}

// readElements records the active segments that initialise table 0, in all
// eight encodings of the element segment (flags 0-7).
func (mi *moduleInfo) readElements(r *wasmReader) error {
	n, err := r.uleb()
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		flags, err := r.uleb()
		if err != nil {
			return err
		}
		if flags > 7 {
			return fmt.Errorf("unknown element segment flags %d", flags)
		}
		active := flags&1 == 0
		explicitTable := flags&2 != 0 && active
		exprs := flags&4 != 0
		var table uint64
		var offset uint32
		if explicitTable {
			if table, err = r.uleb(); err != nil {
				return err
			}
		}
		if active {
			if offset, err = readConstOffset(r); err != nil {
				return err
			}
		}
		if flags&3 != 0 { // elemkind (0x00) or reftype byte
			if _, err := r.byte(); err != nil {
				return err
			}
		}
		cnt, err := r.uleb()
		if err != nil {
			return err
		}
		for j := uint64(0); j < cnt; j++ {
			var fn int64
			if exprs {
				fn, err = readFuncRefExpr(r)
			} else {
				var x uint64
				x, err = r.uleb()
				fn = int64(x)
			}
			if err != nil {
				return err
			}
			if active && table == 0 {
				mi.table0[offset+uint32(j)] = fn
			}
		}
	}
	return nil
}

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// exportGlobal returns a copy of w whose export section also exports global
// index idx under name. The module is otherwise unchanged.
func exportGlobal(w []byte, idx uint32, name string) ([]byte, error) {
	secs, err := sections(w)
	if err != nil {
		return nil, err
	}
	for _, s := range secs {
		if s.id != secExport {
			continue
		}
		r := &wasmReader{b: s.body}
		n, err := r.uleb()
		if err != nil {
			return nil, err
		}
		body := appendULEB(nil, n+1)
		body = append(body, s.body[r.pos:]...)
		body = appendULEB(body, uint64(len(name)))
		body = append(body, name...)
		body = append(body, kindGlobal)
		body = appendULEB(body, uint64(idx))

		out := make([]byte, 0, len(w)+len(name)+16)
		out = append(out, w[:s.start]...)
		out = append(out, secExport)
		out = appendULEB(out, uint64(len(body)))
		out = append(out, body...)
		return append(out, w[s.end:]...), nil
	}
	return nil, errors.New("wasm: no export section")
}
