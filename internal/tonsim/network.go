// Package tonsim runs a local TON network: a chain whose contracts execute
// on the official TON emulator, served over the liteserver protocol (ADNL
// TCP and in-process) so that the unmodified tonutils-go client talks to it,
// plus a control API for faucets, jettons, DNS, blocks, shards and faults.
package tonsim

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim/chain"
	"github.com/ton-custody/processor/internal/tonsim/dns"
	"github.com/ton-custody/processor/internal/tonsim/liteserver"
)

// GlobalID is the network id tonsim uses: testnet's, so addresses carry the
// testnet flag and testnet-only wallet ids apply.
const GlobalID = -3

// Options configure a network. The zero value is a 4-shard network producing
// a block every second, in memory, with no listeners.
type Options struct {
	Shards        int           // workchain-0 shards (power of two), default 4
	BlockInterval time.Duration // default 1s
	Manual        bool          // produce blocks only when asked
	LiteAddr      string        // ADNL liteserver listen address; "" = none
	// LiteServers is the number of liteserver nodes (default 1), each with
	// its own identity and view of the chain so that one can lag behind
	// (SetLag). With LiteAddr node i listens on LiteAddr's port + i (on a
	// free port of its own when that port is 0); the global config lists
	// them all.
	LiteServers int
	Logger      *slog.Logger
	// LiteKeySeed fixes the liteserver identities (32 bytes; node 0's key,
	// the other nodes derive theirs) so a restarted network keeps its
	// global config; random when nil (or restored from StateDir).
	LiteKeySeed []byte
	// Advertise is the host:port written into the global config (default:
	// the bound liteserver address); set it when clients reach the server
	// under another address, e.g. a container name. Hostnames are resolved
	// to IPv4 when the config is built. Node i is advertised on port + i.
	Advertise string
	// StateDir keeps the chain across restarts; "" keeps it in memory.
	StateDir string
	// SaveInterval is how often the state is written to StateDir (default 5s).
	SaveInterval time.Duration
	// Traffic is steady background load of irrelevant transfers (none by
	// default); SetTraffic changes its rate while the network runs.
	Traffic Traffic
}

// Contracts are the code cells and config the network needs from the TON
// emulator's npm packages.
type Contracts struct {
	Config *cell.Cell // default blockchain config (HashmapE 32 ^Cell)
	// GetMethodConfig is a slimmer config for get methods (the emulator
	// parses the config on every get method); Config when nil.
	GetMethodConfig  *cell.Cell
	JettonMinterCode *cell.Cell
	JettonWalletCode *cell.Cell
	// Compiled are tonsim's own contracts by assets.Contract* name (the
	// governed and notification-flavoured jettons need them).
	Compiled map[string]*cell.Cell
}

// Network is a running simulated TON network.
type Network struct {
	Chain   *chain.Chain
	Handler *liteserver.Handler // node 0's
	Faults  *liteserver.Faults  // in force on every node
	Lite    *liteserver.Server  // node 0's; nil without LiteAddr
	LiteURL string              // node 0's bound liteserver address
	// Nodes are the liteserver nodes, Options.LiteServers of them.
	Nodes []*LiteNode
	// API is a tonutils-go client over the in-process liteserver.
	API      ton.APIClientWrapped
	DNS      *dns.Resolver
	Genesis  *wallet.Wallet
	opts     Options
	code     Contracts
	log      *slog.Logger
	queryID  atomic.Uint32
	stopping chan struct{}
	wg       sync.WaitGroup

	mu          sync.Mutex
	jettons     map[string]*Jetton // by raw master address
	claimed     map[string]bool    // tx hashes already returned to a faucet caller
	blocksPause time.Time          // block production stopped until then
	traffic     *trafficGen        // background traffic; nil when never enabled
	produceMu   sync.Mutex
	saveMu      sync.Mutex
	liteSeed    []byte
}

// LiteNode is one liteserver of the network.
type LiteNode struct {
	Handler *liteserver.Handler
	Server  *liteserver.Server // nil without Options.LiteAddr
	URL     string             // bound address; "" without Options.LiteAddr
	key     ed25519.PrivateKey
}

// MaxLag is the most masterchain blocks SetLag lets a node fall behind.
const MaxLag = 10000

