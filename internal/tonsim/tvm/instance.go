package tvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// ErrInstanceBroken is wrapped by every error of an Instance that trapped
// (wasm trap, abort, Go panic in a host function). Its linear memory may be
// inconsistent, so it must be closed and replaced.
var ErrInstanceBroken = errors.New("tvm: instance broken by a trap")

// ErrUncaughtException is wrapped when a C++ exception escapes an emulator
// entry point (seen with a garbage config). The instance stays usable: the
// host restores the stack pointer and resets its exception state, exactly as
// the JS glue survives such a throw.
var ErrUncaughtException = errors.New("tvm: uncaught C++ exception in the emulator")

// ErrClosed is returned by a closed Instance, Pool or Emulator.
var ErrClosed = errors.New("tvm: closed")

// exportID names the exports the host calls, so hot paths index an array
// instead of hashing strings.
type exportID int

const (
	expCallCtors exportID = iota
	expMalloc
	expFree
	expVersion
	expCreateEmulator
	expDestroyEmulator
	expEmulateWithEmulator
	expRunGetMethod
	expSetThrew
	expTempretSet
	expStackRestore
	expStackAlloc
	expStackGetCurrent
	expCanCatch
	expGetExceptionPtr
	expIncRefcount
	expDecRefcount
	numExports
)

// symbol returns the emscripten symbol of an export (the key of
// assets.Assets.Exports).
func (id exportID) symbol() string {
	switch id {
	case expCallCtors:
		return "__wasm_call_ctors"
	case expMalloc:
		return "_malloc"
	case expFree:
		return "_free"
	case expVersion:
		return "_version"
	case expCreateEmulator:
		return "_create_emulator"
	case expDestroyEmulator:
		return "_destroy_emulator"
	case expEmulateWithEmulator:
		return "_emulate_with_emulator"
	case expRunGetMethod:
		return "_run_get_method"
	case expSetThrew:
		return "_setThrew"
	case expTempretSet:
		return "__emscripten_tempret_set"
	case expStackRestore:
		return "__emscripten_stack_restore"
	case expStackAlloc:
		return "__emscripten_stack_alloc"
	case expStackGetCurrent:
		return "_emscripten_stack_get_current"
	case expCanCatch:
		return "___cxa_can_catch"
	case expGetExceptionPtr:
		return "___cxa_get_exception_ptr"
	case expIncRefcount:
		return "___cxa_increment_exception_refcount"
	case expDecRefcount:
		return "___cxa_decrement_exception_refcount"
	}
	return fmt.Sprintf("export#%d", int(id))
}

// maxExportArgs is the largest parameter count among the exports we call
// (_emulate_with_emulator takes five).
const maxExportArgs = 6

// Instance is one instance of the emulator module: its own linear memory,
// emscripten runtime state and pools of wazero call engines.
//
// An Instance is NOT safe for concurrent use: the wasm code is single
// threaded and the host keeps per-instance exception state. Use one Instance
// per goroutine, or a Pool.
type Instance struct {
	eng  *Engine
	host api.Module
	mod  api.Module
	mem  api.Memory
	sp   api.MutableGlobal

	// exports and table are free lists of api.Function per export and per
	// table slot. An api.Function owns a call engine (its own stack) and is
	// not re-entrant, and creating one allocates; the emulator makes
	// thousands of invoke_* calls per transaction, so reusing them is what
	// makes it fast (~10x). A function whose call failed is dropped rather
	// than returned, in case its engine is left in a bad state.
	exports [numExports][]api.Function
	table   [][]api.Function

	// hostFns are the host implementations by imported function index, for
	// table slots that hold an imported function.
	hostFns []api.GoModuleFunc

	exc    exceptionState
	broken error
	closed bool
	start  time.Time // origin of the monotonic clock

	// cfgCache keeps recently used configs as base64 BOC so get methods do
	// not re-serialise a 100 KB config on every call.
	cfgCache b64Cache
}

// exceptionState mirrors the JS glue's exceptionLast, uncaughtExceptionCount
// and exceptionCaught.
type exceptionState struct {
	last     uint32
	uncaught int32
	caught   []uint32
}

func (s *exceptionState) reset() {
	s.last, s.uncaught, s.caught = 0, 0, s.caught[:0]
}

