package tonsim

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/tonsim/chain"
	"github.com/ton-custody/processor/internal/tonsim/liteserver"
)

// ControlDoc documents the control API; `tonsim --help` prints it and the
// README repeats it.
const ControlDoc = `Control API (JSON; amounts are nanoton or jetton base units as decimal strings):
  GET  /config.json                         global config for tonutils-go (liteservers)
  GET  /status                              masterchain seqno, shards, queue, tx count, faults,
                                            liteservers (address, lag, the seqno each serves)
  POST /faucet {"address","amount","bounce","comment"}
                                            TON from the genesis wallet; answers once final:
                                            {"tx_hash","lt","account","master_seqno"}
  POST /jettons {"symbol","decimals","kind"} deploy a jetton master -> {"master","symbol","decimals","kind"};
                                            kind: standard (default, TEP-74 from assets-sdk) | governed
                                            (USDT-style: library wallet code, admin lock/transfer/burn) |
                                            notify-bounceable | notify-non-bounceable
  GET  /jettons                             deployed jettons
  POST /jettons/{master}/mint {"owner","amount"}
                                            mint to owner -> {"tx_hash","lt","jetton_wallet",...}
  GET  /jettons/{master}/wallet?owner=ADDR  owner's jetton wallet address (and "status" for governed ones)
  POST /jettons/{master}/lock {"owner","status"}
                                            governed jetton, as its admin: set owner's wallet status
                                            (1 no outgoing, 2 no incoming, 3 both = default); refused
                                            messages fail with exit code 45
  POST /jettons/{master}/unlock {"owner"}   governed jetton: status 0
  POST /jettons/{master}/admin-transfer {"from","to","amount"}
                                            governed jetton: the admin moves jettons out of from's wallet
                                            (locked or not) -> recipient wallet's transaction
  POST /jettons/{master}/admin-burn {"owner","amount"}
                                            governed jetton: the admin burns from owner's wallet
  POST /jettons/transfer {"master","to","amount","forward_ton_amount","comment","from_wallet_owner"}
                                            TEP-74 transfer from the genesis wallet's jettons (a third
                                            party's deposit): -> receiving jetton-wallet transaction,
                                            "jetton_wallet" and, with a forward amount, the recipient's
                                            "notification_tx_hash"/"notification_lt"
  POST /dns {"domain","address"}            set the wallet record of a .ton name
  POST /blocks {"count"}                    produce blocks now (any mode)
  GET  /shards                              current workchain-0 shards
  POST /shards/split {"shard"}              split shard (hex id, e.g. "2000000000000000")
  POST /shards/merge {"shard"}              merge shard with its sibling
  POST /faults {"mode","duration","delay"}  mode: drop | stall | delay | error | lose_externals
                                            (liteserver) or stop_blocks; duration/delay as Go durations
  POST /faults/lag {"node","blocks"}        liteserver node (index in config.json) lags that many
                                            masterchain blocks behind; 0 catches it up
  DELETE /faults                            clear faults (and lags)
  GET  /accounts/{address}                  {"address","status","balance","last_tx_lt","last_tx_hash"}
  POST /bulk {"transfers":[{"address","amount","comment"}]}
                                            bulk mode: natively built credits to accounts
                                            without code (no emulator), in the next blocks
  POST /traffic {"tps"}                     steady background traffic: tps bulk transfers per second
                                            to a pool of unwatched accounts spread over the shards
                                            (0 stops it; also tonsim --traffic-tps)
`

type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, a...)}
}

