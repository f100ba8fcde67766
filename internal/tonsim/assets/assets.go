// Package assets fetches, caches and loads the third-party artefacts the
// local TON simulator needs at run time: the official TON transaction
// emulator compiled to WebAssembly (shipped inside the npm package
// @ton/sandbox), the blockchain config that package bundles, and the
// compiled TEP-74 jetton contracts from @ton-community/assets-sdk, plus
// tonsim's own contracts (FunC sources in contracts/, compiled at fetch time
// with the pinned @ton-community/func-js; see compile.go).
//
// Nothing from npm is committed to the repository. Fetch runs `npm pack` for
// the pinned versions, verifies the tarballs against pinned integrity hashes,
// extracts what is needed in Go and installs it atomically into a cache
// directory; Load reads that cache back. The mapping between the emulator's
// minified wasm import/export names and the emscripten symbols is derived at
// fetch time from the JavaScript glue of the same package version, so a
// version bump never needs hand-edited tables.
package assets

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Pinned npm packages. Bumping a version changes the cache sub-folder name, so
// the next Ensure refetches; the integrity values must be updated together
// with the versions (npm view NAME@VERSION dist.integrity).
const (
	// SandboxPackage ships the emulator wasm, its JS glue and the default config.
	SandboxPackage = "@ton/sandbox"
	// SandboxVersion is the pinned @ton/sandbox version.
	SandboxVersion = "0.41.0"
	// SandboxIntegrity is the npm registry integrity (SRI sha512) of the
	// pinned @ton/sandbox tarball; a mismatch aborts the fetch.
	SandboxIntegrity = "sha512-+WRWiHfm62xQebVt6BvLb2UhVphpBHCwSby8R5vP9llzdVck+XEs+p4csIkZBh6gRQsy1Xomzh1PpgZS5XVE3A=="

	// AssetsSDKPackage ships the compiled jetton minter and wallet code.
	AssetsSDKPackage = "@ton-community/assets-sdk"
	// AssetsSDKVersion is the pinned @ton-community/assets-sdk version.
	AssetsSDKVersion = "0.0.5"
	// AssetsSDKIntegrity is the npm registry integrity of the pinned
	// @ton-community/assets-sdk tarball.
	AssetsSDKIntegrity = "sha512-ayu+wVO2497L+O1x2QFZSX3dTQjsfh0ae6wb1ENIGgpjVVXsnPUQJ8s4YTwYTlrC3O1ghltkMCHhtxlaRvS9oA=="

	// ModulePath is the Go module whose root holds the default cache
	// (<root>/.cache/tonsim-assets, ignored by git).
	ModulePath = "github.com/ton-custody/processor"

	// EnvDir overrides DefaultDir when set.
	EnvDir = "TONSIM_ASSETS_DIR"

	// layoutVersion is bumped whenever the set or format of extracted files
	// changes, so existing caches are refetched rather than misread.
	layoutVersion = 2
)

// File names inside a version directory.
const (
	FileWasm         = "emulator.wasm"
	FileImports      = "imports.json"
	FileExports      = "exports.json"
	FileConfig       = "config.boc"
	FileSlimConfig   = "slim-config.boc"
	FileJettonMinter = "jetton-minter.boc"
	FileJettonWallet = "jetton-wallet.boc"
	FileManifest     = "manifest.json"
)

// payloadFiles are the files covered by the manifest checksums.
func payloadFiles() []string {
	out := []string{FileWasm, FileImports, FileExports, FileConfig, FileSlimConfig, FileJettonMinter, FileJettonWallet}
	for _, n := range contractNames() {
		out = append(out, contractFile(n))
	}
	return out
}

// VersionDirName is the sub-folder of the cache directory that holds the
// files of the pinned versions. It names the contract sources' hash too, so
// an edited contract is compiled afresh.
func VersionDirName() string {
	return fmt.Sprintf("sandbox-%s_assets-sdk-%s_funcjs-%s-%s_v%d", SandboxVersion, AssetsSDKVersion, FuncJSVersion,
		contractSourcesHash()[:12], layoutVersion)
}

// Manifest describes one installed version directory.
type Manifest struct {
	// Layout is the version of the set and format of extracted files.
	Layout int `json:"layout"`
	// Packages maps each npm package name to its version.
	Packages map[string]string `json:"packages"`
	// Integrity is the verified SRI hash of each npm tarball.
	Integrity map[string]string `json:"integrity"`
	// Files maps each payload file name to its hex sha256.
	Files map[string]string `json:"files"`
}

