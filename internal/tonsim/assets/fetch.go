package assets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// maxTarEntry bounds any file read from a tarball (the emulator's base64
// wasm is ~7 MB); it guards against a corrupt or hostile archive.
const maxTarEntry = 64 << 20

// staleAfter is how old an abandoned staging directory (left by a crashed
// fetch) must be before Fetch removes it; young ones may belong to a fetch
// running concurrently in another process.
const staleAfter = time.Hour

// Ensure loads the pinned assets from dir, fetching them first if they are
// missing or damaged. It needs npm on PATH only when a fetch is required.
func Ensure(ctx context.Context, dir string) (*Assets, error) {
	a, err := Load(dir)
	if err == nil {
		return a, nil
	}
	if ferr := Fetch(ctx, dir); ferr != nil {
		return nil, fmt.Errorf("tonsim assets unavailable (%v): %w", err, ferr)
	}
	return Load(dir)
}

// Fetch downloads the pinned npm packages with `npm pack`, verifies their
// integrity, extracts the assets in Go, compiles tonsim's own contracts
// (compileContracts: npm ci of the pinned FunC compiler, then node) and
// installs everything into dir/<VersionDirName()>.
//
// Installation is atomic: files are written to a staging directory next to
// the destination and renamed into place, so a crash never leaves a half
// cache behind, and when two processes fetch at once one rename wins and the
// other process adopts its result.
func Fetch(ctx context.Context, dir string) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("npm not found on PATH: it is needed once to fetch %s@%s and %s@%s into %s (install Node.js/npm, or copy a populated cache there): %w",
			SandboxPackage, SandboxVersion, AssetsSDKPackage, AssetsSDKVersion, dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create assets dir: %w", err)
	}
	removeStale(dir)

	work, err := os.MkdirTemp("", "tonsim-npm-")
	if err != nil {
		return fmt.Errorf("create temp dir: %w", err)
	}
	defer os.RemoveAll(work)

	sandboxTgz, err := npmPack(ctx, npm, work, SandboxPackage, SandboxVersion, SandboxIntegrity)
	if err != nil {
		return err
	}
	sdkTgz, err := npmPack(ctx, npm, work, AssetsSDKPackage, AssetsSDKVersion, AssetsSDKIntegrity)
	if err != nil {
		return err
	}
	payload, err := buildPayload(sandboxTgz, sdkTgz)
	if err != nil {
		return err
	}
	compiled, err := compileContracts(ctx, npm, work)
	if err != nil {
		return err
	}
	for name, b := range compiled {
		payload[name] = b
	}
	return install(dir, payload)
}

// npmPack runs `npm pack NAME@VERSION` in a fresh sub-directory of work and
// returns the tarball bytes after checking them against the pinned integrity.
func npmPack(ctx context.Context, npm, work, name, version, integrity string) ([]byte, error) {
	spec := name + "@" + version
	out, err := os.MkdirTemp(work, "pack-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	cmd := exec.CommandContext(ctx, npm, "pack", "--ignore-scripts", "--silent", spec)
	cmd.Dir = out
	cmd.Env = append(os.Environ(),
		"npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("npm pack %s failed: %w: %s", spec, err, lastLines(stderr.String(), 10))
	}
	tgzs, err := filepath.Glob(filepath.Join(out, "*.tgz"))
	if err != nil || len(tgzs) != 1 {
		return nil, fmt.Errorf("npm pack %s: expected one .tgz, found %d (stderr: %s)", spec, len(tgzs), lastLines(stderr.String(), 10))
	}
	b, err := os.ReadFile(tgzs[0])
	if err != nil {
		return nil, fmt.Errorf("read npm tarball: %w", err)
	}
	sum := sha512.Sum512(b)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != integrity {
		return nil, fmt.Errorf("npm tarball %s has integrity %s, pinned %s: refusing it", spec, got, integrity)
	}
	return b, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// untar returns the regular files of a .tgz whose names are in want.
func untar(tgz []byte, want ...string) (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("open tarball: %w", err)
	}
	defer zr.Close()
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w] = true
	}
	out := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tarball: %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if !wanted[name] || h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxTarEntry+1))
		if err != nil {
			return nil, fmt.Errorf("read %s from tarball: %w", name, err)
		}
		if len(b) > maxTarEntry {
			return nil, fmt.Errorf("%s in tarball exceeds %d bytes", name, maxTarEntry)
		}
		out[name] = b
	}
	for _, w := range want {
		if _, ok := out[w]; !ok {
			return nil, fmt.Errorf("tarball lacks %s", w)
		}
	}
	return out, nil
}

