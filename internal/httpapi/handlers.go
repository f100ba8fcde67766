package httpapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/api"
	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/money"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/ton-custody/processor/internal/withdrawals"
)

// Validation limits of query parameters.
const (
	// MaxHistoryLimit is the largest limit of /v1/deposit/history.
	MaxHistoryLimit = blockscanner.MaxHistoryLimit
	// MaxHistoryOffset is the largest offset of /v1/deposit/history.
	MaxHistoryOffset = 1<<31 - 1
	// MaxDomainLength is the longest domain /v1/resolve takes (TEP-81: a
	// domain's internal representation is at most 127 bytes).
	MaxDomainLength = 126
)

// Request bodies. Every field is a string, as in the spec.

type newAddressRequest struct {
	UserID   string `json:"user_id"`
	Currency string `json:"currency"`
}

type withdrawalRequest struct {
	UserID        string `json:"user_id"`
	QueryID       string `json:"query_id"`
	Currency      string `json:"currency"`
	Amount        string `json:"amount"`
	Destination   string `json:"destination"`
	Comment       string `json:"comment"`
	BinaryComment string `json:"binary_comment"`
}

type cancelWithdrawalRequest struct {
	ID     int64  `json:"id"`
	Reason string `json:"reason"`
}

type serviceTONRequest struct {
	From string `json:"from"`
}

type serviceJettonRequest struct {
	Owner        string `json:"owner"`
	JettonMaster string `json:"jetton_master"`
}

// Responses. Absent values (unknown source, no comment, no hash yet, no
// failure) are omitted, never null or "".

type addressResponse struct {
	Address string `json:"address"`
}

type addressJSON struct {
	Address  string `json:"address"`
	Currency string `json:"currency"`
}

type addressesResponse struct {
	Addresses []addressJSON `json:"addresses"`
}

type totalIncomeJSON struct {
	DepositAddress string `json:"deposit_address"`
	Amount         string `json:"amount"`
	Currency       string `json:"currency"`
}

type incomeResponse struct {
	CountingSide string            `json:"counting_side"`
	TotalIncome  []totalIncomeJSON `json:"total_income"`
}

type incomeJSON struct {
	DepositAddress string `json:"deposit_address"`
	Time           int64  `json:"time"`
	SourceAddress  string `json:"source_address,omitempty"`
	Amount         string `json:"amount"`
	Comment        string `json:"comment,omitempty"`
	BinaryComment  string `json:"binary_comment,omitempty"`
	TxHash         string `json:"tx_hash"`
}

type historyResponse struct {
	Incomes []incomeJSON `json:"incomes"`
}

type incomeByTxResponse struct {
	Currency string     `json:"currency"`
	Income   incomeJSON `json:"income"`
}

type withdrawalResponse struct {
	ID int64 `json:"ID"`
}

type withdrawalStatusResponse struct {
	UserID  string `json:"user_id"`
	QueryID string `json:"query_id"`
	Status  string `json:"status"`
	TxHash  string `json:"tx_hash,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

type memoResponse struct {
	Memo string `json:"memo"`
}

type serviceStatusResponse struct {
	Memo   string `json:"memo"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	Amount string `json:"amount,omitempty"`
	TxHash string `json:"tx_hash,omitempty"`
	Reason string `json:"reason,omitempty"`
}

type balanceResponse struct {
	Balance               string `json:"balance"`
	Status                string `json:"status,omitempty"`
	TotalProcessingAmount string `json:"total_processing_amount,omitempty"`
	TotalPendingAmount    string `json:"total_pending_amount,omitempty"`
}

type syncResponse struct {
	IsSynced          bool  `json:"is_synced"`
	LastBlockGenUtime int64 `json:"last_block_gen_utime"`
}

type statusResponse struct {
	Status string `json:"status"`
}

// Field checks shared by the handlers. All return apierr.BadRequest errors
// that name the field.

