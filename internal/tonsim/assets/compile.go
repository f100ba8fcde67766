package assets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// tonsim's own contracts: FunC sources committed in contracts/, compiled at
// fetch time by the pinned @ton-community/func-js (contracts/package.json
// and its lock file) into the cache, never committed compiled.
//
//go:embed contracts/*.fc contracts/compile.js contracts/package.json contracts/package-lock.json
var contractFiles embed.FS

// FuncJSVersion is the pinned @ton-community/func-js (contracts/package.json;
// its lock file pins the compiler wasm's integrity).
const FuncJSVersion = "0.10.0"

const funcJSPackage = "@ton-community/func-js"

// Contract names: the FunC file compiled (without .fc) and the key of
// Assets.Contracts.
const (
	// ContractGovernedMinter is a USDT-style jetton master: admin mint,
	// call_to (transfer, burn or lock on the admin's behalf), upgrade.
	ContractGovernedMinter = "governed-minter"
	// ContractGovernedWallet is its wallet, published as a library.
	ContractGovernedWallet = "governed-wallet"
	// ContractReferenceMinter is a plain TEP-74 master (reference layout).
	ContractReferenceMinter = "reference-minter"
	// ContractWalletBounceable is a TEP-74 wallet that sends
	// transfer_notification bounceable.
	ContractWalletBounceable = "reference-wallet-bounceable"
	// ContractWalletNonBounceable is a TEP-74 wallet that sends it
	// non-bounceable.
	ContractWalletNonBounceable = "reference-wallet-nonbounceable"
	// ContractLibrarian publishes the code in its data as a public
	// masterchain library.
	ContractLibrarian = "librarian"
)

// ContractCodeHashes are the code hashes (hex of the code cell's
// representation hash) the sources compile to with FuncJSVersion. A fetch
// whose compiled code differs fails: a source change must come with its new
// hash here (the error prints it), so nobody runs different code unawares.
var ContractCodeHashes = map[string]string{
	ContractGovernedMinter:      "e0f892edb470c9edc206bbd0e05e0123caaa1e79d63b6769c8a10cfb572037bb",
	ContractGovernedWallet:      "a19371c7af69e04cbb5b165ae3157dee29d6cbdc885825542cad42e217b09d40",
	ContractReferenceMinter:     "72a36d976d9dd5c68d6139ae9f34a60e6a5bff757273cedb74a316129a5f8506",
	ContractWalletBounceable:    "127ee844d19a5fbcd9f71a55fa0d7454499913cfc762889b6da8d4094e2f70df",
	ContractWalletNonBounceable: "d8d1dc10b7da756902666267a07adb2dcaba9e96a31043189961be7e77d91102",
	ContractLibrarian:           "7bbe2c47beb65bf01f41cd1ccc4d69dfd9e2220e33969fcbc4fd48443d6bd430",
}

func contractFile(name string) string { return "contract-" + name + ".boc" }

// contractNames lists the contracts in a stable order.
func contractNames() []string {
	out := make([]string, 0, len(ContractCodeHashes))
	for n := range ContractCodeHashes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// contractSourcesHash is the sha256 of every embedded contract file (names
// and contents): part of the cache folder name, so an edited source is
// compiled again rather than served stale.
func contractSourcesHash() string {
	h := sha256.New()
	_ = fs.WalkDir(contractFiles, "contracts", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := contractFiles.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}

// compileContracts writes the embedded sources into a sub-directory of
// work, installs the pinned compiler there (`npm ci`: the lock file's
// integrity hashes are checked by npm), runs compile.js with node and
// returns each contract's code BoC, checked against ContractCodeHashes.
func compileContracts(ctx context.Context, npm, work string) (map[string][]byte, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node not found on PATH: it compiles tonsim's FunC contracts (install Node.js): %w", err)
	}
	dir := filepath.Join(work, "contracts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create contracts dir: %w", err)
	}
	ents, err := contractFiles.ReadDir("contracts")
	if err != nil {
		return nil, fmt.Errorf("read embedded contracts: %w", err)
	}
	for _, e := range ents {
		b, err := contractFiles.ReadFile(path.Join("contracts", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read embedded contracts: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			return nil, fmt.Errorf("write contract sources: %w", err)
		}
	}
	env := append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
	if _, err := run(ctx, dir, env, npm, "ci", "--ignore-scripts", "--silent"); err != nil {
		return nil, fmt.Errorf("install @ton-community/func-js@%s: %w", FuncJSVersion, err)
	}
	names := contractNames()
	out, err := run(ctx, dir, env, node, append([]string{"compile.js"}, names...)...)
	if err != nil {
		return nil, fmt.Errorf("compile tonsim contracts: %w", err)
	}
	var res struct {
		FuncVersion string            `json:"func_version"`
		Code        map[string]string `json:"code"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("compile tonsim contracts: malformed output: %w", err)
	}
	files := map[string][]byte{}
	var mismatch []string
	for _, name := range names {
		boc, err := base64.StdEncoding.DecodeString(res.Code[name])
		if err != nil {
			return nil, fmt.Errorf("compiled %s: %w", name, err)
		}
		c, err := cell.FromBOC(boc)
		if err != nil {
			return nil, fmt.Errorf("compiled %s is not a valid BOC: %w", name, err)
		}
		if got := hex.EncodeToString(c.Hash()); got != ContractCodeHashes[name] {
			mismatch = append(mismatch, fmt.Sprintf("%s: compiled %s, recorded %q", name, got, ContractCodeHashes[name]))
		}
		files[contractFile(name)] = boc
	}
	if len(mismatch) > 0 {
		return nil, fmt.Errorf("tonsim contracts compiled (FunC %s) to other code than recorded in assets.ContractCodeHashes; after changing a source, record the new hashes: %v", res.FuncVersion, mismatch)
	}
	return files, nil
}

// run runs name in dir and returns its stdout; a failure carries the last
// lines of stderr.
func run(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %v: %w: %s", filepath.Base(name), args, err, lastLines(stderr.String(), 10))
	}
	return stdout.Bytes(), nil
}

// loadContracts parses the compiled contracts of a version directory.
func loadContracts(files map[string][]byte) (map[string]*cell.Cell, error) {
	out := map[string]*cell.Cell{}
	for _, name := range contractNames() {
		c, err := cell.FromBOC(files[contractFile(name)])
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", contractFile(name), err)
		}
		out[name] = c
	}
	return out, nil
}