// Jetton is a jetton master deployed on the network.
type Jetton struct {
	Symbol   string           `json:"symbol"`
	Decimals int              `json:"decimals"`
	Master   *address.Address `json:"-"`
	// Kind is which contracts it runs ("" is JettonStandard).
	Kind JettonKind `json:"kind"`
}

// GenesisSeed derives the genesis wallet key. The network is a test network:
// the key is public on purpose so that tests can sign as genesis too.
var GenesisSeed = sha256.Sum256([]byte("tonsim genesis wallet"))

// GenesisBalance is what the genesis wallet starts with: 10^9 TON.
var GenesisBalance = new(big.Int).Mul(big.NewInt(1_000_000_000), big.NewInt(1_000_000_000))

const genesisTTL = 600 // seconds a genesis external message stays valid

// Start creates the network and starts block production (unless Manual) and
// the liteserver (if LiteAddr is set).
func Start(ctx context.Context, exec chain.Executor, code Contracts, opts Options) (*Network, error) {
	if opts.BlockInterval == 0 {
		opts.BlockInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LiteServers == 0 {
		opts.LiteServers = 1
	}
	if opts.LiteServers < 0 || opts.LiteServers > 16 {
		return nil, fmt.Errorf("liteservers must be between 1 and 16, got %d", opts.LiteServers)
	}
	if opts.Traffic.TPS < 0 || opts.Traffic.TPS > MaxTrafficTPS || opts.Traffic.Accounts < 0 || opts.Traffic.Accounts > 10_000_000 {
		return nil, fmt.Errorf("traffic: tps must be between 0 and %d and accounts between 0 and 10000000", MaxTrafficTPS)
	}
	if code.Config == nil || code.JettonMinterCode == nil || code.JettonWalletCode == nil {
		return nil, errors.New("tonsim needs the emulator's config and the jetton codes")
	}
	resolver := dns.New()
	cfg, err := networkConfig(code.Config, resolver)
	if err != nil {
		return nil, err
	}
	getCfg := cfg
	if code.GetMethodConfig != nil {
		if getCfg, err = networkConfig(code.GetMethodConfig, resolver); err != nil {
			return nil, err
		}
	}
	n := &Network{Faults: &liteserver.Faults{}, DNS: resolver, opts: opts, code: code, log: opts.Logger,
		stopping: make(chan struct{}), jettons: map[string]*Jetton{}, claimed: map[string]bool{}}
	// Start query ids from the clock so a restarted network does not replay
	// ids the genesis wallet still remembers.
	n.queryID.Store(uint32(time.Now().Unix()%(1<<22)) * 2)
	if opts.Traffic.TPS > 0 {
		n.traffic = newTrafficGen(opts.Traffic, time.Now())
	}

	key := ed25519.NewKeyFromSeed(GenesisSeed[:])
	n.Genesis, err = wallet.FromPrivateKey(nil, key, wallet.ConfigHighloadV3{MessageTTL: genesisTTL, MessageBuilder: n.nextQuery})
	if err != nil {
		return nil, fmt.Errorf("genesis wallet: %w", err)
	}
	si, err := wallet.GetStateInit(key.Public().(ed25519.PublicKey), wallet.ConfigHighloadV3{MessageTTL: genesisTTL}, n.Genesis.GetSubwalletID())
	if err != nil {
		return nil, fmt.Errorf("genesis state init: %w", err)
	}
	genesis := []chain.GenesisAccount{
		{Address: n.Genesis.WalletAddress(), Balance: GenesisBalance, Code: si.Code, Data: si.Data},
		{Address: resolver.Address, Balance: big.NewInt(1_000_000_000), Code: dns.Code, Data: cell.BeginCell().EndCell(), Native: resolver},
	}
	chainCfg := chain.Config{GlobalID: GlobalID, Shards: opts.Shards, Blockchain: cfg, GetMethodConfig: getCfg, Logger: opts.Logger}
	n.liteSeed = opts.LiteKeySeed
	restored := false
	if opts.StateDir != "" {
		st, snap, ok, err := loadState(opts.StateDir)
		if err != nil {
			return nil, err
		}
		if ok {
			n.Chain, err = chain.Restore(chainCfg, exec, map[string]chain.NativeContract{resolver.Address.StringRaw(): resolver}, snap)
			snap.Close()
			if err != nil {
				return nil, fmt.Errorf("restore from %s: %w", opts.StateDir, err)
			}
			if err := n.applyState(st); err != nil {
				return nil, err
			}
			if n.liteSeed == nil {
				n.liteSeed = st.LiteKeySeed
			}
			restored = true
		}
	}
	if !restored {
		if n.Chain, err = chain.New(chainCfg, exec, genesis); err != nil {
			return nil, err
		}
	}
	if n.liteSeed == nil {
		n.liteSeed = make([]byte, 32)
		if _, err := rand.Read(n.liteSeed); err != nil {
			return nil, err
		}
	}
	if err := n.startNodes(); err != nil {
		for _, nd := range n.Nodes {
			if nd.Server != nil {
				_ = nd.Server.Close()
			}
		}
		return nil, err
	}
	n.Handler, n.Lite, n.LiteURL = n.Nodes[0].Handler, n.Nodes[0].Server, n.Nodes[0].URL
	n.API = ton.NewAPIClient(liteserver.NewClient(n.Handler, nil), ton.ProofCheckPolicyFast)
	if !opts.Manual {
		n.wg.Add(1)
		go n.blockLoop()
	}
	if opts.StateDir != "" {
		if err := n.Save(); err != nil {
			return nil, err
		}
		n.wg.Add(1)
		go n.saveLoop()
	}
	return n, nil
}

// startNodes creates the liteserver nodes and, with LiteAddr, listens.
func (n *Network) startNodes() error {
	host, port := "", 0
	if n.opts.LiteAddr != "" {
		liteclient.Logger = func(...any) {} // the transport logs every disconnect to stderr
		h, p, err := net.SplitHostPort(n.opts.LiteAddr)
		if err != nil {
			return fmt.Errorf("liteserver address %q: %w", n.opts.LiteAddr, err)
		}
		host = h
		if p == "" {
			p = "0"
		}
		if port, err = strconv.Atoi(p); err != nil || port < 0 || port+n.opts.LiteServers-1 > 65535 {
			return fmt.Errorf("liteserver address %q: bad port", n.opts.LiteAddr)
		}
	}
	for i := 0; i < n.opts.LiteServers; i++ {
		nd := &LiteNode{Handler: liteserver.NewHandler(n.Chain), key: nodeKey(n.liteSeed, i)}
		n.Nodes = append(n.Nodes, nd)
		if n.opts.LiteAddr == "" {
			continue
		}
		p := port
		if p != 0 {
			p += i
		}
		nd.Server = liteserver.NewServer(nd.Handler, n.Faults, nd.key)
		var err error
		if nd.URL, err = nd.Server.Listen(net.JoinHostPort(host, strconv.Itoa(p))); err != nil {
			return fmt.Errorf("liteserver node %d: %w", i, err)
		}
	}
	return nil
}

// nodeKey is node i's identity: node 0 keeps the seed itself (the key
// single-node networks always had), the others derive theirs from it, so a
// restarted network keeps its global config.
func nodeKey(seed []byte, i int) ed25519.PrivateKey {
	if i == 0 {
		return ed25519.NewKeyFromSeed(seed)
	}
	d := sha256.Sum256(append([]byte(fmt.Sprintf("tonsim liteserver node %d:", i)), seed...))
	return ed25519.NewKeyFromSeed(d[:])
}

// SetLag makes liteserver node lag blocks masterchain blocks behind the
// chain, 0 to catch up: a stale node in a client's pool. It answers
// getMasterchainInfo with the older block, reads accounts and runs get
// methods as of it, answers requests for blocks it does not have yet with
// LSError 651 ("block is not applied"), makes waitMasterchainSeqno wait
// until it has the block, and checks sendMessage against its stale state.
func (n *Network) SetLag(node, blocks int) error {
	if node < 0 || node >= len(n.Nodes) {
		return fmt.Errorf("no liteserver node %d (the network has %d)", node, len(n.Nodes))
	}
	if blocks < 0 || blocks > MaxLag {
		return fmt.Errorf("lag must be between 0 and %d blocks, got %d", MaxLag, blocks)
	}
	n.Nodes[node].Handler.SetLag(uint32(blocks))
	return nil
}

// ClearFaults clears the liteserver faults, the node lags and a block
// production pause.
func (n *Network) ClearFaults() {
	n.Faults.Clear()
	for _, nd := range n.Nodes {
		nd.Handler.SetLag(0)
	}
	n.PauseBlocks(0)
}

// dropConnections closes every client connection on every node.
func (n *Network) dropConnections() {
	for _, nd := range n.Nodes {
		if nd.Server != nil {
			nd.Server.DropConnections()
		}
	}
}

// networkConfig is the emulator's default config with the DNS root (param
// 4), the testnet global id (param 19) and, when the snapshot lacks it, the
// message size limits (param 43) at mainnet's values, so that the emulator
// and tonsim's liteserver read the limits from the config as nodes do.
func networkConfig(base *cell.Cell, r *dns.Resolver) (*cell.Cell, error) {
	d := base.AsDict(32).Copy()
	set := func(k int64, v *cell.Cell) error {
		return d.SetIntKey(big.NewInt(k), cell.BeginCell().MustStoreRef(v).EndCell())
	}
	if _, err := d.LoadValueByIntKey(big.NewInt(43)); errors.Is(err, cell.ErrNoSuchKeyInDict) {
		if err := set(43, chain.DefaultSizeLimits().Cell()); err != nil {
			return nil, fmt.Errorf("config param 43: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("config param 43: %w", err)
	}
	if err := set(4, cell.BeginCell().MustStoreSlice(r.Address.Data(), 256).EndCell()); err != nil {
		return nil, fmt.Errorf("config param 4: %w", err)
	}
	if err := set(19, cell.BeginCell().MustStoreInt(GlobalID, 32).EndCell()); err != nil {
		return nil, fmt.Errorf("config param 19: %w", err)
	}
	return d.AsCell(), nil
}

func (n *Network) nextQuery(ctx context.Context, _ uint32) (uint32, int64, error) {
	for {
		id := n.queryID.Add(1) % (1 << 23)
		// Bit number 1023 is invalid in highload v3 (exit code 9), and
		// shift 8191 with bit 1022 is reserved.
		if id&1023 == 1023 || id == (1<<23)-2 {
			continue
		}
		return id, time.Now().Unix() - 1, nil
	}
}

// Close stops block production and the liteserver.
func (n *Network) Close() error {
	select {
	case <-n.stopping:
		return nil
	default:
	}
	close(n.stopping)
	n.wg.Wait()
	var errs []error
	for _, nd := range n.Nodes {
		if nd.Server != nil {
			errs = append(errs, nd.Server.Close())
		}
	}
	errs = append(errs, n.Save())
	return errors.Join(errs...)
}

func (n *Network) saveLoop() {
	defer n.wg.Done()
	every := n.opts.SaveInterval
	if every == 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.stopping:
			return
		case <-t.C:
			if err := n.Save(); err != nil {
				n.log.Error("saving state failed", "dir", n.opts.StateDir, "err", err)
			}
		}
	}
}

func (n *Network) blockLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.opts.BlockInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stopping:
			return
		case <-t.C:
		}
		n.mu.Lock()
		paused := time.Now().Before(n.blocksPause)
		n.mu.Unlock()
		if paused {
			continue
		}
		if _, err := n.ProduceBlock(context.Background()); err != nil {
			n.log.Error("block production failed", "err", err)
		}
	}
}

