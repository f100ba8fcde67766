package httpapi

// The bicycle compatibility profile (API_COMPAT=bicycle): where
// gobicycle/bicycle's API answers a request differently from ours, answer
// as bicycle does, so a client written against bicycle works unchanged.
// Only the edge changes (decoding, status codes, field shapes); what is
// stored and paid is the same under both profiles. Where bicycle is
// unsafe for money (fractional or float amounts, a reused query_id paid
// twice, duplicate JSON keys) ours stays. README "Switching from bicycle"
// lists every difference and what the profile does with it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// HistoryPager reads a deposit history page by page by position (keyset
// paging); blockscanner.ReadModel implements it. The bicycle profile takes
// any /v1/deposit/history limit and serves it with pages of at most
// MaxHistoryLimit, so a large limit is never one large query.
type HistoryPager interface {
	// HistoryPage returns up to limit (1..MaxHistoryLimit) incomes in
	// History's order and the key of the last one (nil for an empty page):
	// the first page (after nil) skips offset incomes, later ones start
	// after the given key.
	HistoryPage(ctx context.Context, userID, currency string, after *blockscanner.HistoryKey, offset int64, limit int, asc bool) ([]blockscanner.Income, *blockscanner.HistoryKey, error)
}

var _ HistoryPager = (*blockscanner.ReadModel)(nil)

// profile sets up the compatibility profile of opts.Config.
func (s *server) profile() error {
	switch s.opts.Config.APICompat {
	case config.CompatNone:
		return nil
	case config.CompatBicycle:
		p, ok := s.opts.Incomes.(HistoryPager)
		if !ok {
			return fmt.Errorf("API_COMPAT=bicycle needs Incomes that implement HistoryPager (any deposit/history limit), %T does not", s.opts.Incomes)
		}
		s.bicycle, s.pager = true, p
		return nil
	}
	return fmt.Errorf("unknown API compatibility profile %q", s.opts.Config.APICompat)
}

// bicycleWithdrawalRequest is withdrawalRequest as bicycle decodes it:
// amount may be a JSON string or a JSON number.
type bicycleWithdrawalRequest struct {
	UserID        string          `json:"user_id"`
	QueryID       string          `json:"query_id"`
	Currency      string          `json:"currency"`
	Amount        json.RawMessage `json:"amount"`
	Destination   string          `json:"destination"`
	Comment       string          `json:"comment"`
	BinaryComment string          `json:"binary_comment"`
}

// decodeBicycleWithdrawal decodes a withdrawal body as the profile takes
// it into dst, the amount as decimal digits (still checked by the caller
// like any amount string).
func decodeBicycleWithdrawal(c echo.Context, dst *withdrawalRequest) error {
	var b bicycleWithdrawalRequest
	if err := decodeBody(c, &b, true); err != nil {
		return err
	}
	amount, err := bicycleAmount(b.Amount)
	if err != nil {
		return err
	}
	*dst = withdrawalRequest{UserID: b.UserID, QueryID: b.QueryID, Currency: b.Currency, Amount: amount,
		Destination: b.Destination, Comment: b.Comment, BinaryComment: b.BinaryComment}
	return nil
}

// maxJSONInteger is the largest integer every JSON client carries exactly:
// many (JavaScript, anything decoding into a double) round integers above
// 2^53-1, so a larger amount sent as a number may not be the one meant.
const maxJSONInteger = 1<<53 - 1

// bicycleAmount turns the raw JSON amount into the decimal digits the
// amount checks take: a string is taken as is (and must be digits, as
// always), a number only when it is a whole number from 1 to 2^53-1.
// bicycle also took fractions and exponents and truncated them when
// paying; a payment never rounds here.
func bicycleAmount(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil // "amount is empty", from the amount check
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", apierr.BadRequest("amount is not a valid JSON string: %v", err)
		}
		return s, nil
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		return wholeNumber(string(raw))
	}
	return "", apierr.BadRequest("amount must be a JSON string or number of base units, e.g. \"1000000000\" or 1000000000 for 1 TON")
}