// Handler returns the control API.
func (n *Network) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, f func(r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if p := recover(); p != nil {
					n.log.Error("control API panic", "path", r.URL.Path, "panic", fmt.Sprint(p))
					writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
				}
			}()
			r.Body = http.MaxBytesReader(w, r.Body, 32<<20)
			out, err := f(r)
			if err != nil {
				var ae *apiError
				status := http.StatusInternalServerError
				if errors.As(err, &ae) {
					status = ae.status
				} else if errors.Is(err, ErrUnknownJetton) || errors.Is(err, ErrInsufficientJettons) || errors.Is(err, ErrNotGoverned) ||
					errors.Is(err, ErrRefused) {
					status = http.StatusBadRequest
				}
				writeJSON(w, status, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, out)
		})
	}
	handle("GET /config.json", func(r *http.Request) (any, error) { return n.GlobalConfig() })
	handle("GET /status", n.apiStatus)
	handle("POST /faucet", n.apiFaucet)
	handle("POST /jettons", n.apiDeployJetton)
	handle("GET /jettons", func(r *http.Request) (any, error) {
		out := []map[string]any{}
		for _, j := range n.Jettons() {
			out = append(out, map[string]any{"symbol": j.Symbol, "decimals": j.Decimals, "master": j.Master.String(), "kind": j.kindName()})
		}
		return out, nil
	})
	handle("POST /jettons/{master}/mint", n.apiMint)
	handle("POST /jettons/transfer", n.apiJettonTransfer)
	handle("GET /jettons/{master}/wallet", n.apiJettonWallet)
	handle("POST /jettons/{master}/lock", n.apiLock)
	handle("POST /jettons/{master}/unlock", n.apiUnlock)
	handle("POST /jettons/{master}/admin-transfer", n.apiAdminTransfer)
	handle("POST /jettons/{master}/admin-burn", n.apiAdminBurn)
	handle("POST /dns", n.apiDNS)
	handle("POST /blocks", n.apiBlocks)
	handle("GET /shards", func(r *http.Request) (any, error) { return shardList(n.Chain.Shards()), nil })
	handle("POST /shards/split", func(r *http.Request) (any, error) { return n.apiShard(r, n.Chain.Split) })
	handle("POST /shards/merge", func(r *http.Request) (any, error) { return n.apiShard(r, n.Chain.Merge) })
	handle("POST /faults", n.apiFaults)
	handle("POST /faults/lag", n.apiLag)
	handle("DELETE /faults", func(r *http.Request) (any, error) {
		n.ClearFaults()
		return map[string]string{"status": "cleared"}, nil
	})
	handle("GET /accounts/{address}", n.apiAccount)
	handle("POST /bulk", n.apiBulk)
	handle("POST /traffic", n.apiTraffic)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint; see GET /status and the README"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("request body must be a JSON object")
		}
		return badRequest("invalid JSON body: %v", err)
	}
	return nil
}

// amount accepts a JSON string or integer of decimal digits.
type amount struct{ v *big.Int }

func (a *amount) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return fmt.Errorf("amount %s must be a non-negative integer in base units", string(b))
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return fmt.Errorf("amount %s is not an integer", string(b))
	}
	a.v = v
	return nil
}

func (a *amount) positive(field string) (*big.Int, error) {
	if a == nil || a.v == nil {
		return nil, badRequest("%s is required", field)
	}
	if a.v.Sign() <= 0 {
		return nil, badRequest("%s must be greater than zero", field)
	}
	if a.v.BitLen() > 120 {
		return nil, badRequest("%s is too large", field)
	}
	return a.v, nil
}

// parseAddress accepts user-friendly (either network flag) or raw form.
func parseAddress(field, s string) (*address.Address, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, badRequest("%s is required", field)
	}
	var a *address.Address
	var err error
	if strings.Contains(s, ":") {
		a, err = address.ParseRawAddr(s)
	} else {
		a, err = address.ParseAddr(s)
	}
	if err != nil {
		return nil, badRequest("%s %q is not a valid TON address: %v", field, s, err)
	}
	return a, nil
}

func txJSON(res *TxResult) map[string]any {
	return map[string]any{"tx_hash": hex.EncodeToString(res.Hash), "lt": strconv.FormatUint(res.LT, 10),
		"account": friendly(res.Account), "master_seqno": res.MasterSeqno}
}

// Friendly prints an address as tonsim shows addresses: user-friendly,
// testnet flag, non-bounceable.
func Friendly(a *address.Address) string { return friendly(a) }

func friendly(a *address.Address) string {
	c := a.Copy()
	c.SetTestnetOnly(true)
	c.SetBounce(false)
	return c.String()
}

func (n *Network) requestCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 60*time.Second)
}

