package tvm

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental/table"
)

// This file is the Go port of the parts of emscripten's JS glue
// (emulator-emscripten.js) the emulator imports. Names in comments refer to
// that file.

// Emscripten errno values returned by the syscall stubs. The emulator
// never needs a filesystem; failing politely lets libc report an error.
const (
	errnoBADF  = 8
	errnoINVAL = 28
	errnoNOSYS = 52
)

// heapMax is getHeapMax() in the glue: the module may grow to 2 GiB.
const heapMax = 2 << 30

// cxxException is the panic value of a C++ throw. The glue throws the
// exception pointer (a JS number); invoke_* catches only that, so it is a
// distinct type here too.
type cxxException struct{ ptr uint32 }

func (c *cxxException) Error() string { return fmt.Sprintf("C++ exception %#x", c.ptr) }

// jsAbort is the panic value of abort() and of the EM_ASM that throws a
// message string: fatal, like an uncaught JS error.
type jsAbort struct{ msg string }

func (a *jsAbort) Error() string { return "emulator aborted: " + a.msg }

// exceptionInfo offsets (class ExceptionInfo in the glue): the header sits
// 24 bytes before the thrown object.
const (
	excHeaderSize  = 24
	excTypeOff     = 4
	excDtorOff     = 8
	excCaughtOff   = 12
	excRethrownOff = 13
	excAdjustedOff = 16
)

func errnoResult(errno uint32) uint64 { return uint64(-int32(errno)) & 0xffffffff }

// hostFunc returns the Go implementation of one import.
func (in *Instance) hostFunc(imp importSpec) api.GoModuleFunc {
	sym := imp.symbol
	switch {
	case strings.HasPrefix(sym, "invoke_"):
		return in.invokeFunc(imp)
	case strings.HasPrefix(sym, "___cxa_find_matching_catch_"):
		n := len(imp.params)
		return func(ctx context.Context, _ api.Module, s []uint64) {
			var types [8]uint32
			for i := 0; i < n && i < len(types); i++ {
				types[i] = uint32(s[i])
			}
			s[0] = uint64(in.findMatchingCatch(ctx, types[:min(n, len(types))]))
		}
	case strings.HasPrefix(sym, "___syscall_"):
		return in.stub(imp, errnoResult(errnoNOSYS))
	case strings.HasPrefix(sym, "_fd_"):
		if sym == "_fd_write" {
			return in.fdWrite
		}
		return in.stub(imp, errnoBADF) // WASI style: positive errno
	}
	switch sym {
	case "___cxa_throw":
		return in.cxaThrow
	case "___cxa_rethrow":
		return in.cxaRethrow
	case "___resumeException":
		return func(_ context.Context, _ api.Module, s []uint64) {
			if in.exc.last == 0 {
				in.exc.last = uint32(s[0])
			}
			panic(&cxxException{ptr: in.exc.last})
		}
	case "___cxa_begin_catch":
		return in.cxaBeginCatch
	case "___cxa_end_catch":
		return in.cxaEndCatch
	case "___cxa_uncaught_exceptions":
		return func(_ context.Context, _ api.Module, s []uint64) { s[0] = uint64(uint32(in.exc.uncaught)) }
	case "_llvm_eh_typeid_for":
		return func(_ context.Context, _ api.Module, s []uint64) { s[0] = uint64(uint32(s[0])) }
	case "__abort_js":
		return func(context.Context, api.Module, []uint64) { panic(&jsAbort{msg: "abort()"}) }
	case "__emscripten_log_formatted":
		return func(_ context.Context, _ api.Module, s []uint64) {
			if msg, ok := in.readCString(uint32(s[1])); ok {
				in.logf("%s\n", strings.TrimRight(msg, "\n"))
			}
		}
	case "_emscripten_asm_const_int":
		return in.asmConst
	case "_emscripten_date_now":
		return func(_ context.Context, _ api.Module, s []uint64) {
			s[0] = math.Float64bits(float64(time.Now().UnixMicro()) / 1000)
		}
	case "_emscripten_get_heap_max":
		return func(_ context.Context, _ api.Module, s []uint64) { s[0] = heapMax }
	case "_emscripten_resize_heap":
		return in.resizeHeap
	case "_clock_time_get":
		return in.clockTimeGet
	case "_random_get":
		return func(_ context.Context, _ api.Module, s []uint64) {
			buf, ok := in.mem.Read(uint32(s[0]), uint32(s[1]))
			if !ok {
				s[0] = errnoINVAL
				return
			}
			if _, err := rand.Read(buf); err != nil {
				panic(fmt.Errorf("crypto/rand: %w", err))
			}
			s[0] = 0
		}
	case "_environ_sizes_get":
		return func(_ context.Context, _ api.Module, s []uint64) {
			in.mem.WriteUint32Le(uint32(s[0]), 0)
			in.mem.WriteUint32Le(uint32(s[1]), 0)
			s[0] = 0
		}
	case "_environ_get":
		return func(_ context.Context, _ api.Module, s []uint64) { s[0] = 0 }
	case "__tzset_js":
		return in.tzset
	case "__gmtime_js", "__localtime_js":
		// The simulator runs in UTC: local time is UTC.
		return in.gmtime
	case "__munmap_js":
		return in.stub(imp, errnoResult(errnoNOSYS))
	}
	// An import this host does not know (a newer emulator build): fail
	// loudly if it is ever called, rather than refusing to start.
	return func(context.Context, api.Module, []uint64) {
		panic(&jsAbort{msg: "unimplemented host import " + sym})
	}
}