// buildPayload extracts every asset file from the two tarballs.
func buildPayload(sandboxTgz, sdkTgz []byte) (map[string][]byte, error) {
	sb, err := untar(sandboxTgz, pathWasmJS, pathGlueJS, pathDefaultConfig, pathSlimConfig)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SandboxPackage, err)
	}
	sdk, err := untar(sdkTgz, pathJettonMinter, pathJettonWallet)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", AssetsSDKPackage, err)
	}
	p := map[string][]byte{}
	if p[FileWasm], err = parseWasmJS(sb[pathWasmJS]); err != nil {
		return nil, fmt.Errorf("%s: %w", pathWasmJS, err)
	}
	imports, err := parseImports(sb[pathGlueJS])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pathGlueJS, err)
	}
	exports, err := parseExports(sb[pathGlueJS])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pathGlueJS, err)
	}
	if p[FileImports], err = json.MarshalIndent(imports, "", "  "); err != nil {
		return nil, err
	}
	if p[FileExports], err = json.MarshalIndent(exports, "", "  "); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		file string
		from map[string][]byte
		path string
		key  string
	}{
		{FileConfig, sb, pathDefaultConfig, "exports.defaultConfig"},
		{FileSlimConfig, sb, pathSlimConfig, "exports.slimConfig"},
		{FileJettonMinter, sdk, pathJettonMinter, "codeBoc"},
		{FileJettonWallet, sdk, pathJettonWallet, "codeBoc"},
	} {
		if p[f.file], err = parseBOCField(f.from[f.path], f.key); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
	}
	return p, nil
}

// install writes payload plus a manifest into a staging directory and
// renames it to dir/<VersionDirName()>.
func install(dir string, payload map[string][]byte) error {
	final := filepath.Join(dir, VersionDirName())
	staging, err := os.MkdirTemp(dir, ".staging-"+VersionDirName()+"-")
	if err != nil {
		return fmt.Errorf("create staging dir: %w", err)
	}
	defer os.RemoveAll(staging) // no-op once renamed

	m := Manifest{
		Layout:    layoutVersion,
		Packages:  map[string]string{SandboxPackage: SandboxVersion, AssetsSDKPackage: AssetsSDKVersion, funcJSPackage: FuncJSVersion},
		Integrity: map[string]string{SandboxPackage: SandboxIntegrity, AssetsSDKPackage: AssetsSDKIntegrity},
		Files:     map[string]string{},
	}
	for name, b := range payload {
		if err := writeFileSync(filepath.Join(staging, name), b); err != nil {
			return err
		}
		m.Files[name] = sha256Hex(b)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(staging, FileManifest), mb); err != nil {
		return err
	}
	// MkdirTemp creates 0700; the cache is shared by the user's tools.
	if err := os.Chmod(staging, 0o755); err != nil {
		return fmt.Errorf("chmod staging dir: %w", err)
	}
	syncDir(staging)

	if err := os.Rename(staging, final); err == nil {
		syncDir(dir)
		return nil
	}
	// The destination exists: another process may have just installed it.
	if _, lerr := Load(dir); lerr == nil {
		return nil
	}
	// A damaged install (e.g. edited by hand): move it aside and retry once.
	aside, err := os.MkdirTemp(dir, ".broken-"+VersionDirName()+"-")
	if err != nil {
		return fmt.Errorf("create temp dir: %w", err)
	}
	if err := os.Rename(final, filepath.Join(aside, "old")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("move damaged assets aside: %w", err)
	}
	defer os.RemoveAll(aside)
	if err := os.Rename(staging, final); err != nil {
		if _, lerr := Load(dir); lerr == nil {
			return nil
		}
		return fmt.Errorf("install assets into %s: %w", final, err)
	}
	syncDir(dir)
	return nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write asset: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write asset: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync asset: %w", err)
	}
	return f.Close()
}

// syncDir makes a rename or file creation durable; best effort, because
// some filesystems do not support syncing directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// removeStale deletes staging and moved-aside directories left behind by
// crashed fetches. Best effort.
func removeStale(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !(strings.HasPrefix(e.Name(), ".staging-") || strings.HasPrefix(e.Name(), ".broken-")) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleAfter {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
