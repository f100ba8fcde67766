// Package dns is a Go model of a TEP-81 root DNS resolver for tonsim. The
// resolver account exists on chain (so liteserver proofs cover it); its get
// method dnsresolve is answered here instead of by TVM code, which the issue
// allows for the DNS contracts only.
package dns

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/tonsim/chain"
)

// Record categories from TEP-81.
const (
	CategoryWallet = 0x9fd3 // dns_smc_address#9fd3
)

// Resolver resolves every registered domain fully at the root.
type Resolver struct {
	Address *address.Address

	mu      sync.RWMutex
	wallets map[string]*address.Address // normalised domain -> wallet
}

// RootHash is the account id of the root resolver in the masterchain; config
// parameter 4 carries it.
var RootHash = func() []byte { h := sha256.Sum256([]byte("tonsim dns root")); return h[:] }()

// New creates an empty resolver at -1:RootHash.
func New() *Resolver {
	return &Resolver{Address: address.NewAddress(0, 255, RootHash), wallets: map[string]*address.Address{}}
}

// Code is the placeholder code of the resolver account: a contract that
// accepts nothing (THROW 0xffff would do; it is never run).
var Code = cell.BeginCell().MustStoreUInt(0xF2FF, 16).EndCell()

// Normalize lower-cases a domain and removes a trailing dot.
func Normalize(domain string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	if d == "" || len(d) > 126 {
		return "", errors.New("domain must be 1..126 characters")
	}
	for _, part := range strings.Split(d, ".") {
		if part == "" {
			return "", fmt.Errorf("domain %q has an empty label", domain)
		}
		for _, r := range part {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return "", fmt.Errorf("domain %q: label characters must be a-z, 0-9 or '-'", domain)
			}
		}
	}
	return d, nil
}

// SetWallet sets the wallet record of domain.
func (r *Resolver) SetWallet(domain string, wallet *address.Address) error {
	d, err := Normalize(domain)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.wallets[d] = wallet
	r.mu.Unlock()
	return nil
}

// Wallets returns a copy of all wallet records (for persistence).
func (r *Resolver) Wallets() map[string]*address.Address {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]*address.Address, len(r.wallets))
	for k, v := range r.wallets {
		out[k] = v
	}
	return out
}

var methodDNSResolve = tlb.MethodNameHash("dnsresolve")

// RunGetMethod implements chain.NativeContract.
func (r *Resolver) RunGetMethod(methodID uint64, stack *cell.Cell) (*chain.GetMethodResult, error) {
	if methodID != methodDNSResolve {
		return &chain.GetMethodResult{ExitCode: 11}, nil
	}
	var in tlb.Stack
	if err := in.LoadFromCell(stack.BeginParse()); err != nil {
		return &chain.GetMethodResult{ExitCode: 7}, nil
	}
	var name []byte
	for in.Depth() > 0 {
		v, _ := in.Pop()
		if s, ok := v.(*cell.Slice); ok {
			b, err := s.LoadSlice(s.BitsLeft())
			if err != nil {
				return &chain.GetMethodResult{ExitCode: 7}, nil
			}
			name = b
		}
	}
	if len(name) == 0 {
		return &chain.GetMethodResult{ExitCode: 7}, nil
	}
	// The name arrives as labels in reverse order, each followed by \0:
	// "ton\0alice\0" for alice.ton.
	labels := strings.Split(strings.TrimSuffix(string(name), "\x00"), "\x00")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	r.mu.RLock()
	wallet := r.wallets[strings.ToLower(strings.Join(labels, "."))]
	r.mu.RUnlock()

	// tonutils-go reads results in the order tlb.Stack pops them, so the
	// first result (bits resolved) is pushed last.
	var out tlb.Stack
	if wallet == nil {
		out.Push(nil)
	} else {
		key := sha256.Sum256([]byte("wallet"))
		rec := cell.BeginCell().MustStoreUInt(CategoryWallet, 16).MustStoreAddr(wallet).MustStoreUInt(0, 8).EndCell()
		d := cell.NewDict(256)
		if err := d.Set(cell.BeginCell().MustStoreSlice(key[:], 256).EndCell(), cell.BeginCell().MustStoreRef(rec).EndCell()); err != nil {
			return nil, fmt.Errorf("dns records: %w", err)
		}
		out.Push(d.AsCell())
	}
	out.Push(big.NewInt(int64(len(name) * 8)))
	res, err := out.ToCell()
	if err != nil {
		return nil, fmt.Errorf("dns result: %w", err)
	}
	return &chain.GetMethodResult{ExitCode: 0, Stack: res}, nil
}