// stub returns a function that returns ret (if it has a result).
func (in *Instance) stub(imp importSpec, ret uint64) api.GoModuleFunc {
	if len(imp.results) == 0 {
		return func(context.Context, api.Module, []uint64) {}
	}
	return func(_ context.Context, _ api.Module, s []uint64) { s[0] = ret }
}

func (in *Instance) logf(format string, args ...any) {
	if w := in.eng.log; w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// invokeFunc implements invoke_SIG(index, args...): call table slot index
// and turn a C++ exception into _setThrew(1, 0) plus zero results, which is
// how emscripten's setjmp/exception lowering learns that the callee threw:
//
//	function invoke_vi(index,a1){var sp=stackSave();try{getWasmTableEntry(index)(a1)}
//	  catch(e){stackRestore(sp);if(e!==e+0)throw e;_setThrew(1,0)}}
func (in *Instance) invokeFunc(imp importSpec) api.GoModuleFunc {
	params := imp.params[1:] // without the table index
	results := imp.results
	nArgs, nRes := len(params), len(results)
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		idx := uint32(stack[0])
		// The host stack has room for max(1+nArgs, nRes) values, which is
		// enough to serve as the callee's stack: no allocation per call.
		copy(stack, stack[1:1+nArgs])
		sp := in.sp.Get()
		err := in.callTable(ctx, mod, idx, params, results, stack)
		if err == nil {
			return
		}
		var ce *cxxException
		if !errors.As(err, &ce) {
			panic(err) // not a C++ exception: propagate like the JS rethrow
		}
		in.sp.Set(sp)
		in.callNested(ctx, expSetThrew, 1, 0)
		clear(stack[:nRes])
	}
}

// callTable calls the function in table slot idx with a pooled call engine.
func (in *Instance) callTable(ctx context.Context, mod api.Module, idx uint32, params, results []api.ValueType, stack []uint64) error {
	var f api.Function
	if int(idx) < len(in.table) {
		if l := in.table[idx]; len(l) > 0 {
			f = l[len(l)-1]
			in.table[idx] = l[:len(l)-1]
		}
	}
	if f == nil {
		if fi, ok := in.eng.info.table0[idx]; ok && fi >= 0 && fi < int64(in.eng.info.importedFuncs) {
			return in.callHostDirect(ctx, mod, int(fi), stack)
		}
		var err error
		if f, err = lookupTable(mod, idx, params, results); err != nil {
			return err
		}
	}
	if err := f.CallWithStack(ctx, stack); err != nil {
		return err
	}
	if int(idx) >= len(in.table) {
		grown := make([][]api.Function, idx+1)
		copy(grown, in.table)
		in.table = grown
	}
	in.table[idx] = append(in.table[idx], f)
	return nil
}

// lookupTable wraps table.LookupFunction, which panics (like call_indirect
// traps) on a bad slot or signature.
func lookupTable(mod api.Module, idx uint32, params, results []api.ValueType) (f api.Function, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invoke: table slot %d: %v", idx, r)
		}
	}()
	return table.LookupFunction(mod, 0, idx, params, results), nil
}

