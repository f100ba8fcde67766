// Package liteclienttest drives tonsim's liteserver over ADNL TCP with a
// client that is not tonutils-go: ton-lite-client (npm, with @ton/core),
// run by Node from liteclient.js. tonutils-go only builds the fixtures
// here; every answer under test is read and checked by the Node client.
package liteclienttest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/assets"
	"github.com/ton-custody/processor/internal/tonsim/chain"
	"github.com/ton-custody/processor/internal/tonsim/liteserver"
)

// checks are the calls liteclient.js makes, in its order: what a processor
// (this one, bicycle-like ones) and an indexer ask a liteserver. A check
// missing from the script's answer fails the test too.
var checks = []string{
	"getMasterchainInfo",
	"getMasterchainInfoExt",
	"getTime",
	"getVersion",
	"waitMasterchainSeqno",
	"getBlockHeader",
	"lookupBlock by seqno",
	"getAllShardsInfo",
	"getBlock masterchain",
	"getBlock shard",
	"getBlock accountBlocks strict",
	"listBlockTransactions",
	"listBlockTransactions want_proof",
	"listBlockTransactions want_proof on an empty shard block",
	"listBlockTransactions reverse_order",
	"getOneTransaction",
	"lookupBlock by utime",
	"lookupBlock by lt",
	"getAccountState",
	"getAccountStatePrunned",
	"getTransactions",
	"runSmcMethod",
	"getConfigAll",
	"getConfigParams",
	"getLibraries",
	"sendMessage",
}

