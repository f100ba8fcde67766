// Package tvm runs the official TON transaction emulator (the emscripten
// WebAssembly build shipped in @ton/sandbox, see package assets) in-process
// under wazero, so the local TON simulator executes real contracts with the
// real TVM and the real fee and phase logic.
//
// The layers are:
//
//   - Engine: the compiled module plus the minified import/export names, built
//     once per process (compiling takes ~2 s on two cores, ~50 ms from the
//     on-disk compilation cache).
//   - Instance: one module instance with its own linear memory and the
//     emscripten runtime the JS glue would normally provide (C++ exceptions,
//     invoke_* trampolines, a few libc syscalls). Not safe for concurrent
//     use.
//   - Emulator: a transaction emulator object (a parsed blockchain config)
//     living inside one Instance.
//   - Pool: N instances shared by goroutines; the usual entry point.
//
// Errors: a contract that rejects a message is a normal Result (Success=false)
// and not a Go error. Go errors are reserved for host or protocol failures:
// invalid arguments, malformed emulator output, or a wasm trap. An instance
// that trapped is unusable (its memory may be inconsistent) and reports
// ErrInstanceBroken from then on; Pool replaces such instances by itself.
//
// Contexts are checked before each call into the emulator, not during one:
// wasm execution is not interruptible without closing the module, and a
// transaction is bounded by its gas limit (about a millisecond for a wallet
// transfer).
package tvm