// callHostDirect runs an imported (host) function found in the table. It is
// called directly because wazero cannot look it up; a C++ throw from it
// arrives as a panic and is returned like one from wasm.
func (in *Instance) callHostDirect(ctx context.Context, mod api.Module, fi int, stack []uint64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if ce, ok := r.(*cxxException); ok {
				err = ce
				return
			}
			panic(r)
		}
	}()
	in.hostFns[fi](ctx, mod, stack)
	return nil
}

// ___cxa_throw(ptr, type, destructor)
func (in *Instance) cxaThrow(_ context.Context, _ api.Module, s []uint64) {
	ptr, typ, dtor := uint32(s[0]), uint32(s[1]), uint32(s[2])
	info := ptr - excHeaderSize
	in.mem.WriteUint32Le(info+excAdjustedOff, 0)
	in.mem.WriteUint32Le(info+excTypeOff, typ)
	in.mem.WriteUint32Le(info+excDtorOff, dtor)
	in.exc.last = ptr
	in.exc.uncaught++
	panic(&cxxException{ptr: ptr})
}

// ___cxa_rethrow()
func (in *Instance) cxaRethrow(_ context.Context, _ api.Module, _ []uint64) {
	n := len(in.exc.caught)
	if n == 0 {
		panic(&jsAbort{msg: "no exception to throw"})
	}
	ptr := in.exc.caught[n-1]
	in.exc.caught = in.exc.caught[:n-1]
	info := ptr - excHeaderSize
	if rethrown, _ := in.mem.ReadByte(info + excRethrownOff); rethrown == 0 {
		in.exc.caught = append(in.exc.caught, ptr)
		in.mem.WriteByte(info+excRethrownOff, 1)
		in.mem.WriteByte(info+excCaughtOff, 0)
		in.exc.uncaught++
	}
	in.exc.last = ptr
	panic(&cxxException{ptr: ptr})
}

// ___cxa_begin_catch(ptr) -> adjusted pointer
func (in *Instance) cxaBeginCatch(ctx context.Context, _ api.Module, s []uint64) {
	ptr := uint32(s[0])
	info := ptr - excHeaderSize
	if caught, _ := in.mem.ReadByte(info + excCaughtOff); caught == 0 {
		in.mem.WriteByte(info+excCaughtOff, 1)
		in.exc.uncaught--
	}
	in.mem.WriteByte(info+excRethrownOff, 0)
	in.exc.caught = append(in.exc.caught, ptr)
	in.callNested(ctx, expIncRefcount, uint64(ptr))
	s[0] = in.callNested(ctx, expGetExceptionPtr, uint64(ptr))
}

// ___cxa_end_catch()
func (in *Instance) cxaEndCatch(ctx context.Context, _ api.Module, _ []uint64) {
	in.callNested(ctx, expSetThrew, 0, 0)
	n := len(in.exc.caught)
	if n == 0 {
		panic(&jsAbort{msg: "__cxa_end_catch without a caught exception"})
	}
	ptr := in.exc.caught[n-1]
	in.exc.caught = in.exc.caught[:n-1]
	in.callNested(ctx, expDecRefcount, uint64(ptr))
	in.exc.last = 0
}

// findMatchingCatch(args): pick the first catch clause type that can catch
// the in-flight exception; the selected type goes to tempRet0.
func (in *Instance) findMatchingCatch(ctx context.Context, catchTypes []uint32) uint32 {
	thrown := in.exc.last
	if thrown == 0 {
		in.callNested(ctx, expTempretSet, 0)
		return 0
	}
	info := thrown - excHeaderSize
	in.mem.WriteUint32Le(info+excAdjustedOff, thrown)
	thrownType, _ := in.mem.ReadUint32Le(info + excTypeOff)
	if thrownType == 0 {
		in.callNested(ctx, expTempretSet, 0)
		return thrown
	}
	for _, ct := range catchTypes {
		if ct == 0 || ct == thrownType {
			break
		}
		if in.callNested(ctx, expCanCatch, uint64(ct), uint64(thrownType), uint64(info+excAdjustedOff)) != 0 {
			in.callNested(ctx, expTempretSet, uint64(ct))
			return thrown
		}
	}
	in.callNested(ctx, expTempretSet, uint64(thrownType))
	return thrown
}