// TestIndependentLiteClient runs every check of liteclient.js against a
// tonsim with 4 shards and reports each as a subtest named after the call.
func TestIndependentLiteClient(t *testing.T) {
	modules := nodeModules(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	emu, err := tonsim.OpenEmulator(ctx, "", 2)
	if err != nil {
		t.Fatalf("the TON emulator assets are needed (make assets): %v", err)
	}
	t.Cleanup(func() { _ = emu.Close(context.Background()) })
	n, err := tonsim.Start(ctx, emu, emu.Contracts, tonsim.Options{Shards: 4, BlockInterval: 200 * time.Millisecond, LiteAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })

	in := prepare(ctx, t, n)
	script, err := filepath.Abs("liteclient.js")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stdin = bytes.NewReader(raw)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("node liteclient.js: %v\n%s", err, stderr.String())
	}
	t.Logf("ton-lite-client ran %d checks in %v", len(checks), time.Since(started).Round(time.Millisecond))
	var results []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		MS    int    `json:"ms"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		t.Fatalf("liteclient.js printed no results (%v):\n%s\n%s", err, stdout.String(), stderr.String())
	}
	seen := map[string]bool{}
	for _, r := range results {
		seen[r.Name] = true
		t.Run(r.Name, func(t *testing.T) {
			if !r.OK {
				t.Errorf("liteserver call %s answered wrongly: %s", r.Name, r.Error)
			}
		})
	}
	for _, name := range checks {
		if !seen[name] {
			t.Errorf("liteclient.js did not run the check %q", name)
		}
	}
}

// input is what liteclient.js reads on stdin.
type input struct {
	Host           string   `json:"host"`
	Key            string   `json:"key"`
	Shards         int      `json:"shards"`
	Wallet         string   `json:"wallet"`
	WalletBalance  string   `json:"walletBalance"`
	WalletLastLT   string   `json:"walletLastLt"`
	WalletLastHash string   `json:"walletLastHash"`
	WalletSeqno    int      `json:"walletSeqno"`
	Jetton         jettonIn `json:"jetton"`
	Busy           blockIn  `json:"busy"`
	Empty          blockIn  `json:"empty"`
	ConfigAddr     string   `json:"configAddr"`
	Supply         string   `json:"supply"`
	Ext            string   `json:"ext"`
	ExtTo          string   `json:"extTo"`
	ExtAmount      string   `json:"extAmount"`
}

type jettonIn struct {
	Master string `json:"master"`
	Owner  string `json:"owner"`
	Wallet string `json:"wallet"`
	Supply string `json:"supply"`
}

type blockIn struct {
	Shard string `json:"shard"` // signed decimal, as ton-lite-client writes shards
	Seqno uint32 `json:"seqno"`
	Txs   int    `json:"txs"`
}

// prepare builds the fixtures: an active V4R2 wallet with two transactions,
// a jetton minted to it, a shard block with many transactions (bulk
// credits, two per account), an empty shard block, and a signed transfer
// for sendMessage.
func prepare(ctx context.Context, t *testing.T, n *tonsim.Network) input {
	t.Helper()
	api := func() ton.APIClientWrapped {
		// A client of its own each time: tonutils-go caches the
		// masterchain info for 5 s.
		return ton.NewAPIClient(liteserver.NewClient(n.Handler, nil), ton.ProofCheckPolicyFast)
	}
	seed := sha256.Sum256([]byte("liteclienttest wallet"))
	key := ed25519.NewKeyFromSeed(seed[:])
	w, err := wallet.FromPrivateKey(api(), key, wallet.V4R2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Faucet(ctx, w.WalletAddress(), tlb.MustFromTON("10").Nano(), false, ""); err != nil {
		t.Fatal(err)
	}
	sink := address.NewAddress(0, 0, bytes.Repeat([]byte{0x77}, 32))
	if w, err = wallet.FromPrivateKey(api(), key, wallet.V4R2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.SendWaitTransaction(ctx, wallet.SimpleMessage(sink, tlb.MustFromTON("1"), nil)); err != nil {
		t.Fatalf("deploy the wallet: %v", err)
	}

	j, err := n.DeployJetton(ctx, "LTC", 6)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Mint(ctx, j.Master, w.WalletAddress(), big.NewInt(1000)); err != nil {
		t.Fatal(err)
	}
	jw, err := n.JettonWallet(ctx, j.Master, w.WalletAddress())
	if err != nil {
		t.Fatal(err)
	}

	// Bulk credits into shard 2000000000000000 (addresses starting 00):
	// 12 accounts, two credits each, all in one block.
	var bulk []chain.BulkTransfer
	bulkSum := new(big.Int)
	var first *address.Address
	for i := 0; i < 24; i++ {
		h := make([]byte, 32)
		h[0], h[1], h[31] = byte(i%12), 0x42, byte(i%12)
		a := address.NewAddress(0, 0, h)
		if first == nil {
			first = a
		}
		amt := big.NewInt(int64(1_000_000 + i))
		bulkSum.Add(bulkSum, amt)
		bulk = append(bulk, chain.BulkTransfer{To: a, Amount: amt})
	}
	if err := n.Chain.BulkLoad(bulk); err != nil {
		t.Fatal(err)
	}
	var busy *chain.Block
	waitFor(t, 30*time.Second, "the bulk block", func() bool {
		tx := n.Chain.LastTx(first)
		if tx == nil || tx.Block == nil || tx.Block.MasterSeqno == 0 {
			return false
		}
		busy = tx.Block
		return true
	})
	if len(busy.Txs) != 24 {
		t.Fatalf("the bulk credits landed in several blocks (%d of 24 in %d)", len(busy.Txs), busy.ID.SeqNo)
	}
	// A few more blocks so that the network is idle: the newest shard
	// blocks are then empty.
	mc := n.Chain.Last().ID.SeqNo
	waitFor(t, 30*time.Second, "idle blocks", func() bool { return n.Chain.Last().ID.SeqNo >= mc+3 })
	var empty *chain.Block
	for _, top := range n.Chain.Last().ShardTops {
		if len(top.Txs) == 0 {
			empty = top
		}
	}
	if empty == nil {
		t.Fatal("no empty shard block")
	}

	last := n.Chain.Last()
	v, err := n.Chain.AccountAt(&last.ID, w.WalletAddress())
	if err != nil {
		t.Fatal(err)
	}
	lastTx := n.Chain.LastTx(w.WalletAddress())

	// The transfer liteclient.js sends with sendMessage (seqno 1).
	if w, err = wallet.FromPrivateKey(api(), key, wallet.V4R2); err != nil {
		t.Fatal(err)
	}
	extTo := address.NewAddress(0, 0, bytes.Repeat([]byte{0x78}, 32))
	// Non-bounceable: the destination does not exist yet.
	transfer := &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: &tlb.InternalMessage{
		IHRDisabled: true, Bounce: false, DstAddr: extTo, Amount: tlb.MustFromTON("0.5"), Body: cell.BeginCell().EndCell()}}
	ext, err := w.PrepareExternalMessageForMany(ctx, false, []*wallet.Message{transfer})
	if err != nil {
		t.Fatal(err)
	}
	extCell, err := tlb.ToCell(ext)
	if err != nil {
		t.Fatal(err)
	}

	gc, err := n.GlobalConfig()
	if err != nil {
		t.Fatal(err)
	}
	ls := gc.Liteservers[0]
	ip := uint32(ls.IP)
	host := fmt.Sprintf("%d.%d.%d.%d:%d", byte(ip>>24), byte(ip>>16), byte(ip>>8), byte(ip), ls.Port)

	// Total supply: what genesis holds (the genesis wallet and the DNS
	// root) plus what bulk mode created from nothing.
	supply := new(big.Int).Add(tonsim.GenesisBalance, big.NewInt(1_000_000_000))
	supply.Add(supply, bulkSum)

	raw := func(a *address.Address) string { return a.StringRaw() }
	return input{
		Host: host, Key: ls.ID.Key, Shards: 4,
		Wallet: raw(w.WalletAddress()), WalletBalance: v.Info.Balance.String(),
		WalletLastLT: strconv.FormatUint(lastTx.LT, 10), WalletLastHash: hex.EncodeToString(lastTx.Hash), WalletSeqno: 1,
		Jetton:     jettonIn{Master: raw(j.Master), Owner: raw(w.WalletAddress()), Wallet: raw(jw), Supply: "1000"},
		Busy:       blockIn{Shard: strconv.FormatInt(busy.ID.Shard, 10), Seqno: busy.ID.SeqNo, Txs: len(busy.Txs)},
		Empty:      blockIn{Shard: strconv.FormatInt(empty.ID.Shard, 10), Seqno: empty.ID.SeqNo},
		ConfigAddr: configAddr(t, n.Chain.BlockchainConfig()), Supply: supply.String(),
		Ext: base64.StdEncoding.EncodeToString(extCell.ToBOCWithFlags(false)), ExtTo: raw(extTo), ExtAmount: tlb.MustFromTON("0.5").Nano().String(),
	}
}

// configAddr is config param 0, the config smart contract's account id.
func configAddr(t *testing.T, cfg *cell.Cell) string {
	t.Helper()
	v, err := cfg.AsDict(32).LoadValueByIntKey(big.NewInt(0))
	if err != nil {
		t.Fatalf("config param 0: %v", err)
	}
	ref, err := v.LoadRef()
	if err != nil {
		t.Fatalf("config param 0: %v", err)
	}
	id, err := ref.LoadSlice(256)
	if err != nil {
		t.Fatalf("config param 0: %v", err)
	}
	return hex.EncodeToString(id)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nodeModules installs the pinned npm packages (package-lock.json) once per
// lock file into the cache next to the emulator assets and returns the
// node_modules directory. Nothing downloaded is committed.
func nodeModules(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH: this test drives tonsim with the npm package ton-lite-client under Node.js (install Node.js 18+ and npm, e.g. apt-get install nodejs npm)", tool)
		}
	}
	lock, err := os.ReadFile("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(append([]byte{}, pkg...), lock...))
	dir := filepath.Join(filepath.Dir(assets.DefaultDir()), "liteclienttest-npm", hex.EncodeToString(sum[:8]))
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "ton-lite-client", "package.json")); err == nil {
		return modules
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	// Install into a staging directory and rename it into place, so an
	// interrupted install never looks complete.
	stage, err := os.MkdirTemp(filepath.Dir(dir), "stage-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(stage)
	for name, b := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(stage, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent")
	cmd.Dir = stage
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci (ton-lite-client, @ton/core) failed: %v\n%s", err, out)
	}
	if err := os.Rename(stage, dir); err != nil && !errors.Is(err, os.ErrExist) {
		// Another run may have installed it meanwhile.
		if _, serr := os.Stat(filepath.Join(modules, "ton-lite-client", "package.json")); serr != nil {
			t.Fatalf("install npm packages: %v", err)
		}
	}
	if !strings.HasPrefix(modules, string(filepath.Separator)) {
		if modules, err = filepath.Abs(modules); err != nil {
			t.Fatal(err)
		}
	}
	return modules
}
