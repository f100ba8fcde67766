package wallets

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// NotifyChannel is the PostgreSQL NOTIFY channel announcing a new deposit
// wallet; the payload is its deposit_wallets.id. Other instances LISTEN to
// refresh their watched-address index.
const NotifyChannel = "deposit_wallets"

// Errors the HTTP layer maps to 400.
var (
	// ErrUnknownCurrency: neither TON nor a configured jetton symbol.
	ErrUnknownCurrency = errors.New("unknown currency")
	// ErrInvalidUserID: user ids are 1..256 characters of valid UTF-8.
	ErrInvalidUserID = errors.New("invalid user_id")
)

// maxUserIDLen matches deposit_wallets.user_id's CHECK.
const maxUserIDLen = 256

// Address is one deposit address of a user, as GET /v1/address/all lists
// it: the owner address in user-friendly form and its currency.
type Address struct {
	// Address is non-bounceable, testnet-flagged on testnet (FormatUser).
	Address string
	// Currency is "TON" or the jetton symbol the address was made for.
	Currency string
}

// Service hands out deposit addresses and reads balances. It holds no
// address state in memory (the database is the only record), so any number
// of API replicas can run it side by side; it is safe for concurrent use.
type Service struct {
	db       *pgxpool.Pool
	chain    *ton.Client
	network  config.Network
	jettons  map[string]config.Jetton
	hot      *HotWallet
	deposits *Deposits
}

// NewService builds the service from the pool, the chain client, the
// derived keys and the configuration (network, jettons, highload timeout).
// chain may be nil only where no jetton address and no balance is asked
// for (TON-only address generation).
func NewService(db *pgxpool.Pool, chain *ton.Client, keys *Keys, cfg *config.Config) (*Service, error) {
	hot, err := NewHotWallet(keys, cfg.HighloadTimeout)
	if err != nil {
		return nil, err
	}
	deposits, err := NewDeposits(keys)
	if err != nil {
		return nil, err
	}
	jettons := make(map[string]config.Jetton, len(cfg.Jettons))
	for _, j := range cfg.Jettons {
		if j.Symbol == config.TONSymbol || j.Master == nil {
			return nil, fmt.Errorf("wallets: jetton %q: symbol TON or no master", j.Symbol)
		}
		jettons[j.Symbol] = j
	}
	return &Service{db: db, chain: chain, network: cfg.Network, jettons: jettons, hot: hot, deposits: deposits}, nil
}

// HotWallet is the processor's hot wallet.
func (s *Service) HotWallet() *HotWallet { return s.hot }

// HotWalletAddress is the hot wallet's address (flags: see HotWallet.Address).
func (s *Service) HotWalletAddress() *address.Address { return s.hot.Address() }

// Deposits derives deposit wallets (addresses and signing wallets).
func (s *Service) Deposits() *Deposits { return s.deposits }

// DepositAddress is deposit wallet subwalletID's owner address; a pure
// function of the deposit key and the id (see Deposits.Address).
func (s *Service) DepositAddress(subwalletID uint32) *address.Address {
	return s.deposits.Address(subwalletID)
}

// FormatAddress renders addr for API output on this service's network
// (FormatUser with the configured network).
func (s *Service) FormatAddress(addr *address.Address, bounceable bool) string {
	return tonaddr.Format(addr, s.network, bounceable)
}

