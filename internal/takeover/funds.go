package takeover

// Moving funds bicycle's highload v2 hot wallet controls to this
// processor's hot wallet, with the messages bicycle's contracts accept:
//
//   - move-hot: the v2 wallet's TON (down to a reserve it keeps for the
//     proxy commands below) and its jetton wallets' balances.
//   - sweep-proxies: each imported jetton deposit (a proxy) gets a command
//     from the v2 wallet carrying the proxy's StateInit and one reference,
//     a complete message the proxy sends with mode 128+32: a jetton
//     transfer of its jetton wallet's whole balance to our hot wallet
//     (excess TON to our hot wallet too), or, when it holds no jettons,
//     its TON. Only the v2 wallet can do this (its address is part of
//     every proxy's address), so the v2 wallet is kept with some TON for
//     as long as bicycle's jetton deposit addresses are in use.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/wallets"
)

// Funds-moving constants.
var (
	// ProxyGas is what each proxy command carries (bicycle's 0.1 TON);
	// the proxy passes all of it on, and the jetton wallet returns the
	// excess to our hot wallet.
	ProxyGas = tlb.MustFromTON("0.1").Nano()
	// JettonGas is attached to the v2 wallet's own jetton transfers.
	JettonGas = tlb.MustFromTON("0.1").Nano()
	// DefaultKeep is the TON move-hot leaves on the v2 wallet for proxy
	// commands and storage.
	DefaultKeep = tlb.MustFromTON("1").Nano()
	// feeMargin covers the v2 wallet's own fees.
	feeMargin = tlb.MustFromTON("0.05").Nano()
	// minProxyTON: TON on a proxy without jettons below this is left (a
	// command costs about as much).
	minProxyTON = tlb.MustFromTON("0.05").Nano()
)

// messageTTL is how long a v2 external stays valid (bicycle's 50 s).
const messageTTL = 50 * time.Second

// maxPerMessage bounds the messages of one v2 external (tonutils-go
// allows 254; bicycle stays at or below 251).
const maxPerMessage = 250

// takeoverQueryTag marks the jetton transfers the takeover sends (bit 60),
// apart from the query ids of withdrawals (small) and of the worker's
// sweeps (bits 62 and 61).
const takeoverQueryTag = uint64(1) << 60

// FundsOptions configure SweepProxies and MoveHot.
type FundsOptions struct {
	Ours  *pgxpool.Pool
	Chain Chain
	Keys  *wallets.Keys
	// OurHot is this processor's hot wallet address.
	OurHot  *address.Address
	Jettons []config.Jetton
	DryRun  bool
	// Keep is what MoveHot leaves on the v2 wallet (default DefaultKeep).
	Keep *big.Int
	// Wait bounds waiting for the external to execute (default 2 min; 0
	// with NoWait).
	Wait   time.Duration
	NoWait bool
	Out    io.Writer
}

// Move is one transfer a funds step makes.
type Move struct {
	What     string // e.g. "proxy 0:ab.. USDT", "hot wallet TON"
	Currency string
	Amount   *big.Int
}

// FundsResult is what a funds step did.
type FundsResult struct {
	Moves []Move
	// TxHash is the v2 wallet's transaction that executed the message
	// (nil in a dry run, with nothing to move, or with NoWait).
	TxHash []byte
}