// NewInstance instantiates the emulator module. Instantiation and static
// constructors take a few milliseconds; reuse instances.
func (e *Engine) NewInstance(ctx context.Context) (*Instance, error) {
	in := &Instance{
		eng:     e,
		start:   time.Now(),
		table:   make([][]api.Function, e.info.table0Size),
		hostFns: make([]api.GoModuleFunc, len(e.imports)),
	}
	in.cfgCache.max = 4

	hb := e.rt.NewHostModuleBuilder("a")
	for i, imp := range e.imports {
		fn := in.hostFunc(imp)
		in.hostFns[i] = fn
		hb.NewFunctionBuilder().WithGoModuleFunction(fn, imp.params, imp.results).Export(imp.minName)
	}
	hc, err := hb.Compile(ctx)
	if err != nil {
		return nil, fmt.Errorf("tvm: compile host module: %w", err)
	}
	// Both modules are anonymous, so any number of instances can coexist in
	// one runtime; the import resolver wires this instance's host module.
	host, err := e.rt.InstantiateModule(ctx, hc, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return nil, fmt.Errorf("tvm: instantiate host module: %w", err)
	}
	rctx := experimental.WithImportResolver(ctx, func(name string) api.Module {
		if name == "a" {
			return host
		}
		return nil
	})
	mod, err := e.rt.InstantiateModule(rctx, e.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		_ = host.Close(ctx)
		return nil, fmt.Errorf("tvm: instantiate emulator: %w", err)
	}
	in.host, in.mod, in.mem = host, mod, mod.Memory()
	if err := in.init(ctx); err != nil {
		_ = in.Close(ctx)
		return nil, err
	}
	return in, nil
}

func (in *Instance) init(ctx context.Context) error {
	if in.mem == nil {
		return errors.New("tvm: emulator has no memory")
	}
	for id := exportID(0); id < numExports; id++ {
		if in.mod.ExportedFunction(in.eng.exports[id]) == nil {
			return fmt.Errorf("tvm: emulator does not export %s as %q", id.symbol(), in.eng.exports[id])
		}
	}
	g, ok := in.mod.ExportedGlobal(stackPointerExport).(api.MutableGlobal)
	if !ok {
		return errors.New("tvm: stack pointer global is not mutable")
	}
	in.sp = g
	if _, err := in.callTop(ctx, expCallCtors); err != nil {
		return fmt.Errorf("tvm: static constructors: %w", err)
	}
	// Prove that the global we exported really is the stack pointer: it must
	// equal stackGetCurrent and move with stackAlloc.
	cur, err := in.callTop(ctx, expStackGetCurrent)
	if err != nil {
		return err
	}
	if uint32(cur) != uint32(in.sp.Get()) {
		return fmt.Errorf("tvm: global %d is not the stack pointer (%d vs %d)", in.eng.info.importedGlobals, in.sp.Get(), cur)
	}
	p, err := in.callTop(ctx, expStackAlloc, 16)
	if err != nil {
		return err
	}
	moved := uint32(in.sp.Get()) == uint32(p)
	if _, err := in.callTop(ctx, expStackRestore, cur); err != nil {
		return err
	}
	if !moved {
		return errors.New("tvm: stack pointer global does not follow stackAlloc")
	}
	return nil
}

// Close releases the instance's memory. Emulators created on it become
// unusable.
func (in *Instance) Close(ctx context.Context) error {
	if in.closed {
		return nil
	}
	in.closed = true
	var err error
	if in.mod != nil {
		err = in.mod.Close(ctx)
	}
	if in.host != nil {
		if herr := in.host.Close(ctx); err == nil {
			err = herr
		}
	}
	return err
}

// Err reports why the instance is unusable (nil if it is healthy).
func (in *Instance) Err() error {
	if in.closed {
		return ErrClosed
	}
	return in.broken
}

// MemorySize returns the current size of the instance's linear memory in
// bytes (it only grows).
func (in *Instance) MemorySize() uint32 {
	if in.mem == nil {
		return 0
	}
	return in.mem.Size()
}

// Version returns the emulator's version JSON (commit hash and date of the
// TON sources it was built from).
func (in *Instance) Version(ctx context.Context) (string, error) {
	p, err := in.callTop(ctx, expVersion)
	if err != nil {
		return "", err
	}
	return in.takeCString(ctx, uint32(p))
}

// getExport pops a pooled api.Function for an export or creates one.
func (in *Instance) getExport(id exportID) api.Function {
	if l := in.exports[id]; len(l) > 0 {
		f := l[len(l)-1]
		in.exports[id] = l[:len(l)-1]
		return f
	}
	return in.mod.ExportedFunction(in.eng.exports[id])
}

// callExport calls an export with pooled call engines.
func (in *Instance) callExport(ctx context.Context, id exportID, args ...uint64) (uint64, error) {
	f := in.getExport(id)
	var stk [maxExportArgs]uint64
	copy(stk[:], args)
	if err := f.CallWithStack(ctx, stk[:]); err != nil {
		return 0, err
	}
	in.exports[id] = append(in.exports[id], f)
	return stk[0], nil
}

// callNested calls an export from inside a host function. A failure there
// cannot be returned, so it propagates as a panic, which wazero turns into
// an error of the enclosing call.
func (in *Instance) callNested(ctx context.Context, id exportID, args ...uint64) uint64 {
	r, err := in.callExport(ctx, id, args...)
	if err != nil {
		panic(err)
	}
	return r
}

