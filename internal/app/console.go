package app

import (
	"context"
	"math/big"
	"net/http"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/console"
	"github.com/ton-custody/processor/internal/httpapi"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// newConsole builds the operator console when CONSOLE_ENABLED is set.
func (a *App) newConsole(masters map[string]*address.Address) error {
	cfg := a.Config
	if !cfg.Console.Enabled {
		return nil
	}
	ctl, err := withdrawals.NewControls(a.DB, withdrawals.ControlsConfig{Network: cfg.Network, JettonMasters: masters,
		Currencies: cfg.Currencies(), ApprovalsRequired: cfg.ApprovalsRequired})
	if err != nil {
		return err
	}
	coldWallet := ""
	if cfg.ColdWallet != nil {
		coldWallet = a.Wallets.FormatAddress(cfg.ColdWallet, true)
	}
	opts := console.Options{DB: a.DB, Controls: ctl, Network: cfg.Network, Currencies: cfg.Currencies(), Decimals: cfg.JettonDecimals,
		ExplorerURL: cfg.Console.ExplorerURL, SessionTTL: cfg.Console.SessionTTL, MaxFailedLogins: cfg.Console.MaxFailedLogins,
		Lockout: cfg.Console.Lockout, InsecureCookie: cfg.Console.InsecureCookie, AllowableLag: cfg.AllowableLag,
		HotWallet: a.Wallets.FormatAddress(a.Wallets.HotWalletAddress(), true), MinBalance: cfg.HotWalletMinBalance,
		ColdWallet: coldWallet, ApprovalThresholds: cfg.ApprovalThresholds, ApprovalsRequired: cfg.ApprovalsRequired,
		Head: a.head.Head,
		HotBalance: func(ctx context.Context, currency string) (*big.Int, error) {
			b, _, err := a.Wallets.Balance(ctx, currency, nil)
			return b, err
		},
		Logger: a.log}
	if a.bridgeOn {
		opts.BridgeBalances = func(ctx context.Context) ([]bridge.ProviderBalance, []bridge.ProviderError) {
			return a.Bridge.Balances(ctx)
		}
	}
	if a.Console, err = console.New(opts); err != nil {
		return err
	}
	return nil
}

// serveConsole serves the console on its own address (CONSOLE_ADDR) until
// ctx ends. Its server answers only /console paths.
func (a *App) serveConsole(ctx context.Context) error {
	srv := httpapi.NewHTTPServer(a.Config.Console.Addr, console.Mount(a.Console, http.NotFoundHandler()), a.log)
	return a.serveHTTP(ctx, srv, a.consoleListener, "CONSOLE_ADDR", "console listening")
}