// wholeNumber returns the value of the JSON number tok as canonical
// decimal digits when it is a whole number from 1 to maxJSONInteger,
// computed exactly from its digits (never through a float64).
func wholeNumber(tok string) (string, error) {
	shown := tok
	if len(shown) > 40 {
		shown = shown[:40] + "..."
	}
	s, neg := strings.CutPrefix(tok, "-")
	mant, expText, hasExp := s, "", false
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expText, hasExp = s[:i], s[i+1:], true
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	exp := 0
	if hasExp {
		expNeg := strings.HasPrefix(expText, "-")
		expText = strings.TrimLeft(strings.TrimLeft(expText, "+-"), "0")
		if len(expText) > 6 {
			expText = "1000000" // far beyond any amount either way
		}
		if expText != "" {
			e, err := strconv.Atoi(expText)
			if err != nil {
				return "", apierr.BadRequest("amount %s is not a JSON number", shown)
			}
			exp = e
		}
		if expNeg {
			exp = -exp
		}
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	scale := exp - len(frac) // value = digits × 10^scale
	if digits == "" {
		return "0", nil // zero in any spelling; the amount check refuses it
	}
	if scale < 0 {
		keep := len(digits) + scale
		if keep <= 0 || strings.Trim(digits[keep:], "0") != "" {
			if hasExp {
				return "", apierr.BadRequest("amount %s is not a whole number (its exponent leaves a fraction): amounts are whole base units (nanotons for TON)", shown)
			}
			return "", apierr.BadRequest("amount %s has a fraction: amounts are whole base units (nanotons for TON), bicycle's truncation is not applied", shown)
		}
		digits, scale = digits[:keep], 0
	}
	const maxDigits = len("9007199254740991")
	if len(digits)+scale > maxDigits {
		return "", tooLargeForJSON(shown)
	}
	digits += strings.Repeat("0", scale)
	if n, err := strconv.ParseUint(digits, 10, 64); err != nil || n > maxJSONInteger {
		return "", tooLargeForJSON(shown)
	}
	if neg {
		return "", apierr.BadRequest("amount %s must be greater than zero", shown)
	}
	return digits, nil
}

func tooLargeForJSON(shown string) error {
	return apierr.BadRequest("amount %s as a JSON number is above 2^53-1 (9007199254740991), beyond which JSON clients may round it: send it as a string of digits", shown)
}

// bicycleInt parses a history query parameter as bicycle does: any
// decimal integer (sign allowed), required.
func bicycleInt(name, v string) (int64, error) {
	if v == "" {
		return 0, apierr.BadRequest("%s is required (an integer)", name)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, apierr.BadRequest("%s must be a decimal integer, got %q", name, v)
	}
	if n < 0 {
		// bicycle passed it to PostgreSQL and answered 500.
		return 0, apierr.BadRequest("%s must not be negative, got %d", name, n)
	}
	return n, nil
}

// bicycleHistory answers /v1/deposit/history under the profile: any limit
// (0 gives no incomes, as bicycle's LIMIT 0 did) and any offset, served
// with key pages of at most MaxHistoryLimit. An answer longer than one
// page is streamed as the pages come, so memory stays one page; an error
// after the first page cuts the JSON short (the client sees invalid JSON,
// never a shorter list that looks complete) and is logged.
func (s *server) bicycleHistory(c echo.Context, userID, currency string, asc bool) error {
	limit, err := bicycleInt("limit", c.QueryParam("limit"))
	if err != nil {
		return err
	}
	offset, err := bicycleInt("offset", c.QueryParam("offset"))
	if err != nil {
		return err
	}
	out := historyResponse{Incomes: []incomeJSON{}}
	if limit == 0 {
		return writeJSON(c, http.StatusOK, out)
	}
	ctx := c.Request().Context()
	size := func(left int64) int { return int(min(left, MaxHistoryLimit)) }
	page, key, err := s.pager.HistoryPage(ctx, userID, currency, nil, offset, size(limit), asc)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	left := limit - int64(len(page))
	if left == 0 || len(page) < MaxHistoryLimit { // the whole answer is here
		for _, in := range page {
			out.Incomes = append(out.Incomes, s.toIncomeJSON(in))
		}
		return writeJSON(c, http.StatusOK, out)
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.WriteHeader(http.StatusOK)
	if _, err := res.Write([]byte(`{"incomes":[`)); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	first := true
	for {
		for _, in := range page {
			b, err := json.Marshal(s.toIncomeJSON(in))
			if err != nil {
				return fmt.Errorf("encode history: %w", err)
			}
			if !first {
				b = append([]byte{','}, b...)
			}
			first = false
			if _, err := res.Write(b); err != nil {
				return fmt.Errorf("write history: %w", err)
			}
		}
		if left == 0 || len(page) < MaxHistoryLimit {
			break
		}
		after := key
		if page, key, err = s.pager.HistoryPage(ctx, userID, currency, after, 0, size(left), asc); err != nil {
			return fmt.Errorf("history page after %+v: %w", *after, err)
		}
		left -= int64(len(page))
	}
	if _, err := res.Write([]byte(`]}`)); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}

// bicycleSource is a source address as bicycle shows it: bounceable
// (ours shows it non-bounceable, like deposit addresses).
func (s *server) bicycleSource(v string) string {
	if v == "" {
		return ""
	}
	a, err := address.ParseAddr(v)
	if err != nil {
		return v // not from us in any other form; shown as stored
	}
	return tonaddr.Format(a, s.network, true)
}

// bicycleParseAddress is parseAddress on testnet under the profile: bicycle
// takes mainnet-form addresses there too (only the testnet flag on
// mainnet is refused, by both).
func (s *server) bicycleParseAddress(v string, strictErr error) (*address.Address, error) {
	if s.network != config.Testnet {
		return nil, strictErr
	}
	a, err := tonaddr.Parse(v, config.Mainnet)
	if err != nil {
		return nil, strictErr
	}
	return a, nil
}

// bicycleNotFound is the profile's answer to an unknown withdrawal ID:
// 400 with bicycle's text first, ours after it.
func bicycleNotFound(err error) error {
	if errors.Is(err, apierr.ErrNotFound) {
		return apierr.BadRequest("request ID not found (%s)", apierr.Message(err))
	}
	return err
}
