package tvm

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/ton-custody/processor/internal/tonsim/assets"
)

// stackPointerExport is the name under which the rewritten module exports
// emscripten's stack pointer global.
const stackPointerExport = "tonsim_sp"

// Option configures an Engine.
type Option func(*engineOptions)

type engineOptions struct {
	logOutput io.Writer
	cacheDir  string
	noCache   bool
}

// WithLogOutput sends what the emulator prints (stdout, stderr and
// emscripten_log) to w. By default it is discarded: the emulator logs every
// rejected config or message, which would drown a simulator's own output.
// Writes from different instances are serialised by the engine.
func WithLogOutput(w io.Writer) Option {
	return func(o *engineOptions) { o.logOutput = w }
}

// WithCompilationCacheDir stores wazero's compiled machine code in dir
// instead of <assets.Dir>/wazero-cache.
func WithCompilationCacheDir(dir string) Option {
	return func(o *engineOptions) { o.cacheDir = dir }
}

// WithoutCompilationCache compiles from scratch (about 2 s on two cores)
// instead of using the on-disk cache.
func WithoutCompilationCache() Option {
	return func(o *engineOptions) { o.noCache = true }
}

// importSpec describes one imported function of the emulator module.
type importSpec struct {
	minName string // name in module "a"
	symbol  string // emscripten symbol from the derived import map
	params  []api.ValueType
	results []api.ValueType
}

// Engine holds the compiled emulator module. It is safe for concurrent use;
// instances created from it are not.
type Engine struct {
	rt       wazero.Runtime
	cache    wazero.CompilationCache // nil when running without cache
	compiled wazero.CompiledModule
	info     *moduleInfo
	imports  []importSpec       // in function-index order
	exports  [numExports]string // minified export names
	log      io.Writer          // never nil
	versions map[string]string  // npm package -> version
	closeMu  sync.Mutex
	closed   bool
}

// NewEngine compiles the emulator module from a. Compilation uses an on-disk
// cache (see WithCompilationCacheDir); if the cache cannot be used the engine
// silently compiles without it, since the cache only saves time.
func NewEngine(ctx context.Context, a *assets.Assets, opts ...Option) (*Engine, error) {
	if a == nil || len(a.Wasm) == 0 {
		return nil, fmt.Errorf("tvm: no emulator wasm in assets")
	}
	var o engineOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.cacheDir == "" && a.Dir != "" {
		o.cacheDir = filepath.Join(a.Dir, "wazero-cache")
	}
	if o.cacheDir == "" {
		o.noCache = true
	}

	info, err := parseModuleInfo(a.Wasm)
	if err != nil {
		return nil, fmt.Errorf("tvm: parse emulator wasm: %w", err)
	}
	if !info.firstGlobalMutableI32 {
		return nil, fmt.Errorf("tvm: first defined global is not a mutable i32; cannot locate the stack pointer")
	}
	wasm, err := exportGlobal(a.Wasm, info.importedGlobals, stackPointerExport)
	if err != nil {
		return nil, fmt.Errorf("tvm: rewrite emulator wasm: %w", err)
	}

	e := &Engine{info: info, log: io.Discard, versions: map[string]string{
		assets.SandboxPackage: a.SandboxVersion, assets.AssetsSDKPackage: a.AssetsSDKVersion,
	}}
	if o.logOutput != nil {
		e.log = &lockedWriter{w: o.logOutput}
	}
	for id := exportID(0); id < numExports; id++ {
		min, ok := a.Exports[id.symbol()]
		if !ok {
			return nil, fmt.Errorf("tvm: export map lacks %s", id.symbol())
		}
		e.exports[id] = min
	}

	if err := e.compileWithCache(ctx, wasm, o); err != nil {
		return nil, err
	}

	for _, fd := range e.compiled.ImportedFunctions() {
		mod, name, _ := fd.Import()
		if mod != "a" {
			e.Close(ctx)
			return nil, fmt.Errorf("tvm: unexpected import module %q", mod)
		}
		sym, ok := a.Imports[name]
		if !ok {
			e.Close(ctx)
			return nil, fmt.Errorf("tvm: import a.%s is missing from the derived import map", name)
		}
		e.imports = append(e.imports, importSpec{minName: name, symbol: sym, params: fd.ParamTypes(), results: fd.ResultTypes()})
	}
	if uint32(len(e.imports)) != info.importedFuncs {
		e.Close(ctx)
		return nil, fmt.Errorf("tvm: wazero reports %d imported functions, the binary %d", len(e.imports), info.importedFuncs)
	}
	return e, nil
}

// compileWithCache compiles through the on-disk cache when allowed. The
// cache only saves time, so any trouble with it ends in a plain compile: an
// unusable directory is ignored, and a cache whose entry fails to load is
// wiped (so the next start is fast again) before one more attempt.
func (e *Engine) compileWithCache(ctx context.Context, wasm []byte, o engineOptions) error {
	if o.noCache {
		return e.compile(ctx, wasm, nil)
	}
	for attempt := 0; attempt < 2; attempt++ {
		cache, err := wazero.NewCompilationCacheWithDir(o.cacheDir)
		if err != nil {
			break
		}
		if err := e.compile(ctx, wasm, cache); err == nil {
			return nil
		}
		_ = cache.Close(ctx)
		if attempt == 0 {
			wipeWazeroCache(o.cacheDir)
		}
	}
	return e.compile(ctx, wasm, nil)
}

// wipeWazeroCache removes wazero's version-specific sub-directories of dir,
// and nothing else (dir may be a caller-chosen directory).
func wipeWazeroCache(dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "wazero-*"))
	for _, m := range matches {
		_ = os.RemoveAll(m)
	}
}

func (e *Engine) compile(ctx context.Context, wasm []byte, cache wazero.CompilationCache) error {
	// The emulator is built with pthreads support compiled in (atomics in
	// the code section) even though it never starts a thread.
	cfg := wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesThreads)
	if cache != nil {
		cfg = cfg.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		_ = rt.Close(ctx)
		return fmt.Errorf("tvm: compile emulator: %w", err)
	}
	e.rt, e.cache, e.compiled = rt, cache, cm
	return nil
}

// Versions reports the npm package versions the engine's assets came from.
func (e *Engine) Versions() map[string]string {
	out := make(map[string]string, len(e.versions))
	for k, v := range e.versions {
		out[k] = v
	}
	return out
}

// Close releases the runtime and every instance created from it.
func (e *Engine) Close(ctx context.Context) error {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var err error
	if e.rt != nil {
		err = e.rt.Close(ctx)
	}
	if e.cache != nil {
		if cerr := e.cache.Close(ctx); err == nil {
			err = cerr
		}
	}
	return err
}

// lockedWriter serialises writes from concurrently running instances.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
