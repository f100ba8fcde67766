// Package ton is the processor's only way to the TON chain.
//
// It wraps tonutils-go's APIClient (proof policy Fast) over a liteserver
// connection and adds what a custody service needs around every single
// liteserver query, including the ones the block scanner makes through
// API(): bounded retries with backoff for transient failures (LSError 651
// "block not ready" and friends, timeouts, dropped connections), a timeout
// per attempt, a limit on queries in flight, and Prometheus metrics by
// method. On top of that it offers the few reads and writes the processor
// needs: at a fresh masterchain head for display, or (the ...At variants)
// at an explicit block from PinnedAt for reads that money decisions rest on.
//
// Known tonutils-go v1.12.0 bug: tlb.AccountState does not know the
// storage_extra_info$001 field that newer accounts (a jetton minter, for
// one) carry, so APIClient.GetAccount fails on them. AccountState parses
// the account itself and works on every account; Account (which returns
// tonutils' *tlb.Account) must not be called on jetton masters.
package ton

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tlb"
	tonutils "github.com/xssnick/tonutils-go/ton"
)

// ErrNotFound reports that what was asked for does not exist on chain, such
// as a DNS domain without a wallet record.
var ErrNotFound = errors.New("ton: not found")

// Defaults for Options fields left zero.
const (
	// DefaultCallTimeout bounds one attempt of one query. It is above the
	// 10 s a liteserver may spend in waitMasterchainSeqno (tonutils-go's
	// WaitForBlock), so a query waiting for a block is not cut short.
	DefaultCallTimeout = 15 * time.Second
	// DefaultAttempts is the number of tries per query, the first included.
	DefaultAttempts = 4
	// DefaultBackoffMin is the wait before the first retry; it doubles per
	// retry up to DefaultBackoffMax. One block is ~2-5 s on mainnet, so a
	// "block not ready" answer is usually cured within the second retry.
	DefaultBackoffMin = 200 * time.Millisecond
	// DefaultBackoffMax caps the wait between retries.
	DefaultBackoffMax = 2 * time.Second
	// DefaultMaxInFlight limits concurrent queries from one Client, so a
	// burst (a scanner catching up, many balance calls) cannot flood the
	// liteservers into rate limiting every caller.
	DefaultMaxInFlight = 64
	// DefaultReconnectWait is the pause between reconnection attempts to a
	// liteserver that dropped (Connect only).
	DefaultReconnectWait = 3 * time.Second
	// dnsRootTTL is how long the DNS root from config param 4 is reused.
	dnsRootTTL = 10 * time.Minute
)

// Options tune a Client. The zero value is usable: every zero field takes
// its default.
type Options struct {
	// Registerer receives the liteserver metrics. nil leaves them
	// unregistered. Several Clients may share one Registerer: the second
	// one reuses the first one's collectors.
	Registerer prometheus.Registerer
	// CallTimeout bounds each attempt of each query (DefaultCallTimeout).
	CallTimeout time.Duration
	// Attempts is the maximum number of tries per query, the first
	// included (DefaultAttempts); 1 disables retries.
	Attempts int
	// BackoffMin and BackoffMax bound the exponential wait between tries.
	BackoffMin, BackoffMax time.Duration
	// MaxInFlight caps concurrent queries (DefaultMaxInFlight).
	MaxInFlight int
	// ReconnectWait is the pause between reconnection attempts to a
	// dropped liteserver; Connect only (DefaultReconnectWait).
	ReconnectWait time.Duration
	// Logger receives warnings (e.g. metrics that could not be
	// registered); nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(DefaultBackoffMax, o.BackoffMin)
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = DefaultReconnectWait
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Client reaches the chain. It is safe for concurrent use.
type Client struct {
	api  *tonutils.APIClient
	lite *liteClient
	pool *liteclient.ConnectionPool // owned by Connect; nil from New

	dnsMu       sync.Mutex
	dnsRoot     *address.Address
	dnsRootTime time.Time
}

// New builds a Client over any liteserver client: a tonutils-go
// *liteclient.ConnectionPool, or in tests and `processor dev` tonsim's
// in-process client. The caller keeps ownership of lc.
func New(lc tonutils.LiteClient, opts Options) *Client {
	opts = opts.withDefaults()
	l := newLiteClient(lc, opts)
	return &Client{api: tonutils.NewAPIClient(l, tonutils.ProofCheckPolicyFast), lite: l}
}

// Connect opens a liteserver connection pool from a global config, given
// as a file path or an http(s) URL (e.g. https://ton.org/global.config.json
// or tonsim's /config.json). It returns once one liteserver answers; the
// others keep connecting in the background, and any that drops is
// reconnected every ReconnectWait for as long as the Client lives.
func Connect(ctx context.Context, configPathOrURL string, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	cfg, err := loadGlobalConfig(ctx, configPathOrURL)
	if err != nil {
		return nil, err
	}
	if len(cfg.Liteservers) == 0 {
		return nil, fmt.Errorf("ton: global config %s lists no liteservers", configPathOrURL)
	}
	pool := liteclient.NewConnectionPool()
	pool.SetOnDisconnect(pool.DefaultReconnect(opts.ReconnectWait, -1))
	if err := pool.AddConnectionsFromConfig(ctx, cfg); err != nil {
		pool.Stop()
		return nil, fmt.Errorf("ton: connect to the liteservers of %s: %w", configPathOrURL, err)
	}
	c := New(pool, opts)
	c.pool = pool
	return c, nil
}

// maxConfigSize bounds a downloaded global config; mainnet's is ~40 KiB.
const maxConfigSize = 8 << 20

func loadGlobalConfig(ctx context.Context, src string) (*liteclient.GlobalConfig, error) {
	var data []byte
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, fmt.Errorf("ton: global config URL %s: %w", src, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("ton: fetch global config: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("ton: fetch global config %s: HTTP status %s", src, resp.Status)
		}
		if data, err = io.ReadAll(io.LimitReader(resp.Body, maxConfigSize)); err != nil {
			return nil, fmt.Errorf("ton: read global config %s: %w", src, err)
		}
	} else {
		var err error
		if data, err = os.ReadFile(src); err != nil {
			return nil, fmt.Errorf("ton: read global config: %w", err)
		}
	}
	cfg := &liteclient.GlobalConfig{}
	if err := json.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("ton: global config %s is not valid JSON: %w", src, err)
	}
	return cfg, nil
}