func (s *server) checkCurrency(v string) error {
	switch {
	case v == "":
		return apierr.BadRequest("currency is required (one of %s)", s.currList)
	case !s.currencies[v]:
		return apierr.BadRequest("unknown currency %q: configured currencies are %s (case-sensitive)", v, s.currList)
	}
	return nil
}

func (s *server) parseAddress(field, v string) (*address.Address, error) {
	a, err := tonaddr.Parse(v, s.network)
	if err != nil {
		err = apierr.BadRequest("%s %v", field, err)
		if s.bicycle {
			return s.bicycleParseAddress(v, err)
		}
		return nil, err
	}
	return a, nil
}

// parseUint parses a query parameter of decimal digits in [min, max].
func parseUint(name, v string, min, max int64) (int64, error) {
	if v == "" {
		return 0, apierr.BadRequest("%s is required (an integer from %d to %d)", name, min, max)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, apierr.BadRequest("%s must be a decimal integer from %d to %d, got %q", name, min, max, v)
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		return 0, apierr.BadRequest("%s must be from %d to %d, got %s", name, min, max, v)
	}
	return n, nil
}

func parseTxHash(v string) ([]byte, error) {
	if v == "" {
		return nil, apierr.BadRequest("tx_hash is required (64 hex digits)")
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != 32 {
		return nil, apierr.BadRequest("tx_hash must be 64 hex digits (a 32-byte transaction hash), got %d characters", len(v))
	}
	return b, nil
}

func checkDomain(v string) error {
	if v == "" {
		return apierr.BadRequest("domain is required (e.g. wallet.ton)")
	}
	if len(v) > MaxDomainLength {
		return apierr.BadRequest("domain is %d bytes long; at most %d are allowed", len(v), MaxDomainLength)
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= 0x20 || v[i] >= 0x7f {
			return apierr.BadRequest("domain may contain only printable ASCII without spaces (byte %d is 0x%02x)", i, v[i])
		}
	}
	for _, label := range strings.Split(v, ".") {
		if label == "" {
			return apierr.BadRequest("domain %q has an empty label (leading, trailing or double dot)", v)
		}
	}
	return nil
}

// Handlers.

func (s *server) newAddress(c echo.Context) error {
	var req newAddressRequest
	if err := decodeBody(c, &req, s.bicycle); err != nil {
		return err
	}
	if err := withdrawals.CheckID("user_id", req.UserID); err != nil {
		return err
	}
	if err := s.checkCurrency(req.Currency); err != nil {
		return err
	}
	addr, err := s.opts.Wallets.NewAddress(c.Request().Context(), req.UserID, req.Currency)
	if err != nil {
		return fmt.Errorf("new address: %w", err)
	}
	if addr == "" {
		return fmt.Errorf("new address: %w", errNilResult)
	}
	return writeJSON(c, http.StatusOK, addressResponse{Address: addr})
}

func (s *server) allAddresses(c echo.Context) error {
	userID := c.QueryParam("user_id")
	if err := withdrawals.CheckID("user_id", userID); err != nil {
		return err
	}
	list, err := s.opts.Wallets.Addresses(c.Request().Context(), userID)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	out := addressesResponse{Addresses: make([]addressJSON, 0, len(list))}
	for _, a := range list {
		out.Addresses = append(out.Addresses, addressJSON(a))
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *server) income(c echo.Context) error {
	userID := c.QueryParam("user_id")
	if err := withdrawals.CheckID("user_id", userID); err != nil {
		return err
	}
	totals, err := s.opts.Incomes.TotalIncome(c.Request().Context(), userID)
	if err != nil {
		return fmt.Errorf("total income: %w", err)
	}
	out := incomeResponse{CountingSide: string(totals.CountingSide), TotalIncome: make([]totalIncomeJSON, 0, len(totals.Incomes))}
	for _, t := range totals.Incomes {
		out.TotalIncome = append(out.TotalIncome, totalIncomeJSON{DepositAddress: t.DepositAddress, Amount: t.Amount.String(), Currency: t.Currency})
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *server) history(c echo.Context) error {
	userID := c.QueryParam("user_id")
	if err := withdrawals.CheckID("user_id", userID); err != nil {
		return err
	}
	currency := c.QueryParam("currency")
	if err := s.checkCurrency(currency); err != nil {
		return err
	}
	var asc bool
	switch strings.ToLower(c.QueryParam("sort_order")) {
	case "", "desc":
	case "asc":
		asc = true
	default:
		return apierr.BadRequest("sort_order must be asc or desc (default desc), got %q", c.QueryParam("sort_order"))
	}
	if s.bicycle {
		return s.bicycleHistory(c, userID, currency, asc)
	}
	limit, err := parseUint("limit", c.QueryParam("limit"), 1, MaxHistoryLimit)
	if err != nil {
		return err
	}
	offset, err := parseUint("offset", c.QueryParam("offset"), 0, MaxHistoryOffset)
	if err != nil {
		return err
	}
	list, err := s.opts.Incomes.History(c.Request().Context(), userID, currency, int(limit), int(offset), asc)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	out := historyResponse{Incomes: make([]incomeJSON, 0, len(list))}
	for _, in := range list {
		out.Incomes = append(out.Incomes, s.toIncomeJSON(in))
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *server) toIncomeJSON(in blockscanner.Income) incomeJSON {
	out := incomeJSON{
		DepositAddress: in.DepositAddress,
		Time:           in.Time,
		SourceAddress:  in.SourceAddress,
		Amount:         in.Amount.String(),
		Comment:        in.Comment,
		BinaryComment:  hex.EncodeToString(in.BinaryComment),
		TxHash:         hex.EncodeToString(in.TxHash),
	}
	if s.bicycle { // bicycle's income: bounceable source, no binary_comment
		out.SourceAddress, out.BinaryComment = s.bicycleSource(in.SourceAddress), ""
	}
	return out
}

func (s *server) incomeByTx(c echo.Context) error {
	hash, err := parseTxHash(c.QueryParam("tx_hash"))
	if err != nil {
		return err
	}
	in, err := s.opts.Incomes.IncomeByTxHash(c.Request().Context(), hash)
	if err != nil {
		return fmt.Errorf("income by tx hash: %w", err)
	}
	return writeJSON(c, http.StatusOK, incomeByTxResponse{Currency: in.Currency, Income: s.toIncomeJSON(in)})
}

func (s *server) sendWithdrawal(c echo.Context) error {
	var body withdrawalRequest
	if s.bicycle {
		if err := decodeBicycleWithdrawal(c, &body); err != nil {
			return err
		}
	} else if err := decodeBody(c, &body, false); err != nil {
		return err
	}
	req := withdrawals.Request{UserID: body.UserID, QueryID: body.QueryID, Currency: body.Currency, Comment: body.Comment}
	if err := withdrawals.CheckID("user_id", body.UserID); err != nil {
		return err
	}
	if err := withdrawals.CheckID("query_id", body.QueryID); err != nil {
		return err
	}
	if err := s.checkCurrency(body.Currency); err != nil {
		return err
	}
	amount, err := money.Parse(body.Amount)
	if err != nil {
		return apierr.BadRequest("%v; amounts are strings of base units, e.g. \"1000000000\" for 1 TON", err)
	}
	req.Amount = amount
	if req.Destination, err = s.parseAddress("destination", body.Destination); err != nil {
		return err
	}
	req.Bounceable = req.Destination.IsBounceable()
	if body.Comment != "" && body.BinaryComment != "" {
		return apierr.BadRequest("give either comment or binary_comment, not both")
	}
	if err := withdrawals.CheckComment(body.Comment); err != nil {
		return err
	}
	if body.BinaryComment != "" {
		bits, n, err := ParseBinaryComment(body.BinaryComment)
		if err != nil {
			return apierr.BadRequest("binary_comment %v", err)
		}
		if n > withdrawals.MaxBinaryCommentBits {
			return apierr.BadRequest("binary_comment has %d bits; at most %d (one cell) are allowed", n, withdrawals.MaxBinaryCommentBits)
		}
		req.BinaryComment, req.BinaryCommentBits = bits, n
	}
	id, err := s.opts.Withdrawals.Create(c.Request().Context(), req)
	if err != nil {
		return fmt.Errorf("create withdrawal: %w", err)
	}
	return writeJSON(c, http.StatusOK, withdrawalResponse{ID: id})
}

func (s *server) withdrawalStatus(c echo.Context) error {
	id, err := parseUint("id", c.QueryParam("id"), 1, 1<<63-1)
	if err != nil {
		return err
	}
	st, err := s.opts.Withdrawals.Status(c.Request().Context(), id)
	if err != nil {
		if s.bicycle {
			err = bicycleNotFound(err)
		}
		return fmt.Errorf("withdrawal status: %w", err)
	}
	out := withdrawalStatusResponse{UserID: st.UserID, QueryID: st.QueryID, Status: string(st.Status), TxHash: hex.EncodeToString(st.TxHash)}
	if st.Status == withdrawals.StateFailed && !s.bicycle { // bicycle's status has no reason
		out.Reason = st.Reason
	}
	return writeJSON(c, http.StatusOK, out)
}

// cancelWithdrawal fails a withdrawal not yet in a batch (pending or
// awaiting_approval); 409 once a batch holds it or it is final.
func (s *server) cancelWithdrawal(c echo.Context) error {
	var body cancelWithdrawalRequest
	if err := decodeBody(c, &body, s.bicycle); err != nil {
		return err
	}
	if body.ID < 1 {
		return apierr.BadRequest("id must be a withdrawal ID (a positive integer)")
	}
	if strings.TrimSpace(body.Reason) == "" {
		return apierr.BadRequest("reason is required")
	}
	actor := "api"
	if name, ok := c.Get(keyTokenName).(string); ok && name != "" {
		actor = "api:" + name
	}
	st, err := s.opts.Withdrawals.Cancel(c.Request().Context(), body.ID, actor, body.Reason)
	if err != nil {
		return fmt.Errorf("cancel withdrawal: %w", err)
	}
	return writeJSON(c, http.StatusOK, withdrawalStatusResponse{UserID: st.UserID, QueryID: st.QueryID, Status: string(st.Status), Reason: st.Reason})
}

func (s *server) serviceTON(c echo.Context) error {
	var body serviceTONRequest
	if err := decodeBody(c, &body, s.bicycle); err != nil {
		return err
	}
	from, err := s.parseAddress("from", body.From)
	if err != nil {
		return err
	}
	memo, err := s.opts.Withdrawals.CreateServiceTON(c.Request().Context(), from)
	if err != nil {
		return fmt.Errorf("service TON withdrawal: %w", err)
	}
	return writeJSON(c, http.StatusOK, memoResponse{Memo: memo.String()})
}

func (s *server) serviceJetton(c echo.Context) error {
	var body serviceJettonRequest
	if err := decodeBody(c, &body, s.bicycle); err != nil {
		return err
	}
	owner, err := s.parseAddress("owner", body.Owner)
	if err != nil {
		return err
	}
	master, err := s.parseAddress("jetton_master", body.JettonMaster)
	if err != nil {
		return err
	}
	memo, err := s.opts.Withdrawals.CreateServiceJetton(c.Request().Context(), owner, master)
	if err != nil {
		return fmt.Errorf("service jetton withdrawal: %w", err)
	}
	return writeJSON(c, http.StatusOK, memoResponse{Memo: memo.String()})
}

func (s *server) serviceStatus(c echo.Context) error {
	v := c.QueryParam("memo")
	if v == "" {
		return apierr.BadRequest("memo is required (the UUID returned when the service withdrawal was requested)")
	}
	memo, err := uuid.Parse(v)
	if err != nil || len(v) != 36 {
		return apierr.BadRequest("memo must be a UUID like 123e4567-e89b-12d3-a456-426655440000, got %q", v)
	}
	st, err := s.opts.Withdrawals.ServiceStatus(c.Request().Context(), memo)
	if err != nil {
		return fmt.Errorf("service withdrawal status: %w", err)
	}
	out := serviceStatusResponse{Memo: st.Memo.String(), Kind: string(st.Kind), Status: string(st.Status), TxHash: hex.EncodeToString(st.TxHash)}
	if st.Amount != nil {
		out.Amount = st.Amount.String()
	}
	if st.Status == withdrawals.StateFailed {
		out.Reason = st.Reason
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *server) balance(c echo.Context) error {
	ctx := c.Request().Context()
	currency := c.QueryParam("currency")
	if err := s.checkCurrency(currency); err != nil {
		return err
	}
	var addr *address.Address
	addrParam := c.QueryParam("address")
	if addrParam != "" {
		a, err := s.parseAddress("address", addrParam)
		if err != nil {
			return err
		}
		addr = a
	}
	hot := addr == nil || addr.Equals(s.opts.Wallets.HotWalletAddress())
	if hot {
		addr = nil
	}
	bal, status, err := s.opts.Wallets.Balance(ctx, currency, addr)
	if err != nil {
		return fmt.Errorf("balance: %w", err)
	}
	if bal == nil {
		return fmt.Errorf("balance: %w", errNilResult)
	}
	out := balanceResponse{Balance: bal.String()}
	if currency == config.TONSymbol {
		out.Status = status
	}
	if hot && (addrParam == "" || !s.bicycle) { // bicycle: totals only without an address
		processing, pending, err := s.opts.Withdrawals.QueueTotals(ctx, currency)
		if err != nil {
			return fmt.Errorf("withdrawal queue totals: %w", err)
		}
		if processing == nil || pending == nil {
			return fmt.Errorf("withdrawal queue totals: %w", errNilResult)
		}
		out.TotalProcessingAmount, out.TotalPendingAmount = processing.String(), pending.String()
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *server) resolve(c echo.Context) error {
	domain := c.QueryParam("domain")
	if err := checkDomain(domain); err != nil {
		return err
	}
	addr, err := s.opts.Resolver.ResolveWallet(c.Request().Context(), domain)
	if err != nil {
		return fmt.Errorf("resolve %q: %w", domain, err)
	}
	if addr == nil {
		return apierr.NotFound("domain %q has no wallet record", domain)
	}
	return writeJSON(c, http.StatusOK, addressResponse{Address: tonaddr.Format(addr, s.network, true)})
}

func (s *server) sync(c echo.Context) error {
	synced, utime, err := s.opts.Sync.SyncStatus(c.Request().Context())
	if err != nil {
		return fmt.Errorf("sync status: %w", err)
	}
	return writeJSON(c, http.StatusOK, syncResponse{IsSynced: synced, LastBlockGenUtime: utime})
}

func (s *server) healthz(c echo.Context) error {
	return writeJSON(c, http.StatusOK, statusResponse{Status: "ok"})
}

func (s *server) readyz(c echo.Context) error {
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
		defer cancel()
		if err := s.opts.Ready(ctx); err != nil {
			s.log.Warn("not ready", "request_id", requestIDOf(c), "error", err)
			return writeJSON(c, http.StatusServiceUnavailable, errorBody{Error: "not ready"})
		}
	}
	return writeJSON(c, http.StatusOK, statusResponse{Status: "ready"})
}

func (s *server) metricsHandler(c echo.Context) error {
	s.promHandler.ServeHTTP(c.Response(), c.Request())
	return nil
}

func (s *server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", api.OpenAPI)
}

// errNilResult guards against implementations that return nil values
// without an error.
var errNilResult = errors.New("implementation returned a nil result")