func (o *FundsOptions) defaults() {
	if o.Keep == nil {
		o.Keep = DefaultKeep
	}
	if o.Wait <= 0 {
		o.Wait = 2 * time.Minute
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// bicycleFromDB rebuilds bicycle's derivation from the takeover row (the
// proxy code stored at the import) and checks SEED gives its hot wallet.
func bicycleFromDB(ctx context.Context, db *pgxpool.Pool, keys *wallets.Keys) (*wallets.Bicycle, error) {
	var hot, code []byte
	err := db.QueryRow(ctx, `SELECT hot_address, proxy_code FROM bicycle_takeover`).Scan(&hot, &code)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errors.New("takeover: this database has not taken over bicycle (run processor takeover-bicycle first)")
	}
	if err != nil {
		return nil, fmt.Errorf("takeover: read bicycle_takeover: %w", err)
	}
	var pc *cell.Cell
	if code != nil {
		if pc, err = cell.FromBOC(code); err != nil {
			return nil, fmt.Errorf("takeover: stored proxy code: %w", err)
		}
	}
	b, err := wallets.NewBicycle(keys, pc, "")
	if err != nil {
		return nil, err
	}
	if string(b.HotWallet().Data()) != string(hot) {
		return nil, fmt.Errorf("takeover: SEED gives bicycle hot wallet %s, the takeover recorded %s", b.HotWallet().StringRaw(), rawAddr(hot))
	}
	return b, nil
}

// jettonTransfer is a TEP-74 transfer body of amount to to, the excess to
// to as well, without forward TON.
func jettonTransfer(queryID uint64, amount *big.Int, to *address.Address) *cell.Cell {
	return cell.BeginCell().MustStoreUInt(0x0f8a7ea5, 32).MustStoreUInt(queryID, 64).MustStoreBigCoins(amount).
		MustStoreAddr(to).MustStoreAddr(to).MustStoreBoolBit(false).MustStoreBigCoins(new(big.Int)).MustStoreBoolBit(false).
		EndCell()
}

// SweepProxies moves every imported jetton deposit's jettons (or, without
// jettons, its TON) to our hot wallet through bicycle's v2 wallet.
func SweepProxies(ctx context.Context, o FundsOptions) (*FundsResult, error) {
	o.defaults()
	b, err := bicycleFromDB(ctx, o.Ours, o.Keys)
	if err != nil {
		return nil, err
	}
	rows, err := o.Ours.Query(ctx, `SELECT subwallet_id, address, currency, jetton_wallet_workchain, jetton_wallet FROM deposit_wallets
		WHERE derivation = 'bicycle_proxy' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("takeover: imported jetton deposits: %w", err)
	}
	type proxy struct {
		sub      int64
		addr     []byte
		currency string
		jwWC     int32
		jw       []byte
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (proxy, error) {
		var p proxy
		err := r.Scan(&p.sub, &p.addr, &p.currency, &p.jwWC, &p.jw)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("takeover: imported jetton deposits: %w", err)
	}
	if len(list) > 0 && !b.HasProxyCode() {
		return nil, errors.New("takeover: the takeover stored no proxy code")
	}
	to := o.OurHot.Copy()
	res := &FundsResult{}
	var msgs []*wallet.Message
	for _, p := range list {
		proxyAddr := address.NewAddress(0, 0, p.addr)
		jw := address.NewAddress(0, byte(p.jwWC), p.jw)
		jbal, err := o.Chain.JettonBalance(ctx, jw)
		if err != nil {
			return nil, fmt.Errorf("takeover: jetton balance of %s: %w", jw.StringRaw(), err)
		}
		var inner *tlb.InternalMessage
		switch {
		case jbal.Sign() > 0:
			// The proxy sends this with mode 128+32: its whole balance
			// (the gas we attach included) goes with the transfer.
			inner = &tlb.InternalMessage{IHRDisabled: true, Bounce: true, DstAddr: jw, Amount: tlb.ZeroCoins,
				Body: jettonTransfer(takeoverQueryTag|uint64(p.sub), jbal, to)}
			res.Moves = append(res.Moves, Move{What: "proxy " + proxyAddr.StringRaw(), Currency: p.currency, Amount: jbal})
		default:
			tbal, _, err := o.Chain.AccountState(ctx, proxyAddr)
			if err != nil {
				return nil, fmt.Errorf("takeover: TON balance of %s: %w", proxyAddr.StringRaw(), err)
			}
			if tbal.Cmp(minProxyTON) < 0 {
				continue
			}
			dst := to.Copy()
			dst.SetBounce(false)
			inner = &tlb.InternalMessage{IHRDisabled: true, Bounce: false, DstAddr: dst, Amount: tlb.ZeroCoins}
			res.Moves = append(res.Moves, Move{What: "proxy " + proxyAddr.StringRaw(), Currency: config.TONSymbol, Amount: tbal})
		}
		cmd, err := b.ProxyCommand(uint32(p.sub), tlb.FromNanoTON(ProxyGas), inner)
		if err != nil {
			return nil, err
		}
		if !cmd.DstAddr.Equals(proxyAddr) {
			return nil, fmt.Errorf("takeover: proxy %d derives %s, stored %s", p.sub, cmd.DstAddr.StringRaw(), proxyAddr.StringRaw())
		}
		msgs = append(msgs, &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: cmd})
	}
	for _, m := range res.Moves {
		fmt.Fprintf(o.Out, "%s: %s %s -> %s\n", m.What, m.Amount, m.Currency, to.StringRaw())
	}
	if o.DryRun || len(msgs) == 0 {
		return res, nil
	}
	need := new(big.Int).Mul(ProxyGas, big.NewInt(int64(len(msgs))))
	need.Add(need, feeMargin)
	bal, _, err := o.Chain.AccountState(ctx, b.HotWallet())
	if err != nil {
		return nil, fmt.Errorf("takeover: bicycle's hot wallet balance: %w", err)
	}
	if bal.Cmp(need) < 0 {
		return nil, fmt.Errorf("takeover: bicycle's hot wallet %s holds %s nanoton, the proxy commands need %s: send it TON first",
			b.HotWallet().StringRaw(), bal, need)
	}
	for start := 0; start < len(msgs); start += maxPerMessage {
		end := min(start+maxPerMessage, len(msgs))
		h, err := sendV2(ctx, o, b, msgs[start:end])
		if err != nil {
			return res, err
		}
		res.TxHash = h
	}
	return res, nil
}

// MoveHot moves the v2 wallet's jettons and its TON above Keep to our
// hot wallet.
func MoveHot(ctx context.Context, o FundsOptions) (*FundsResult, error) {
	o.defaults()
	b, err := bicycleFromDB(ctx, o.Ours, o.Keys)
	if err != nil {
		return nil, err
	}
	v2 := b.HotWallet()
	to := o.OurHot.Copy()
	res := &FundsResult{}
	var msgs []*wallet.Message
	spend := new(big.Int)
	for i, j := range o.Jettons {
		jw, err := o.Chain.JettonWalletAddress(ctx, j.Master, v2)
		if err != nil {
			return nil, fmt.Errorf("takeover: %s wallet of bicycle's hot wallet: %w", j.Symbol, err)
		}
		bal, err := o.Chain.JettonBalance(ctx, jw)
		if err != nil {
			return nil, fmt.Errorf("takeover: %s balance of bicycle's hot wallet: %w", j.Symbol, err)
		}
		if bal.Sign() == 0 {
			continue
		}
		msgs = append(msgs, &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: &tlb.InternalMessage{
			IHRDisabled: true, Bounce: true, DstAddr: jw, Amount: tlb.FromNanoTON(JettonGas),
			Body: jettonTransfer(takeoverQueryTag|uint64(1<<32+i), bal, to)}})
		spend.Add(spend, JettonGas)
		res.Moves = append(res.Moves, Move{What: "bicycle's hot jetton wallet " + jw.StringRaw(), Currency: j.Symbol, Amount: bal})
	}
	tonBal, _, err := o.Chain.AccountState(ctx, v2)
	if err != nil {
		return nil, fmt.Errorf("takeover: bicycle's hot wallet balance: %w", err)
	}
	amount := new(big.Int).Sub(tonBal, o.Keep)
	amount.Sub(amount, spend)
	amount.Sub(amount, feeMargin)
	if amount.Sign() > 0 {
		dst := to.Copy()
		dst.SetBounce(false)
		msgs = append(msgs, &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: &tlb.InternalMessage{
			IHRDisabled: true, Bounce: false, DstAddr: dst, Amount: tlb.FromNanoTON(amount)}})
		res.Moves = append(res.Moves, Move{What: "bicycle's hot wallet", Currency: config.TONSymbol, Amount: amount})
	}
	for _, m := range res.Moves {
		fmt.Fprintf(o.Out, "%s: %s %s -> %s\n", m.What, m.Amount, m.Currency, to.StringRaw())
	}
	fmt.Fprintf(o.Out, "left on bicycle's hot wallet %s: about %s nanoton (for proxy commands)\n", v2.StringRaw(), o.Keep)
	if o.DryRun || len(msgs) == 0 {
		return res, nil
	}
	h, err := sendV2(ctx, o, b, msgs)
	if err != nil {
		return res, err
	}
	res.TxHash = h
	return res, nil
}

// sendV2 signs msgs into one v2 external (valid 50 s, a fresh random
// query id) and sends it; unless NoWait it waits for the v2 wallet's
// transaction executing it and checks its compute phase succeeded.
func sendV2(ctx context.Context, o FundsOptions, b *wallets.Bicycle, msgs []*wallet.Message) ([]byte, error) {
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	validUntil := uint32(time.Now().Add(messageTTL).Unix())
	ext, err := b.SignBicycleHotMessage(ctx, validUntil, binary.BigEndian.Uint32(rnd[:]), false, msgs)
	if err != nil {
		return nil, err
	}
	v2 := b.HotWallet()
	var since uint64
	if !o.NoWait {
		// The message's transaction comes after the wallet's last one.
		last, err := o.Chain.LastTxLT(ctx, v2)
		if err != nil {
			return nil, fmt.Errorf("takeover: bicycle's hot wallet: %w", err)
		}
		since = last + 1
	}
	if err := o.Chain.SendExternal(ctx, ext); err != nil {
		return nil, fmt.Errorf("takeover: send bicycle hot wallet message: %w", err)
	}
	fmt.Fprintf(o.Out, "sent %d messages from bicycle's hot wallet (valid until %s)\n", len(msgs), time.Unix(int64(validUntil), 0).UTC().Format(time.RFC3339))
	if o.NoWait {
		return nil, nil
	}
	want := ext.Body.Hash()
	deadline := time.Now().Add(o.Wait)
	for time.Now().Before(deadline) {
		head, err := o.Chain.Head(ctx)
		if err == nil {
			blk, berr := o.Chain.Block(ctx, head)
			txs, terr := o.Chain.TransactionsSince(ctx, v2, since)
			if terr == nil {
				for i := len(txs) - 1; i >= 0; i-- {
					t := txs[i]
					if t.IO.In == nil || t.IO.In.MsgType != tlb.MsgTypeExternalIn || string(t.IO.In.AsExternalIn().Body.Hash()) != string(want) {
						continue
					}
					d, _ := t.Description.(tlb.TransactionDescriptionOrdinary)
					if vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM); !ok || !vm.Success {
						return t.Hash, fmt.Errorf("takeover: bicycle's hot wallet refused the message (tx %x)", t.Hash)
					}
					fmt.Fprintf(o.Out, "executed in bicycle's hot wallet transaction %x\n", t.Hash)
					return t.Hash, nil
				}
			}
			if berr == nil && int64(blk.BlockInfo.GenUtime) > int64(validUntil)+10 {
				return nil, errors.New("takeover: the message expired without executing (nothing moved); run again")
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	return nil, errors.New("takeover: the message did not execute in time; check the balances before running again")
}
