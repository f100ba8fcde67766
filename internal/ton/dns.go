package ton

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	tonutils "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/dns"
)

// ErrInvalidDomain reports a domain name that TEP-81 cannot represent; the
// HTTP layer answers 400 for it (and 404 for ErrNotFound).
var ErrInvalidDomain = errors.New("ton: invalid domain name")

// maxDomainLen is TEP-81's limit on the internal representation (labels
// plus one zero byte each): 127 bytes.
const maxDomainLen = 126

// ResolveWallet resolves domain (e.g. "wallet.ton") through TON DNS at the
// current head and returns its wallet record (dns_smc_address#9fd3) as a
// bounceable address: a DNS name points at a contract, and the API shows it
// bounceable. The testnet flag is left clear; FormatUser sets it for
// output. A domain that does not exist or has no wallet record gives
// ErrNotFound.
func (c *Client) ResolveWallet(ctx context.Context, domain string) (*address.Address, error) {
	name, err := normalizeDomain(domain)
	if err != nil {
		return nil, err
	}
	head, err := c.MasterHead(ctx)
	if err != nil {
		return nil, err
	}
	root, err := c.dnsRootAt(ctx, head)
	if err != nil {
		return nil, err
	}
	d, err := dns.NewDNSClient(c.api, root).ResolveAtBlock(ctx, name, head)
	if errors.Is(err, dns.ErrNoSuchRecord) {
		return nil, fmt.Errorf("ton: resolve %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("ton: resolve %q: %w", name, err)
	}
	w := d.GetWalletRecord()
	if w == nil {
		return nil, fmt.Errorf("ton: resolve %q: no wallet record: %w", name, ErrNotFound)
	}
	return w.Bounce(true).Testnet(false), nil
}

// dnsRootAt returns the root resolver named by config parameter 4,
// reusing it for dnsRootTTL (it practically never changes).
func (c *Client) dnsRootAt(ctx context.Context, head *tonutils.BlockIDExt) (*address.Address, error) {
	c.dnsMu.Lock()
	defer c.dnsMu.Unlock()
	if c.dnsRoot != nil && time.Since(c.dnsRootTime) < dnsRootTTL {
		return c.dnsRoot, nil
	}
	cfg, err := c.api.WaitForBlock(head.SeqNo).GetBlockchainConfig(ctx, head, 4)
	if err != nil {
		return nil, fmt.Errorf("ton: read DNS root (config param 4): %w", err)
	}
	p := cfg.Get(4)
	if p == nil {
		return nil, errors.New("ton: the network has no DNS root (config param 4 is empty)")
	}
	hash, err := p.BeginParse().LoadSlice(256)
	if err != nil {
		return nil, fmt.Errorf("ton: read DNS root (config param 4): %w", err)
	}
	c.dnsRoot = address.NewAddress(0, byte(0xff), hash) // the root lives in the masterchain
	c.dnsRootTime = time.Now()
	return c.dnsRoot, nil
}

// normalizeDomain lower-cases domain and drops one trailing dot, then
// checks TEP-81's rules: non-empty labels of bytes 0x21..0x7e (no dot, no
// zero byte), at most 126 bytes in all.
func normalizeDomain(domain string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(domain), ".")
	if d == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidDomain)
	}
	if len(d) > maxDomainLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidDomain, maxDomainLen)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return "", fmt.Errorf("%w: %q has an empty label", ErrInvalidDomain, domain)
		}
		for i := 0; i < len(label); i++ {
			if b := label[i]; b < 0x21 || b > 0x7e {
				return "", fmt.Errorf("%w: %q contains a character outside printable ASCII", ErrInvalidDomain, domain)
			}
		}
	}
	return d, nil
}