// Close stops the connection pool Connect opened; for a Client from New it
// does nothing (the caller owns the liteserver client).
func (c *Client) Close() {
	if c.pool != nil {
		c.pool.Stop()
	}
}

// API returns the underlying tonutils-go client for the block scanner and
// the wallets. Every query it makes goes through this Client's retries,
// timeouts, limiter and metrics. Note that its CurrentMasterchainInfo is
// cached for ~5 s; use MasterHead where freshness matters.
func (c *Client) API() tonutils.APIClientWrapped { return c.api }

// MasterHead returns the newest masterchain block the liteserver knows. It
// asks every time (GetMasterchainInfo), unlike tonutils-go's
// CurrentMasterchainInfo, whose 5-s cache would hide a block that has
// just confirmed a payment.
func (c *Client) MasterHead(ctx context.Context) (*tonutils.BlockIDExt, error) {
	b, err := c.api.GetMasterchainInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("ton: get masterchain head: %w", err)
	}
	return b, nil
}

// PinnedAt returns a masterchain block with seqno >= minSeqno, to read all
// the state that one decision rests on at that one block. Pass the
// scanner's cursor: a head older than it (any node of a pool may lag)
// would still show money that batches the scanner has confirmed, and so
// no longer reserves, already spent.
//
// The query carries waitMasterchainSeqno(minSeqno) (WaitForBlock): a node
// that does not have the block yet waits for it, or refuses when it is too
// far behind, and the retry goes to another node.
func (c *Client) PinnedAt(ctx context.Context, minSeqno uint32) (*tonutils.BlockIDExt, error) {
	b, err := c.api.WaitForBlock(minSeqno).GetMasterchainInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("ton: masterchain block at or after %d: %w", minSeqno, err)
	}
	if b.SeqNo < minSeqno {
		// A liteserver that ignored the wait: never read at such a block.
		return nil, fmt.Errorf("ton: liteserver answered masterchain block %d, older than the %d asked for", b.SeqNo, minSeqno)
	}
	return b, nil
}

// Account returns addr's account at a masterchain block as tonutils-go
// parses it (code, data, last transaction). The liteserver is asked to
// wait until it has the block, so a block from another liteserver works.
//
// It fails on accounts whose storage carries storage_extra_info (e.g.
// jetton minters) because of the tonutils-go v1.12.0 bug described in the
// package documentation; never call it on a jetton master. AccountState
// has no such limit.
func (c *Client) Account(ctx context.Context, block *tonutils.BlockIDExt, addr *address.Address) (*tlb.Account, error) {
	acc, err := c.api.WaitForBlock(block.SeqNo).GetAccount(ctx, block, addr)
	if err != nil {
		return nil, fmt.Errorf("ton: get account %s at block %d: %w", addr.StringRaw(), block.SeqNo, err)
	}
	return acc, nil
}