func (n *Network) apiFaucet(r *http.Request) (any, error) {
	var req struct {
		Address string  `json:"address"`
		Amount  *amount `json:"amount"`
		Bounce  bool    `json:"bounce"`
		Comment string  `json:"comment"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	to, err := parseAddress("address", req.Address)
	if err != nil {
		return nil, err
	}
	v, err := req.Amount.positive("amount")
	if err != nil {
		return nil, err
	}
	if v.Cmp(new(big.Int).Div(GenesisBalance, big.NewInt(10))) > 0 {
		return nil, badRequest("amount exceeds the faucet's limit per request")
	}
	ctx, cancel := n.requestCtx(r)
	defer cancel()
	res, err := n.Faucet(ctx, to, v, req.Bounce, req.Comment)
	if err != nil {
		return nil, err
	}
	return txJSON(res), nil
}

func (n *Network) apiDeployJetton(r *http.Request) (any, error) {
	var req struct {
		Symbol   string     `json:"symbol"`
		Decimals *int       `json:"decimals"`
		Kind     JettonKind `json:"kind"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	dec := 9
	if req.Decimals != nil {
		dec = *req.Decimals
	}
	if !symbolRe.MatchString(req.Symbol) {
		return nil, badRequest("symbol must be 1..16 letters or digits")
	}
	if dec < 0 || dec > 18 {
		return nil, badRequest("decimals must be between 0 and 18")
	}
	ctx, cancel := n.requestCtx(r)
	defer cancel()
	if !slices.Contains(JettonKinds(), req.Kind) && req.Kind != "" {
		return nil, badRequest("kind must be one of %v", JettonKinds())
	}
	j, err := n.DeployJettonKind(ctx, req.Symbol, dec, req.Kind)
	if err != nil {
		return nil, err
	}
	return map[string]any{"master": j.Master.String(), "master_raw": j.Master.StringRaw(), "symbol": j.Symbol, "decimals": j.Decimals,
		"kind": j.kindName()}, nil
}

func (n *Network) apiMint(r *http.Request) (any, error) {
	master, err := parseAddress("master", r.PathValue("master"))
	if err != nil {
		return nil, err
	}
	if _, err := n.jetton(master); err != nil {
		return nil, badRequest("%s is not a jetton master deployed by tonsim", r.PathValue("master"))
	}
	var req struct {
		Owner  string  `json:"owner"`
		Amount *amount `json:"amount"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	owner, err := parseAddress("owner", req.Owner)
	if err != nil {
		return nil, err
	}
	v, err := req.Amount.positive("amount")
	if err != nil {
		return nil, err
	}
	ctx, cancel := n.requestCtx(r)
	defer cancel()
	res, err := n.Mint(ctx, master, owner, v)
	if err != nil {
		return nil, err
	}
	out := txJSON(res)
	out["jetton_wallet"] = friendly(res.Account)
	return out, nil
}

// maxForwardTON bounds forward_ton_amount (nanoton) on /jettons/transfer.
var maxForwardTON = tlb.MustFromTON("1000").Nano()

func (n *Network) apiJettonTransfer(r *http.Request) (any, error) {
	var req struct {
		Master     string  `json:"master"`
		From       string  `json:"from_wallet_owner"`
		To         string  `json:"to"`
		Amount     *amount `json:"amount"`
		ForwardTON *amount `json:"forward_ton_amount"`
		Comment    string  `json:"comment"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	master, err := parseAddress("master", req.Master)
	if err != nil {
		return nil, err
	}
	if _, err := n.jetton(master); err != nil {
		return nil, badRequest("%s is not a jetton master deployed by tonsim", req.Master)
	}
	// The sender must be a wallet tonsim signs for: the genesis wallet.
	if req.From != "" {
		from, err := parseAddress("from_wallet_owner", req.From)
		if err != nil {
			return nil, err
		}
		if !from.Equals(n.Genesis.WalletAddress()) {
			return nil, badRequest("from_wallet_owner must be a wallet tonsim holds the key of: the genesis wallet %s", friendly(n.Genesis.WalletAddress()))
		}
	}
	to, err := parseAddress("to", req.To)
	if err != nil {
		return nil, err
	}
	v, err := req.Amount.positive("amount")
	if err != nil {
		return nil, err
	}
	fwd := new(big.Int)
	if req.ForwardTON != nil && req.ForwardTON.v != nil {
		if fwd = req.ForwardTON.v; fwd.Cmp(maxForwardTON) > 0 {
			return nil, badRequest("forward_ton_amount must be at most %s nanoton", maxForwardTON)
		}
	}
	ctx, cancel := n.requestCtx(r)
	defer cancel()
	res, err := n.TransferJetton(ctx, master, to, v, fwd, req.Comment)
	if err != nil {
		return nil, err
	}
	out := txJSON(res.Receive)
	out["jetton_wallet"] = friendly(res.JettonWallet)
	if res.Notification != nil {
		out["notification_tx_hash"] = hex.EncodeToString(res.Notification.Hash)
		out["notification_lt"] = strconv.FormatUint(res.Notification.LT, 10)
	}
	return out, nil
}

func (n *Network) apiJettonWallet(r *http.Request) (any, error) {
	master, err := parseAddress("master", r.PathValue("master"))
	if err != nil {
		return nil, err
	}
	if _, err := n.jetton(master); err != nil {
		return nil, badRequest("%s is not a jetton master deployed by tonsim", r.PathValue("master"))
	}
	owner, err := parseAddress("owner", r.URL.Query().Get("owner"))
	if err != nil {
		return nil, err
	}
	jw, err := n.JettonWallet(r.Context(), master, owner)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"jetton_wallet": friendly(jw)}
	if j, _ := n.jetton(master); j.Kind == JettonGoverned {
		st, err := n.JettonWalletStatus(r.Context(), master, owner)
		if err != nil {
			return nil, err
		}
		out["status"] = st
	}
	return out, nil
}

// governedMaster parses the {master} path value of a governed jetton.
func (n *Network) governedMaster(r *http.Request) (*address.Address, error) {
	master, err := parseAddress("master", r.PathValue("master"))
	if err != nil {
		return nil, err
	}
	if _, err := n.governed(master); err != nil {
		return nil, badRequest("%s: %v", r.PathValue("master"), err)
	}
	return master, nil
}

func (n *Network) apiLock(r *http.Request) (any, error) {
	master, err := n.governedMaster(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Owner  string `json:"owner"`
		Status *int   `json:"status"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	owner, err := parseAddress("owner", req.Owner)
	if err != nil {
		return nil, err
	}
	status := StatusLocked
	if req.Status != nil {
		status = *req.Status
	}
	if status < 0 || status > StatusLocked {
		return nil, badRequest("status must be between 0 and %d", StatusLocked)
	}
	ctx, cancel := n.requestCtx(r)
	defer cancel()
	res, err := n.SetJettonWalletStatus(ctx, master, owner, status)
	if err != nil {
		return nil, err
	}
	out := txJSON(res)
	out["status"] = status
	return out, nil
}

func (n *Network) apiUnlock(r *http.Request) (any, error) {
	master, err := n.governedMaster(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Owner string `json:"owner"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	owner, err := parseAddress("owner", req.Owner)
	if err != nil {
		return nil, err
	}
	ctx, cancel := n.requestCtx(r)
	defer cancel()
	res, err := n.UnlockJettonWallet(ctx, master, owner)
	if err != nil {
		return nil, err
	}
	out := txJSON(res)
	out["status"] = StatusUnlocked
	return out, nil
}

func (n *Network) apiAdminTransfer(r *http.Request) (any, error) {
	master, err := n.governedMaster(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		From   string  `json:"from"`
		To     string  `json:"to"`
		Amount *amount `json:"amount"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	from, err := parseAddress("from", req.From)
	if err != nil {
		return nil, err
	}
	to, err := parseAddress("to", req.To)
	if err != nil {
		return nil, err
	}
	v, err := req.Amount.positive("amount")
	if err != nil {
		return nil, err
	}
	ctx, cancel := n.requestCtx(r)
	defer cancel()
	res, err := n.AdminTransfer(ctx, master, from, to, v)
	if err != nil {
		return nil, err
	}
	out := txJSON(res.Receive)
	out["jetton_wallet"] = friendly(res.JettonWallet)
	out["from_tx_hash"] = hex.EncodeToString(res.From.Hash)
	return out, nil
}

func (n *Network) apiAdminBurn(r *http.Request) (any, error) {
	master, err := n.governedMaster(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Owner  string  `json:"owner"`
		Amount *amount `json:"amount"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	owner, err := parseAddress("owner", req.Owner)
	if err != nil {
		return nil, err
	}
	v, err := req.Amount.positive("amount")
	if err != nil {
		return nil, err
	}
	ctx, cancel := n.requestCtx(r)
	defer cancel()
	res, err := n.AdminBurn(ctx, master, owner, v)
	if err != nil {
		return nil, err
	}
	out := txJSON(res)
	out["jetton_wallet"] = friendly(res.Account)
	return out, nil
}

func (n *Network) apiDNS(r *http.Request) (any, error) {
	var req struct {
		Domain  string `json:"domain"`
		Address string `json:"address"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	a, err := parseAddress("address", req.Address)
	if err != nil {
		return nil, err
	}
	if err := n.DNS.SetWallet(req.Domain, a); err != nil {
		return nil, badRequest("%v", err)
	}
	return map[string]string{"domain": req.Domain, "address": a.String()}, nil
}

func (n *Network) apiBlocks(r *http.Request) (any, error) {
	var req struct {
		Count int `json:"count"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return nil, err
		}
	}
	if req.Count == 0 {
		req.Count = 1
	}
	if req.Count < 0 || req.Count > 1000 {
		return nil, badRequest("count must be between 1 and 1000")
	}
	var last *chain.Block
	for i := 0; i < req.Count; i++ {
		b, err := n.ProduceBlock(r.Context())
		if err != nil {
			return nil, err
		}
		last = b
	}
	return map[string]any{"master_seqno": last.ID.SeqNo, "gen_utime": last.GenUtime}, nil
}

func shardList(ids []chain.ShardID) []string {
	out := make([]string, len(ids))
	for i, s := range ids {
		out[i] = s.String()
	}
	return out
}

func (n *Network) apiShard(r *http.Request, op func(chain.ShardID) error) (any, error) {
	var req struct {
		Shard string `json:"shard"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(req.Shard), "0x"), 16, 64)
	if err != nil || v == 0 {
		return nil, badRequest("shard must be a 64-bit hex shard id such as 2000000000000000")
	}
	if err := op(chain.ShardID(v)); err != nil {
		return nil, badRequest("%v", err)
	}
	if n.opts.Manual {
		if _, err := n.ProduceBlock(r.Context()); err != nil {
			return nil, err
		}
	} else {
		next := n.Chain.NewMaster()
		select {
		case <-next:
		case <-r.Context().Done():
		case <-time.After(10 * n.opts.BlockInterval):
		}
	}
	return map[string]any{"shards": shardList(n.Chain.Shards())}, nil
}

func (n *Network) apiFaults(r *http.Request) (any, error) {
	var req struct {
		Mode     string `json:"mode"`
		Duration string `json:"duration"`
		Delay    string `json:"delay"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil || d <= 0 || d > time.Hour {
		return nil, badRequest("duration must be a Go duration between 0 and 1h, e.g. \"10s\"")
	}
	var delay time.Duration
	if req.Delay != "" {
		if delay, err = time.ParseDuration(req.Delay); err != nil || delay < 0 {
			return nil, badRequest("delay must be a Go duration, e.g. \"500ms\"")
		}
	}
	switch req.Mode {
	case "stop_blocks":
		n.PauseBlocks(d)
	default:
		mode := liteserver.FaultMode(req.Mode)
		if mode == liteserver.FaultDelay && delay == 0 {
			return nil, badRequest("mode delay needs a delay")
		}
		if err := n.Faults.Inject(mode, d, delay); err != nil {
			return nil, badRequest("%v (or stop_blocks)", err)
		}
		if mode == liteserver.FaultDrop {
			n.dropConnections()
		}
	}
	return map[string]any{"mode": req.Mode, "until": time.Now().Add(d).UTC().Format(time.RFC3339Nano)}, nil
}

func (n *Network) apiLag(r *http.Request) (any, error) {
	var req struct {
		Node   *int `json:"node"`
		Blocks *int `json:"blocks"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Node == nil || req.Blocks == nil {
		return nil, badRequest("node and blocks are required")
	}
	if err := n.SetLag(*req.Node, *req.Blocks); err != nil {
		return nil, badRequest("%v", err)
	}
	nd := n.Nodes[*req.Node]
	return map[string]any{"node": *req.Node, "liteserver": nd.URL, "blocks": *req.Blocks,
		"master_seqno": nd.Handler.Head().ID.SeqNo}, nil
}

func (n *Network) apiAccount(r *http.Request) (any, error) {
	a, err := parseAddress("address", r.PathValue("address"))
	if err != nil {
		return nil, err
	}
	last := n.Chain.Last()
	v, err := n.Chain.AccountAt(&last.ID, a)
	if err != nil {
		return nil, err
	}
	status := "non_exist"
	if v.Account != nil {
		status = strings.ToLower(string(v.Info.Status))
	}
	out := map[string]any{"address": friendly(a), "raw": a.StringRaw(), "status": status, "balance": v.Info.Balance.String(),
		"master_seqno": last.ID.SeqNo}
	if t := n.Chain.LastTx(a); t != nil {
		out["last_tx_lt"] = strconv.FormatUint(t.LT, 10)
		out["last_tx_hash"] = hex.EncodeToString(t.Hash)
	}
	return out, nil
}

func (n *Network) apiStatus(r *http.Request) (any, error) {
	last := n.Chain.Last()
	faults := []map[string]string{}
	for _, f := range n.Faults.Active() {
		faults = append(faults, map[string]string{"mode": string(f.Mode), "until": f.Until.UTC().Format(time.RFC3339Nano)})
	}
	nodes := make([]map[string]any, len(n.Nodes))
	for i, nd := range n.Nodes {
		nodes[i] = map[string]any{"node": i, "address": nd.URL, "lag_blocks": nd.Handler.Lag(),
			"master_seqno": nd.Handler.Head().ID.SeqNo}
	}
	return map[string]any{"master_seqno": last.ID.SeqNo, "gen_utime": last.GenUtime, "shards": shardList(n.Chain.Shards()),
		"queue": n.Chain.QueueLen(), "transactions": n.Chain.TxCount(), "traffic_tps": n.TrafficTPS(), "faults": faults, "manual": n.opts.Manual,
		"liteserver": n.LiteURL, "liteservers": nodes, "genesis": friendly(n.Genesis.WalletAddress())}, nil
}

func (n *Network) apiBulk(r *http.Request) (any, error) {
	var req struct {
		Transfers []struct {
			Address string  `json:"address"`
			Amount  *amount `json:"amount"`
			Comment string  `json:"comment"`
		} `json:"transfers"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if len(req.Transfers) == 0 || len(req.Transfers) > 1_000_000 {
		return nil, badRequest("transfers must hold 1..1000000 entries")
	}
	list := make([]chain.BulkTransfer, 0, len(req.Transfers))
	for i, t := range req.Transfers {
		a, err := parseAddress(fmt.Sprintf("transfers[%d].address", i), t.Address)
		if err != nil {
			return nil, err
		}
		v, err := t.Amount.positive(fmt.Sprintf("transfers[%d].amount", i))
		if err != nil {
			return nil, err
		}
		list = append(list, chain.BulkTransfer{To: a, Amount: v, Comment: t.Comment})
	}
	if err := n.Chain.BulkLoad(list); err != nil {
		return nil, badRequest("%v", err)
	}
	return map[string]any{"queued": len(list)}, nil
}

func (n *Network) apiTraffic(r *http.Request) (any, error) {
	var req struct {
		TPS *int `json:"tps"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.TPS == nil {
		return nil, badRequest("tps is required")
	}
	if err := n.SetTraffic(*req.TPS); err != nil {
		return nil, badRequest("%v", err)
	}
	return map[string]any{"tps": *req.TPS}, nil
}