// NewAddress creates a deposit address for userID in currency and returns
// it in user-friendly form: non-bounceable (users fund an undeployed
// wallet, and a bounceable transfer to it would bounce) and testnet-flagged
// on testnet.
//
// The subwallet id comes from nextval('deposit_subwallet_id_seq'), so
// concurrent calls on any number of instances never share one and no lock
// is needed; a value whose insert fails is simply skipped. For a jetton the
// master is asked for the owner's jetton wallet before the row is
// written, so the scanner can watch it from the first moment. The row and
// the NOTIFY are one transaction (one statement).
func (s *Service) NewAddress(ctx context.Context, userID, currency string) (string, error) {
	if err := checkUserID(userID); err != nil {
		return "", err
	}
	jetton, isJetton, err := s.currency(currency)
	if err != nil {
		return "", err
	}
	var id int64
	if err := s.db.QueryRow(ctx, `SELECT nextval('deposit_subwallet_id_seq')`).Scan(&id); err != nil {
		return "", fmt.Errorf("wallets: allocate subwallet id: %w", err)
	}
	if id < 0 || id > 1<<32-1 {
		return "", fmt.Errorf("wallets: subwallet id %d out of the uint32 range", id)
	}
	owner := s.deposits.Address(uint32(id))

	var masterWC, walletWC *int32
	var master, jw []byte
	if isJetton {
		if s.chain == nil {
			return "", errors.New("wallets: jetton deposit addresses need a chain client")
		}
		w, err := s.chain.JettonWalletAddress(ctx, jetton.Master, owner)
		if err != nil {
			return "", fmt.Errorf("wallets: %s jetton wallet of a new deposit: %w", currency, err)
		}
		mwc, wwc := jetton.Master.Workchain(), w.Workchain()
		masterWC, master, walletWC, jw = &mwc, jetton.Master.Data(), &wwc, w.Data()
	}

	// One statement, so one implicit transaction: the row and its NOTIFY
	// commit together, in a single round trip.
	var rowID int64
	err = s.db.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO deposit_wallets (user_id, currency, subwallet_id, workchain, address,
			                             jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			RETURNING id)
		SELECT id, pg_notify($10, id::text) FROM ins`,
		userID, currency, id, owner.Workchain(), owner.Data(), masterWC, master, walletWC, jw, NotifyChannel,
	).Scan(&rowID, nil)
	if err != nil {
		return "", fmt.Errorf("wallets: store deposit address: %w", err)
	}
	return tonaddr.Format(owner, s.network, false), nil
}

// Addresses lists userID's deposit addresses in creation order.
func (s *Service) Addresses(ctx context.Context, userID string) ([]Address, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT workchain, address, currency FROM deposit_wallets WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("wallets: list addresses: %w", err)
	}
	out := []Address{}
	var wc int32
	var data []byte
	var currency string
	_, err = pgx.ForEachRow(rows, []any{&wc, &data, &currency}, func() error {
		if len(data) != 32 {
			return fmt.Errorf("deposit address of %d bytes", len(data))
		}
		a := address.NewAddress(0, byte(int8(wc)), append([]byte(nil), data...))
		out = append(out, Address{Address: tonaddr.Format(a, s.network, false), Currency: currency})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("wallets: list addresses: %w", err)
	}
	return out, nil
}

// Balance returns the balance of addr (nil: the hot wallet) in currency,
// in base units, with the status of addr's account ("active", "uninit",
// "frozen", "non_exist"). For a jetton it is the balance of the jetton
// wallet the master names for addr (0 while that wallet does not exist);
// the status is still the owner account's.
func (s *Service) Balance(ctx context.Context, currency string, addr *address.Address) (*big.Int, string, error) {
	jetton, isJetton, err := s.currency(currency)
	if err != nil {
		return nil, "", err
	}
	if s.chain == nil {
		return nil, "", errors.New("wallets: balances need a chain client")
	}
	if addr == nil {
		addr = s.hot.Address()
	}
	tonBalance, status, err := s.chain.AccountState(ctx, addr)
	if err != nil {
		return nil, "", fmt.Errorf("wallets: balance: %w", err)
	}
	if !isJetton {
		return tonBalance, status, nil
	}
	jw, err := s.chain.JettonWalletAddress(ctx, jetton.Master, addr)
	if err != nil {
		return nil, "", fmt.Errorf("wallets: %s balance: %w", currency, err)
	}
	bal, err := s.chain.JettonBalance(ctx, jw)
	if err != nil {
		return nil, "", fmt.Errorf("wallets: %s balance: %w", currency, err)
	}
	return bal, status, nil
}

// currency resolves a currency code: TON (isJetton false) or a configured
// jetton symbol. Codes are case-sensitive, as configured.
func (s *Service) currency(code string) (config.Jetton, bool, error) {
	if code == config.TONSymbol {
		return config.Jetton{}, false, nil
	}
	if j, ok := s.jettons[code]; ok {
		return j, true, nil
	}
	return config.Jetton{}, false, fmt.Errorf("%w %q", ErrUnknownCurrency, code)
}

func checkUserID(userID string) error {
	if userID == "" || !utf8.ValidString(userID) || utf8.RuneCountInString(userID) > maxUserIDLen {
		return fmt.Errorf("%w: must be 1..%d characters of valid UTF-8", ErrInvalidUserID, maxUserIDLen)
	}
	for _, r := range userID {
		if r == 0 {
			return fmt.Errorf("%w: must not contain NUL", ErrInvalidUserID)
		}
	}
	return nil
}

// HotWalletOf builds the hot wallet that cfg names (its mnemonic and
// HIGHLOAD_TIMEOUT), without a database or chain: for commands and tools
// that need its address.
func HotWalletOf(cfg *config.Config) (*HotWallet, error) {
	keys, err := DeriveKeys(cfg.SeedWords())
	if err != nil {
		return nil, err
	}
	return NewHotWallet(keys, cfg.HighloadTimeout)
}
