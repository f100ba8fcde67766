package app

import (
	"context"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// supplyTTL is how long a jetton's total_supply is reused before it is
// read again; a refusal always re-reads it first.
const supplyTTL = time.Minute

// supplyCeiling answers withdrawals.RequestsConfig.Ceiling: TON's fixed
// ceiling, and each configured jetton's total_supply read from its master.
type supplyCeiling struct {
	chain   *ton.Client
	masters map[string]*address.Address
	log     *slog.Logger

	mu     sync.Mutex
	cached map[string]cachedSupply
}

type cachedSupply struct {
	v  *big.Int
	at time.Time
}

func (s *supplyCeiling) Ceiling(ctx context.Context, currency string, fresh bool) (*big.Int, error) {
	if currency == "TON" {
		return withdrawals.TONCeiling, nil
	}
	master, ok := s.masters[currency]
	if !ok {
		return nil, nil // unknown currencies are refused elsewhere
	}
	s.mu.Lock()
	c, ok := s.cached[currency]
	s.mu.Unlock()
	if ok && !fresh && time.Since(c.at) < supplyTTL {
		return c.v, nil
	}
	v, err := s.chain.JettonTotalSupply(ctx, master)
	if err != nil {
		// The ceiling is a sanity check: a liteserver hiccup must not stop
		// withdrawal requests, which are queued anyway.
		s.log.Warn("jetton total supply unknown; amount ceiling not checked", "currency", currency, "err", err)
		if ok {
			return c.v, nil
		}
		return nil, nil
	}
	s.mu.Lock()
	s.cached[currency] = cachedSupply{v: v, at: time.Now()}
	s.mu.Unlock()
	return v, nil
}
