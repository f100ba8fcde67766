package tvm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
)

// TestEngineCompilationCache compiles cold into a fresh cache, then loads
// from it, then recovers from a corrupted cache; each engine must work.
func TestEngineCompilationCache(t *testing.T) {
	_, a := testEngine(t)
	ctx := context.Background()
	dir := t.TempDir()
	check := func(name string, opts ...Option) {
		t.Helper()
		start := time.Now()
		eng, err := NewEngine(ctx, a, opts...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer eng.Close(ctx)
		compiled := time.Since(start)
		in, err := eng.NewInstance(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		em, err := in.NewEmulator(ctx, a.Config, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		utime := now()
		r, err := em.Emulate(ctx, NoneShardAccount(), internalMsg(t, addrFromByte(1), addrFromByte(2), tlb.MustFromTON("1"), false, nil, nil, utime), Params{UTime: utime})
		if err != nil || !r.Success {
			t.Fatalf("%s: %v %+v", name, err, r)
		}
		t.Logf("%s: compile %v, ready to emulate after %v", name, compiled, time.Since(start))
	}
	check("cold (empty cache)", WithCompilationCacheDir(dir))
	check("warm (cache hit)", WithCompilationCacheDir(dir))

	entries, _ := filepath.Glob(filepath.Join(dir, "wazero-*", "*"))
	if len(entries) == 0 {
		t.Fatal("nothing was cached")
	}
	for _, e := range entries {
		if err := os.WriteFile(e, []byte("WAZEVO garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	check("corrupted cache", WithCompilationCacheDir(dir))
	check("repaired cache", WithCompilationCacheDir(dir))

	// a cache location that cannot be a directory: compile without cache
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	check("unusable cache dir", WithCompilationCacheDir(file))
}

// The emulator's stdout/stderr must not reach the process's stderr unless
// asked for: fd_write goes to WithLogOutput or nowhere.
func TestEmulatorOutputGoesToTheConfiguredLog(t *testing.T) {
	_, a := testEngine(t)
	ctx := context.Background()
	var buf bytes.Buffer
	eng, err := NewEngine(ctx, a, WithLogOutput(&buf))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	in, err := eng.NewInstance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	write := func(in *Instance, fd uint32, text string) uint64 {
		t.Helper()
		p, err := in.cString(ctx, text)
		if err != nil {
			t.Fatal(err)
		}
		iov, err := in.cString(ctx, "12345678") // room for one iovec
		if err != nil {
			t.Fatal(err)
		}
		in.mem.WriteUint32Le(iov, p)
		in.mem.WriteUint32Le(iov+4, uint32(len(text)))
		stack := []uint64{uint64(fd), uint64(iov), 1, uint64(iov)}
		in.fdWrite(ctx, nil, stack)
		return stack[0]
	}
	if errno := write(in, 2, "to stderr\n"); errno != 0 || buf.String() != "to stderr\n" {
		t.Fatalf("errno %d, log %q", errno, buf.String())
	}
	if errno := write(in, 7, "to a file"); errno != errnoBADF {
		t.Fatalf("fd 7: errno %d", errno)
	}
	// the default engine discards
	def, _ := testInstance(t)
	if errno := write(def, 1, "discarded"); errno != 0 {
		t.Fatalf("default engine: errno %d", errno)
	}
}