// _fd_write(fd, iov, iovcnt, pnum): stdout and stderr go to the log
// output; every other descriptor is bad.
func (in *Instance) fdWrite(_ context.Context, _ api.Module, s []uint64) {
	fd, iov, cnt, pnum := uint32(s[0]), uint32(s[1]), uint32(s[2]), uint32(s[3])
	if fd != 1 && fd != 2 {
		s[0] = errnoBADF
		return
	}
	var total uint32
	for i := uint32(0); i < cnt; i++ {
		p, ok1 := in.mem.ReadUint32Le(iov + i*8)
		l, ok2 := in.mem.ReadUint32Le(iov + i*8 + 4)
		if !ok1 || !ok2 {
			s[0] = errnoINVAL
			return
		}
		if b, ok := in.mem.Read(p, l); ok {
			_, _ = in.eng.log.Write(b) // a failing log sink must not change the emulation
		}
		total += l
	}
	in.mem.WriteUint32Le(pnum, total)
	s[0] = 0
}

// _emscripten_asm_const_int(code, sigPtr, argbuf). This build has three
// EM_ASM snippets: two without arguments that produce or set up a random
// value, and one taking a C string that throws it (a fatal error). They
// are told apart by their signature string, which the caller passes.
func (in *Instance) asmConst(_ context.Context, _ api.Module, s []uint64) {
	sig, _ := in.readCString(uint32(s[1]))
	if sig == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Errorf("crypto/rand: %w", err))
		}
		s[0] = uint64(binary.LittleEndian.Uint32(b[:]))
		return
	}
	msg := "EM_ASM with signature " + sig
	if sig[0] == 'p' || sig[0] == 'i' {
		if p, ok := in.mem.ReadUint32Le(uint32(s[2])); ok {
			if m, ok := in.readCString(p); ok {
				msg = m
			}
		}
	}
	panic(&jsAbort{msg: msg})
}

// _emscripten_resize_heap(requestedSize): the glue's growth policy (grow by
// up to 20%, capped at +96 MiB over the request, retrying smaller steps).
func (in *Instance) resizeHeap(_ context.Context, _ api.Module, s []uint64) {
	requested := uint64(uint32(s[0]))
	old := uint64(in.mem.Size())
	if requested > heapMax {
		s[0] = 0
		return
	}
	for cutDown := 1.0; cutDown <= 4; cutDown *= 2 {
		over := uint64(float64(old) * (1 + 0.2/cutDown))
		over = min(over, requested+100663296)
		newSize := min(heapMax, alignUp(max(requested, over), 65536))
		if newSize <= old {
			s[0] = 1
			return
		}
		if _, ok := in.mem.Grow(uint32((newSize - old + 65535) / 65536)); ok {
			s[0] = 1
			return
		}
	}
	s[0] = 0
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) / a * a }

// _clock_time_get(clk_id, precision, ptime): clock 0 is the wall clock,
// 1-3 are monotonic (time since the instance started).
func (in *Instance) clockTimeGet(_ context.Context, _ api.Module, s []uint64) {
	id, ptime := uint32(s[0]), uint32(s[2])
	var ns uint64
	switch {
	case id == 0:
		ns = uint64(time.Now().UnixNano())
	case id <= 3:
		ns = uint64(time.Since(in.start).Nanoseconds())
	default:
		s[0] = errnoINVAL
		return
	}
	in.mem.WriteUint64Le(ptime, ns)
	s[0] = 0
}

// __tzset_js(timezone, daylight, std_name, dst_name): UTC, no DST.
func (in *Instance) tzset(_ context.Context, _ api.Module, s []uint64) {
	in.mem.WriteUint32Le(uint32(s[0]), 0)
	in.mem.WriteUint32Le(uint32(s[1]), 0)
	in.mem.WriteString(uint32(s[2]), "UTC\x00")
	in.mem.WriteString(uint32(s[3]), "UTC\x00")
}

// __gmtime_js(time, tmPtr): fill a struct tm (wasm32 layout, all int32).
func (in *Instance) gmtime(_ context.Context, _ api.Module, s []uint64) {
	t := time.Unix(int64(s[0]), 0).UTC()
	p := uint32(s[1])
	for i, v := range []int{t.Second(), t.Minute(), t.Hour(), t.Day(), int(t.Month()) - 1, t.Year() - 1900, int(t.Weekday()), t.YearDay() - 1, 0, 0} {
		in.mem.WriteUint32Le(p+uint32(i)*4, uint32(int32(v)))
	}
}
