package withdrawals

import (
	"encoding/hex"
	"log/slog"
	"math/big"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// WithdrawalEvent is the webhook payload of a withdrawal outcome. Amounts
// are decimal strings of base units; absent values are omitted.
type WithdrawalEvent struct {
	ID          int64  `json:"id"`
	UserID      string `json:"user_id"`
	QueryID     string `json:"query_id"`
	Status      string `json:"status"`
	Currency    string `json:"currency"`
	Amount      string `json:"amount"`
	Destination string `json:"destination"`
	Comment     string `json:"comment,omitempty"`
	// BinaryComment is in the form the API takes (FormatBinaryComment).
	BinaryComment string `json:"binary_comment,omitempty"`
	TxHash        string `json:"tx_hash,omitempty"`
	// NetworkFee is total_fees (nanoton) of the transaction TxHash, as the
	// chain reports it; "" when unknown.
	NetworkFee string `json:"network_fee,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// ServiceEvent is the webhook payload of a service withdrawal outcome.
type ServiceEvent struct {
	Memo   string `json:"memo"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	// From is the owner of the wallet emptied (for the jetton kind, of its
	// jetton wallet).
	From string `json:"from"`
	// Currency is TON, or the jetton's symbol when its master is a
	// configured jetton.
	Currency     string `json:"currency,omitempty"`
	JettonMaster string `json:"jetton_master,omitempty"`
	Amount       string `json:"amount,omitempty"`
	TxHash       string `json:"tx_hash,omitempty"`
	NetworkFee   string `json:"network_fee,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// eventFormat renders addresses and currencies in webhook events the way
// the API shows them.
type eventFormat struct {
	network config.Network
	masters map[[32]byte]string // jetton master -> symbol
}

func newEventFormat(network config.Network, jettons map[string]Jetton) eventFormat {
	f := eventFormat{network: network, masters: map[[32]byte]string{}}
	for sym, j := range jettons {
		if j.Master != nil {
			var k [32]byte
			copy(k[:], j.Master.Data())
			f.masters[k] = sym
		}
	}
	return f
}

// withdrawalEventColumns is what RETURNING gives scanWithdrawal.
const withdrawalEventColumns = `user_id, query_id, currency, amount::text, destination_workchain, destination_address, bounceable,
	comment, binary_comment, tx_hash, network_fee::text, batch_id`

// scanWithdrawal reads a withdrawal's event fields (withdrawalEventColumns)
// and the batch it was last in, for logs.
func (f eventFormat) scanWithdrawal(row pgx.Row) (ev WithdrawalEvent, batchID *int64, err error) {
	var wc int32
	var dest, txh []byte
	var bounceable bool
	var comment, fee *string
	var bin pgtype.Bits
	if err := row.Scan(&ev.UserID, &ev.QueryID, &ev.Currency, &ev.Amount, &wc, &dest, &bounceable,
		&comment, &bin, &txh, &fee, &batchID); err != nil {
		return ev, nil, err
	}
	ev.Destination = tonaddr.Format(address.NewAddress(0, byte(wc), dest), f.network, bounceable)
	if comment != nil {
		ev.Comment = *comment
	}
	if bin.Valid {
		ev.BinaryComment = FormatBinaryComment(bin.Bytes, uint(bin.Len))
	}
	ev.TxHash = hex.EncodeToString(txh)
	if fee != nil {
		ev.NetworkFee = *fee
	}
	return ev, batchID, nil
}

// serviceEventColumns is what RETURNING gives scanService.
const serviceEventColumns = `memo::text, kind, from_workchain, from_address, jetton_master_workchain, jetton_master`

func (f eventFormat) scanService(row pgx.Row) (ServiceEvent, error) {
	var ev ServiceEvent
	var fromWC int32
	var masterWC *int32
	var from, master []byte
	if err := row.Scan(&ev.Memo, &ev.Kind, &fromWC, &from, &masterWC, &master); err != nil {
		return ev, err
	}
	// Our wallets, like deposit addresses in the API: non-bounceable.
	ev.From = tonaddr.Format(address.NewAddress(0, byte(fromWC), from), f.network, false)
	if ev.Kind == string(ServiceTON) {
		ev.Currency = "TON"
	}
	if masterWC != nil && len(master) == 32 {
		// A contract: bounceable, as the API prints contracts.
		ev.JettonMaster = tonaddr.Format(address.NewAddress(0, byte(*masterWC), master), f.network, true)
		ev.Currency = f.masters[[32]byte(master)]
	}
	return ev, nil
}

// txFee is a transaction's total fees as the chain reports them, in the
// form stored and sent (decimal nanoton).
func txFee(t *tlb.Transaction) string {
	return t.TotalFees.Coins.Nano().String()
}

// FormatBinaryComment writes n bits (most significant first) in the form
// the API takes a binary_comment: lower-case hex digits, and when n is not
// a multiple of 4, the TL-B completion tag (a 1 bit, zeros to the end of
// the digit, then '_'). It is the inverse of httpapi.ParseBinaryComment.
func FormatBinaryComment(bits []byte, n uint) string {
	tagged := n%4 != 0
	total := n
	if tagged {
		total++ // the completion bit
	}
	digits := int((total + 3) / 4)
	buf := make([]byte, (digits+1)/2)
	copy(buf, bits)
	// Bits past n must read as zero whatever the caller's last byte holds.
	for i := n; i < uint(len(buf))*8; i++ {
		buf[i/8] &^= 0x80 >> (i % 8)
	}
	if tagged {
		buf[n/8] |= 0x80 >> (n % 8)
	}
	s := hex.EncodeToString(buf)[:digits]
	if tagged {
		s += "_"
	}
	return s
}

// withdrawalAttrs are the log attributes of a withdrawal outcome.
func withdrawalAttrs(id int64, batchID *int64, ev WithdrawalEvent) []any {
	attrs := []any{"withdrawal_id", id, "currency", ev.Currency, "amount", ev.Amount, "destination", ev.Destination}
	if batchID != nil {
		attrs = append(attrs, "batch_id", *batchID)
	}
	if ev.TxHash != "" {
		attrs = append(attrs, "tx_hash", ev.TxHash)
	}
	if ev.NetworkFee != "" {
		attrs = append(attrs, "network_fee", ev.NetworkFee)
	}
	return attrs
}

// totalsAttr groups amounts by currency for a log line ("total":{"TON":"…"}).
func totalsAttr(rows []pendingRow) slog.Attr {
	sums := map[string]*big.Int{}
	var order []string
	for _, r := range rows {
		s, ok := sums[r.currency]
		if !ok {
			s = new(big.Int)
			sums[r.currency] = s
			order = append(order, r.currency)
		}
		s.Add(s, r.amount)
	}
	attrs := make([]any, 0, len(order))
	for _, c := range order {
		attrs = append(attrs, slog.String(c, sums[c].String()))
	}
	return slog.Group("total", attrs...)
}
