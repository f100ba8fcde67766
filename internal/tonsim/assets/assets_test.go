package assets

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

func TestGoModModule(t *testing.T) {
	for _, tc := range []struct {
		name, gomod, want string
	}{
		{"plain", "module github.com/ton-custody/processor\n\ngo 1.26\n", ModulePath},
		{"quoted", "module \"github.com/ton-custody/processor\"\n", ModulePath},
		{"comment before", "// hello\nmodule github.com/ton-custody/processor // trailing\n", ModulePath},
		{"other module", "module example.com/other\n", "example.com/other"},
		{"modulex is not module", "modulex foo\n", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := goModModule([]byte(tc.gomod)); got != tc.want {
				t.Fatalf("goModModule = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDefaultDirPrefersEnv(t *testing.T) {
	t.Setenv(EnvDir, "/some/where")
	if got := DefaultDir(); got != "/some/where" {
		t.Fatalf("DefaultDir = %q", got)
	}
}

func TestDefaultDirWalksUpToModuleRoot(t *testing.T) {
	t.Setenv(EnvDir, "")
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module "+ModulePath+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// a nested module with another path must be skipped
	nested := filepath.Join(root, "tools", "x")
	if err := os.MkdirAll(filepath.Join(nested, "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nested, "go.mod"), []byte("module example.com/tools\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join(nested, "deep"))
	want := filepath.Join(root, ".cache", "tonsim-assets")
	if got := DefaultDir(); got != want {
		t.Fatalf("DefaultDir = %q, want %q", got, want)
	}
}

func TestDefaultDirOutsideModuleUsesUserCache(t *testing.T) {
	t.Setenv(EnvDir, "")
	// A user cache dir that exists whatever the machine's environment.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Chdir(t.TempDir())
	ucd, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := DefaultDir(), filepath.Join(ucd, "tonsim-assets"); got != want {
		t.Fatalf("DefaultDir = %q, want %q", got, want)
	}
}

// glueSnippet mimics the shape of emulator-emscripten.js (0.41.0).
const glueSnippet = `var x=1;function initRuntime(){runtimeInitialized=true;wasmExports["Ea"]();FS.ignorePermissions=false}
function assignWasmExports(wasmExports){_create_emulator=Module["_create_emulator"]=wasmExports["Fa"];_destroy_emulator=Module["_destroy_emulator"]=wasmExports["Ga"];_emulate_with_emulator=Module["_emulate_with_emulator"]=wasmExports["Ha"];_free=Module["_free"]=wasmExports["Ia"];_run_get_method=Module["_run_get_method"]=wasmExports["Ka"];_version=Module["_version"]=wasmExports["La"];_malloc=Module["_malloc"]=wasmExports["Na"];_setThrew=wasmExports["Pa"];__emscripten_tempret_set=wasmExports["Qa"];__emscripten_stack_restore=wasmExports["Ra"];__emscripten_stack_alloc=wasmExports["Sa"];_emscripten_stack_get_current=wasmExports["Ta"];___cxa_decrement_exception_refcount=wasmExports["Ua"];___cxa_increment_exception_refcount=wasmExports["Va"];___cxa_can_catch=wasmExports["Wa"];___cxa_get_exception_ptr=wasmExports["Xa"];memory=wasmMemory=wasmExports["Da"];__indirect_function_table=wasmTable=wasmExports["Ma"]}var wasmImports={u:___cxa_begin_catch,k:___cxa_throw,$:invoke_iiiiijj,"da":_random_get};`

func TestParseGlue(t *testing.T) {
	imp, err := parseImports([]byte(glueSnippet))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"u": "___cxa_begin_catch", "k": "___cxa_throw", "$": "invoke_iiiiijj", "da": "_random_get"} {
		if imp[k] != v {
			t.Errorf("imports[%q] = %q, want %q", k, imp[k], v)
		}
	}
	exp, err := parseExports([]byte(glueSnippet))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"_create_emulator": "Fa", "_malloc": "Na", "_setThrew": "Pa", "memory": "Da", "wasmMemory": "Da",
		"wasmTable": "Ma", CallCtorsSymbol: "Ea",
	} {
		if exp[k] != v {
			t.Errorf("exports[%q] = %q, want %q", k, exp[k], v)
		}
	}
	if _, ok := exp["Module"]; ok {
		t.Error("Module must not be recorded as a symbol")
	}
}

func TestParseGlueRejectsBrokenInput(t *testing.T) {
	for _, tc := range []struct{ name, glue string }{
		{"no imports object", `var foo={a:b}`},
		{"two imports objects", `var wasmImports={a:b};var wasmImports={c:d}`},
		{"bad import entry", `var wasmImports={a:1+2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseImports([]byte(tc.glue)); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
	missing := strings.Replace(glueSnippet, `_run_get_method=Module["_run_get_method"]=wasmExports["Ka"];`, "", 1)
	if _, err := parseExports([]byte(missing)); err == nil || !strings.Contains(err.Error(), "_run_get_method") {
		t.Fatalf("missing required export not reported: %v", err)
	}
	noCtors := strings.Replace(glueSnippet, `wasmExports["Ea"]();`, "", 1)
	if _, err := parseExports([]byte(noCtors)); err == nil {
		t.Fatal("missing ctors call not reported")
	}
}

func TestJSStringField(t *testing.T) {
	src := []byte("exports.defaultConfigSeqno = 5;\nexports.defaultConfig = `te6c\nckEB`;\nconst x = { codeBoc: 'QUJD' };")
	got, err := jsStringField(src, "exports.defaultConfig")
	if err != nil || string(got) != "te6c\nckEB" {
		t.Fatalf("defaultConfig = %q, %v", got, err)
	}
	if b, err := decodeB64Field(src, "codeBoc"); err != nil || string(b) != "ABC" {
		t.Fatalf("codeBoc = %q, %v", b, err)
	}
	if _, err := jsStringField(src, "missing"); err == nil {
		t.Fatal("missing key not reported")
	}
}

func TestFetchWithoutNPMFailsClearly(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := Fetch(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "npm") {
		t.Fatalf("want an error naming npm, got %v", err)
	}
}

func TestLoadMissingIsErrNotFetched(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNotFetched) {
		t.Fatalf("want ErrNotFetched, got %v", err)
	}
}

// TestFetchLoadAndRepair runs the real npm fetch (npm must be installed) into
// a fresh directory, twice concurrently, then checks the loaded content and
// that a damaged cache is detected and repaired by Ensure.
func TestFetchLoadAndRepair(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = Fetch(ctx, dir)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Fetch %d: %v", i, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != VersionDirName() {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("cache dir should hold only %s, has %v", VersionDirName(), names)
	}

	a, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkAssets(t, a)

	// damage the wasm: Load must notice, Ensure must repair
	wasmPath := filepath.Join(dir, VersionDirName(), FileWasm)
	if err := os.WriteFile(wasmPath, []byte("\x00asm garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt wasm not detected: %v", err)
	}
	a, err = Ensure(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkAssets(t, a)
}

func checkAssets(t *testing.T, a *Assets) {
	t.Helper()
	if !bytes.HasPrefix(a.Wasm, []byte("\x00asm")) {
		t.Error("wasm magic missing")
	}
	if a.SandboxVersion != SandboxVersion || a.AssetsSDKVersion != AssetsSDKVersion {
		t.Errorf("versions %s/%s", a.SandboxVersion, a.AssetsSDKVersion)
	}
	symbols := map[string]bool{}
	for _, s := range a.Imports {
		symbols[s] = true
	}
	for _, s := range []string{"___cxa_throw", "___cxa_begin_catch", "___resumeException", "invoke_vi", "_fd_write"} {
		if !symbols[s] {
			t.Errorf("imports lack %s", s)
		}
	}
	for _, s := range RequiredExports() {
		if a.Exports[s] == "" {
			t.Errorf("exports lack %s", s)
		}
	}
	// param 0 (config smart contract address) is in every valid config
	for name, c := range map[string]*cell.Cell{"Config": a.Config, "SlimConfig": a.SlimConfig} {
		if c == nil || !hasParam(c, 0) {
			t.Errorf("%s missing or lacks param 0", name)
		}
	}
	if a.JettonMinterCode == nil || a.JettonWalletCode == nil || bytes.Equal(a.JettonMinterCode.Hash(), a.JettonWalletCode.Hash()) {
		t.Error("jetton codes missing or identical")
	}
	for name, want := range ContractCodeHashes {
		if c := a.Contracts[name]; c == nil || hex.EncodeToString(c.Hash()) != want {
			t.Errorf("compiled contract %s missing or not the recorded code", name)
		}
	}
}

// Every contract has a recorded hash and a committed source, and the
// compiler's inputs are all in the embedded set (compile.js reads only
// files next to it).
func TestContractSourcesAndHashesAreRecorded(t *testing.T) {
	for _, name := range contractNames() {
		if len(ContractCodeHashes[name]) != 64 {
			t.Errorf("%s: no recorded code hash", name)
		}
		if _, err := contractFiles.ReadFile("contracts/" + name + ".fc"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, f := range []string{"compile.js", "package.json", "package-lock.json"} {
		if _, err := contractFiles.ReadFile("contracts/" + f); err != nil {
			t.Errorf("%s is not embedded: %v", f, err)
		}
	}
	lock, _ := contractFiles.ReadFile("contracts/package-lock.json")
	if !strings.Contains(string(lock), `"node_modules/@ton-community/func-js": {
      "version": "`+FuncJSVersion+`"`) {
		t.Errorf("package-lock.json does not pin @ton-community/func-js %s", FuncJSVersion)
	}
	if !strings.Contains(VersionDirName(), contractSourcesHash()[:12]) {
		t.Error("the cache folder does not name the contract sources")
	}
}

func hasParam(cfg *cell.Cell, k int64) bool {
	_, err := cfg.AsDict(32).LoadValueByIntKey(big.NewInt(k))
	return err == nil
}