// ProduceBlock produces one block now, with the background traffic (see
// Options.Traffic) owed since the previous one.
func (n *Network) ProduceBlock(ctx context.Context) (*chain.Block, error) {
	n.produceMu.Lock()
	defer n.produceMu.Unlock()
	if err := n.queueTraffic(time.Now()); err != nil {
		return nil, fmt.Errorf("background traffic: %w", err)
	}
	return n.Chain.ProduceBlock(ctx)
}

// PauseBlocks stops timed block production for d.
func (n *Network) PauseBlocks(d time.Duration) {
	n.mu.Lock()
	n.blocksPause = time.Now().Add(d)
	n.mu.Unlock()
}

// GlobalConfig is the config to connect to the ADNL liteservers with: every
// node, node 0 first.
func (n *Network) GlobalConfig() (*liteclient.GlobalConfig, error) {
	if n.Lite == nil {
		return nil, errors.New("the liteserver is not listening")
	}
	var advHost string
	advPort := 0
	if n.opts.Advertise != "" {
		host, port, err := net.SplitHostPort(n.opts.Advertise)
		if err != nil {
			return nil, fmt.Errorf("advertise address: %w", err)
		}
		if advPort, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("advertise address: bad port %q", port)
		}
		ips, err := net.LookupIP(host)
		if err != nil {
			return nil, fmt.Errorf("advertise address: %w", err)
		}
		for _, ip := range ips {
			if ip.To4() != nil {
				advHost = ip.String()
				break
			}
		}
	}
	servers := make([]liteserver.Endpoint, len(n.Nodes))
	for i, nd := range n.Nodes {
		addr := nd.URL
		if advHost != "" {
			addr = net.JoinHostPort(advHost, strconv.Itoa(advPort+i))
		}
		servers[i] = liteserver.Endpoint{Addr: addr, Key: nd.Server.PublicKey()}
	}
	return liteserver.GlobalConfig(servers...)
}