// callTop calls an export from Go. It turns an escaping C++ exception into
// ErrUncaughtException (instance still usable) and anything else into a
// permanent ErrInstanceBroken.
func (in *Instance) callTop(ctx context.Context, id exportID, args ...uint64) (uint64, error) {
	if in.closed {
		return 0, ErrClosed
	}
	if in.broken != nil {
		return 0, in.broken
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	sp := in.sp.Get()
	r, err := in.callExport(ctx, id, args...)
	if err == nil {
		return r, nil
	}
	var ce *cxxException
	if errors.As(err, &ce) {
		in.sp.Set(sp)
		in.exc.reset()
		if serr := in.discardException(ctx, ce.ptr); serr != nil {
			in.broken = fmt.Errorf("%w: reset after exception: %v", ErrInstanceBroken, serr)
			return 0, in.broken
		}
		return 0, fmt.Errorf("%w (in %s, exception object %#x)", ErrUncaughtException, id.symbol(), ce.ptr)
	}
	in.broken = fmt.Errorf("%w: %s: %v", ErrInstanceBroken, id.symbol(), err)
	return 0, in.broken
}

// discardException clears the emscripten exception state after a C++
// exception escaped to the host, and frees the exception object. The JS glue
// leaks it; here its refcount is 0 (JS-style __cxa_throw does not count the
// throw itself), so one increment/decrement pair runs its destructor and
// frees it, exactly as __cxa_end_catch would have.
func (in *Instance) discardException(ctx context.Context, ptr uint32) error {
	caught := slices.Contains(in.exc.caught, ptr)
	in.exc.reset()
	if _, err := in.callExport(ctx, expSetThrew, 0, 0); err != nil {
		return err
	}
	if caught {
		return nil // referenced by a pending catch: leak rather than double free
	}
	if _, err := in.callExport(ctx, expIncRefcount, uint64(ptr)); err != nil {
		return err
	}
	_, err := in.callExport(ctx, expDecRefcount, uint64(ptr))
	return err
}

// cString copies s into wasm memory as a NUL-terminated string allocated
// with malloc.
func (in *Instance) cString(ctx context.Context, s string) (uint32, error) {
	p, err := in.callTop(ctx, expMalloc, uint64(len(s)+1))
	if err != nil {
		return 0, err
	}
	ptr := uint32(p)
	if ptr == 0 {
		return 0, fmt.Errorf("tvm: malloc(%d) failed", len(s)+1)
	}
	if !in.mem.WriteString(ptr, s) || !in.mem.WriteByte(ptr+uint32(len(s)), 0) {
		return 0, fmt.Errorf("tvm: malloc returned out-of-range pointer %#x", ptr)
	}
	return ptr, nil
}

// cStrings allocates several strings; "" with null set is passed as NULL.
// On error, everything allocated so far is freed.
func (in *Instance) cStrings(ctx context.Context, args []cArg) ([]uint64, error) {
	ptrs := make([]uint64, len(args))
	for i, a := range args {
		if a.null {
			continue
		}
		p, err := in.cString(ctx, a.s)
		if err != nil {
			in.freeAll(ctx, ptrs)
			return nil, err
		}
		ptrs[i] = uint64(p)
	}
	return ptrs, nil
}

// cArg is a string argument of an export; null passes a NULL pointer.
type cArg struct {
	s    string
	null bool
}

func (in *Instance) freeAll(ctx context.Context, ptrs []uint64) {
	if in.broken != nil || in.closed {
		return
	}
	for _, p := range ptrs {
		if p != 0 {
			_, _ = in.callTop(ctx, expFree, p)
		}
	}
}

// readCString reads a NUL-terminated string at p.
func (in *Instance) readCString(p uint32) (string, bool) {
	size := in.mem.Size()
	if p >= size {
		return "", false
	}
	view, ok := in.mem.Read(p, size-p)
	if !ok {
		return "", false
	}
	n := bytes.IndexByte(view, 0)
	if n < 0 {
		return "", false
	}
	return string(view[:n]), true
}

// takeCString reads a malloc'ed string returned by an export and frees it.
func (in *Instance) takeCString(ctx context.Context, p uint32) (string, error) {
	if p == 0 {
		return "", errors.New("tvm: emulator returned NULL")
	}
	s, ok := in.readCString(p)
	if !ok {
		return "", fmt.Errorf("tvm: emulator returned an unterminated string at %#x", p)
	}
	if _, err := in.callTop(ctx, expFree, uint64(p)); err != nil {
		return "", err
	}
	return s, nil
}

// callString calls an export whose string arguments follow the numeric
// ones and which returns a malloc'ed C string, and returns that string.
func (in *Instance) callString(ctx context.Context, id exportID, nums []uint64, strs ...cArg) (string, error) {
	ptrs, err := in.cStrings(ctx, strs)
	if err != nil {
		return "", err
	}
	args := append(append(make([]uint64, 0, maxExportArgs), nums...), ptrs...)
	r, err := in.callTop(ctx, id, args...)
	in.freeAll(ctx, ptrs)
	if err != nil {
		return "", err
	}
	return in.takeCString(ctx, uint32(r))
}
