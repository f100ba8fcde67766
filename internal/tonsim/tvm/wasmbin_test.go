package tvm

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// tinyModule is a hand-assembled module shaped like the emulator where it
// matters: an imported function that also sits in the table, a mutable i32
// global 0, and element segments in two encodings.
var tinyModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type 0: () -> ()
	0x02, 0x07, 0x01, 0x01, 'a', 0x01, 'f', 0x00, 0x00, // import a.f: func type 0
	0x03, 0x02, 0x01, 0x00, // one defined function (index 1)
	0x04, 0x04, 0x01, 0x70, 0x00, 0x04, // table funcref min 4
	0x06, 0x07, 0x01, 0x7f, 0x01, 0x41, 0x80, 0x08, 0x0b, // global 0: mut i32 = 1024
	0x07, 0x07, 0x01, 0x03, 'r', 'u', 'n', 0x00, 0x01, // export "run" = func 1
	0x09, 0x10, 0x02,
	0x00, 0x41, 0x01, 0x0b, 0x02, 0x00, 0x01, // flags 0: table[1..2] = f0, f1
	0x04, 0x41, 0x03, 0x0b, 0x01, 0xd2, 0x01, 0x0b, // flags 4: table[3] = ref.func 1
	0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: func 1 body
}

func TestParseModuleInfo(t *testing.T) {
	mi, err := parseModuleInfo(tinyModule)
	if err != nil {
		t.Fatal(err)
	}
	if mi.importedFuncs != 1 || mi.importedGlobals != 0 || !mi.firstGlobalMutableI32 || mi.table0Size != 4 {
		t.Fatalf("info %+v", mi)
	}
	want := map[uint32]int64{1: 0, 2: 1, 3: 1}
	if len(mi.table0) != len(want) {
		t.Fatalf("table %v, want %v", mi.table0, want)
	}
	for k, v := range want {
		if mi.table0[k] != v {
			t.Fatalf("table %v, want %v", mi.table0, want)
		}
	}
}

func TestParseModuleInfoRejectsTruncatedInput(t *testing.T) {
	for n := 9; n < len(tinyModule); n++ {
		if _, err := parseModuleInfo(tinyModule[:n]); err == nil {
			// a cut exactly at a section boundary is a valid shorter module
			if _, serr := sections(tinyModule[:n]); serr != nil {
				t.Fatalf("cut at %d: no error", n)
			}
		}
	}
	if _, err := parseModuleInfo([]byte("not wasm")); err == nil {
		t.Fatal("bad magic accepted")
	}
}

func TestSLEB(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want int64
	}{
		{[]byte{0x00}, 0}, {[]byte{0x01}, 1}, {[]byte{0x7f}, -1}, {[]byte{0x80, 0x08}, 1024},
		{[]byte{0xc0, 0x00}, 64}, {[]byte{0x40}, -64}, {[]byte{0x80, 0x7f}, -128},
	} {
		r := &wasmReader{b: tc.in}
		if got, err := r.sleb(); err != nil || got != tc.want {
			t.Errorf("sleb(% x) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestExportGlobalMakesTheStackPointerReadable(t *testing.T) {
	w, err := exportGlobal(tinyModule, 0, "sp")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if _, err := rt.NewHostModuleBuilder("a").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {}), nil, nil).
		Export("f").Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := mod.ExportedGlobal("sp").(api.MutableGlobal)
	if !ok || g.Get() != 1024 {
		t.Fatalf("sp global %v", mod.ExportedGlobal("sp"))
	}
	if mod.ExportedFunction("run") == nil {
		t.Fatal("original export lost")
	}
}
