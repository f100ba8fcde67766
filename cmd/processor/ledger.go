package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/ledger"
	"github.com/ton-custody/processor/internal/store"
)

// ledgerCommand runs processor ledger-backfill and ledger-adjust.
func ledgerCommand(ctx context.Context, cmd string, flags []string, getenv func(string) string, stdout io.Writer) error {
	if cmd == "ledger-adjust" && len(flags) != 4 {
		return errors.New("usage: processor ledger-adjust REF ACCOUNT CURRENCY AMOUNT, e.g. processor ledger-adjust hot-funding-1 hot TON 100000000000")
	}
	if cmd == "ledger-backfill" && len(flags) != 0 {
		return errors.New("usage: processor ledger-backfill")
	}
	pool, err := openDB(ctx, getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := store.Migrate(ctx, pool); err != nil {
		return err
	}
	if cmd == "ledger-backfill" {
		res, err := ledger.Backfill(ctx, pool)
		if err != nil {
			return err
		}
		kinds := make([]string, 0, len(res))
		for k := range res {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		fmt.Fprintln(stdout, "ledger backfilled")
		for _, k := range kinds {
			fmt.Fprintf(stdout, "  %s: %d postings\n", k, res[k])
		}
		return nil
	}
	amount, ok := new(big.Int).SetString(flags[3], 10)
	if !ok || amount.Sign() == 0 {
		return fmt.Errorf("amount %q: a non-zero integer in base units", flags[3])
	}
	var posted bool
	err = store.InTx(ctx, pool, func(tx pgx.Tx) error {
		posted, err = ledger.Adjust(ctx, tx, flags[0], flags[1], flags[2], amount)
		return err
	})
	if err != nil {
		return err
	}
	if !posted {
		fmt.Fprintln(stdout, "adjustment", flags[0], "was booked before: nothing changed")
		return nil
	}
	fmt.Fprintln(stdout, "booked", amount, flags[2], "on", flags[1])
	return nil
}