// Assets is the loaded content of a version directory.
type Assets struct {
	// Dir is the version directory the files were read from. Consumers may
	// keep derived caches below it (the tvm package puts its wazero
	// compilation cache in Dir/wazero-cache) so they die with the version.
	Dir string

	// Wasm is the emulator module exactly as shipped by @ton/sandbox.
	Wasm []byte
	// Imports maps the minified import name (all imports live in module "a")
	// to the emscripten symbol it stands for, e.g. "k" -> "___cxa_throw".
	Imports map[string]string
	// Exports maps the emscripten symbol to the minified export name, e.g.
	// "_run_get_method" -> "Ka". It includes "__wasm_call_ctors".
	Exports map[string]string

	// Config is the default mainnet blockchain config bundled with
	// @ton/sandbox (ConfigParams dictionary root: HashmapE 32 ^Cell).
	Config *cell.Cell
	// SlimConfig is @ton/sandbox's reduced config (same dictionary layout,
	// only the parameters the emulator needs); it is several times cheaper
	// to parse, which matters for get methods (they unpack the config on
	// every call).
	SlimConfig *cell.Cell

	// JettonMinterCode and JettonWalletCode are the compiled TEP-74 jetton
	// contracts from @ton-community/assets-sdk.
	JettonMinterCode *cell.Cell
	JettonWalletCode *cell.Cell

	// Contracts are tonsim's own compiled contracts by name (Contract*
	// constants), each matching ContractCodeHashes.
	Contracts map[string]*cell.Cell

	// SandboxVersion and AssetsSDKVersion are the package versions the files
	// came from (from the manifest).
	SandboxVersion   string
	AssetsSDKVersion string
}

// ErrNotFetched is returned (wrapped) by Load when the version directory does
// not exist yet.
var ErrNotFetched = errors.New("tonsim assets not fetched")

// DefaultDir returns the cache directory used when the caller has no
// preference: $TONSIM_ASSETS_DIR if set; otherwise <module root>/.cache/
// tonsim-assets, where the module root is the nearest ancestor of the working
// directory holding a go.mod for ModulePath (so every package's tests and the
// Makefile share one cache); otherwise <os.UserCacheDir()>/tonsim-assets; and
// as a last resort <os.TempDir()>/tonsim-assets.
func DefaultDir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	if wd, err := os.Getwd(); err == nil {
		if root, ok := findModuleRoot(wd, ModulePath); ok {
			return filepath.Join(root, ".cache", "tonsim-assets")
		}
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tonsim-assets")
	}
	return filepath.Join(os.TempDir(), "tonsim-assets")
}

// findModuleRoot walks up from dir to the first directory whose go.mod
// declares module modPath.
func findModuleRoot(dir, modPath string) (string, bool) {
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && goModModule(b) == modPath {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// goModModule returns the module path declared in a go.mod file ("" if none).
func goModModule(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "module")
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t' && rest[0] != '"') {
			continue
		}
		return strings.Trim(strings.TrimSpace(rest), `"`)
	}
	return ""
}

// Load reads the assets of the pinned versions from dir (the cache directory,
// not the version sub-folder). It verifies every file against the manifest,
// so a damaged cache is reported rather than half-used. A missing cache
// yields an error wrapping ErrNotFetched.
func Load(dir string) (*Assets, error) {
	vdir := filepath.Join(dir, VersionDirName())
	mb, err := os.ReadFile(filepath.Join(vdir, FileManifest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s (run assets.Fetch or Ensure)", ErrNotFetched, vdir)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", vdir, err)
	}
	if m.Layout != layoutVersion || m.Packages[SandboxPackage] != SandboxVersion || m.Packages[AssetsSDKPackage] != AssetsSDKVersion {
		return nil, fmt.Errorf("manifest in %s does not match the pinned versions", vdir)
	}
	files := make(map[string][]byte, len(m.Files))
	for _, name := range payloadFiles() {
		want, ok := m.Files[name]
		if !ok {
			return nil, fmt.Errorf("manifest in %s lacks %s", vdir, name)
		}
		b, err := os.ReadFile(filepath.Join(vdir, name))
		if err != nil {
			return nil, fmt.Errorf("read asset: %w", err)
		}
		if got := sha256Hex(b); got != want {
			return nil, fmt.Errorf("asset %s in %s is corrupt (sha256 %s, manifest %s)", name, vdir, got, want)
		}
		files[name] = b
	}
	a := &Assets{
		Dir:              vdir,
		Wasm:             files[FileWasm],
		SandboxVersion:   m.Packages[SandboxPackage],
		AssetsSDKVersion: m.Packages[AssetsSDKPackage],
	}
	if err := json.Unmarshal(files[FileImports], &a.Imports); err != nil {
		return nil, fmt.Errorf("parse %s: %w", FileImports, err)
	}
	if err := json.Unmarshal(files[FileExports], &a.Exports); err != nil {
		return nil, fmt.Errorf("parse %s: %w", FileExports, err)
	}
	for _, c := range []struct {
		name string
		dst  **cell.Cell
	}{
		{FileConfig, &a.Config},
		{FileSlimConfig, &a.SlimConfig},
		{FileJettonMinter, &a.JettonMinterCode},
		{FileJettonWallet, &a.JettonWalletCode},
	} {
		if *c.dst, err = cell.FromBOC(files[c.name]); err != nil {
			return nil, fmt.Errorf("parse %s: %w", c.name, err)
		}
	}
	if a.Contracts, err = loadContracts(files); err != nil {
		return nil, err
	}
	return a, nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