// SendFromGenesis signs one highload external with msgs and submits it.
func (n *Network) SendFromGenesis(ctx context.Context, msgs ...*wallet.Message) error {
	ext, err := n.Genesis.PrepareExternalMessageForMany(ctx, false, msgs)
	if err != nil {
		return fmt.Errorf("genesis message: %w", err)
	}
	c, err := tlb.ToCell(ext)
	if err != nil {
		return fmt.Errorf("genesis message: %w", err)
	}
	return n.Chain.SendExternal(ctx, c.ToBOCWithFlags(false))
}

// TxResult identifies a final transaction.
type TxResult struct {
	Hash        []byte
	LT          uint64
	Account     *address.Address
	MasterSeqno uint32
	Tx          *tlb.Transaction
}

// waitTx waits until a final transaction on acc newer than afterLT matches,
// producing blocks itself in manual mode.
func (n *Network) waitTx(ctx context.Context, acc *address.Address, afterLT uint64, match func(*tlb.Transaction) bool) (*TxResult, error) {
	for {
		next := n.Chain.NewMaster()
		for _, ref := range n.Chain.TxsSince(acc, afterLT) {
			var tx tlb.Transaction
			if err := tlb.LoadFromCell(&tx, ref.Cell.BeginParse()); err != nil {
				return nil, err
			}
			key := string(ref.Hash)
			n.mu.Lock()
			taken := n.claimed[key]
			n.mu.Unlock()
			if taken || ref.Block == nil || ref.Block.MasterSeqno == 0 || !match(&tx) {
				continue
			}
			n.mu.Lock()
			n.claimed[key] = true
			n.mu.Unlock()
			tx.Hash = ref.Hash
			return &TxResult{Hash: ref.Hash, LT: ref.LT, Account: acc, MasterSeqno: ref.Block.MasterSeqno, Tx: &tx}, nil
		}
		if n.opts.Manual {
			if _, err := n.ProduceBlock(ctx); err != nil {
				return nil, err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a transaction on %s: %w", acc, ctx.Err())
		case <-next:
		case <-time.After(n.opts.BlockInterval * 2):
		}
	}
}

func lastLT(c *chain.Chain, a *address.Address) uint64 {
	if t := c.LastTx(a); t != nil {
		return t.LT
	}
	return 0
}

// Faucet sends amount nanoton from the genesis wallet to to and waits until
// the receiving transaction is final.
func (n *Network) Faucet(ctx context.Context, to *address.Address, amount *big.Int, bounce bool, comment string) (*TxResult, error) {
	if amount == nil || amount.Sign() <= 0 {
		return nil, errors.New("amount must be positive")
	}
	var body *cell.Cell
	if comment != "" {
		var err error
		if body, err = wallet.CreateCommentCell(comment); err != nil {
			return nil, fmt.Errorf("comment: %w", err)
		}
	}
	since := lastLT(n.Chain, to)
	msg := &wallet.Message{Mode: wallet.PayGasSeparately, InternalMessage: &tlb.InternalMessage{IHRDisabled: true, Bounce: bounce,
		DstAddr: to, Amount: tlb.FromNanoTON(amount), Body: body}}
	if err := n.SendFromGenesis(ctx, msg); err != nil {
		return nil, err
	}
	gen := n.Genesis.WalletAddress()
	wantBody := bodyHash(body)
	return n.waitTx(ctx, to, since, func(tx *tlb.Transaction) bool {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
			return false
		}
		in := tx.IO.In.AsInternal()
		return in.SrcAddr.Equals(gen) && in.Amount.Nano().Cmp(amount) == 0 && string(bodyHash(in.Body)) == string(wantBody)
	})
}

func bodyHash(c *cell.Cell) []byte {
	if c == nil {
		return cell.BeginCell().EndCell().Hash()
	}
	return c.Hash()
}
