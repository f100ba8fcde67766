package payfield

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
	"github.com/ton-custody/processor/internal/config"
)

// Fuzz targets (run one at a time):
//
//	go test ./internal/bridge/payfield -run '^$' -fuzz '^FuzzParseCallback$' -fuzztime 30s
//	go test ./internal/bridge/payfield -run '^$' -fuzz '^FuzzParseResponse$' -fuzztime 30s
//
// Seeds: the golden vectors and webhook bodies of payfield_test.go (f.Add)
// plus testdata/fuzz/<FuzzName>/.

const (
	fuzzWebhookSecret = "pf-webhook-0123456789"
	fuzzGoldenT       = "2026-05-19T12:00:00Z"
)

var fuzzNow = time.Date(2026, 5, 19, 12, 0, 0, 0, time.UTC)

var fuzzBodies = []string{
	`{"external_id":"order-1","amount":"1500.00","currency":"RUB"}`,
	`{"id":7,"external_id":"in-1","shop_code":"shop-001","status":"success","amount":"1500.50","currency":"RUB","updated_at":"2026-05-19T12:00:00Z"}`,
	`{"id":"p-9","external_id":"in-2","status":"pending","amount":"10","currency":"JPY","paymentData":{"payment_link":"https://pay.example/x"}}`,
	`{"external_id":"out-1","status":"failed","amount":"1.005","currency":"KWD","message":"no funds"}`,
	`{"external_id":"out-2","status":"canceled","amount":"-3.00","currency":"RUB"} trailing`,
	`{"external_id":`, ``, `[]`, `null`,
}

func fuzzPayfieldClient(t testing.TB, enc string) *Client {
	t.Helper()
	c, err := New(Options{BaseURL: "http://127.0.0.1:1", APIKey: config.NewSecret("k"), Secret: config.NewSecret("s"),
		WebhookSecret: config.NewSecret(fuzzWebhookSecret), Encoding: enc, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fuzzWebhook(ts, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	if ts != "" {
		r.Header.Set("X-Timestamp", ts)
	}
	if sig != "" {
		r.Header.Set("X-Signature", sig)
	}
	return r
}

// FuzzParseCallback drives Client.ParseCallback (webhook parse + verify)
// with hex and base64 signatures:
//   - arbitrary body/X-Timestamp/X-Signature: no panic; failures wrap
//     bridge.ErrBadCallback; anything accepted carries a signature Verify
//     accepts for exactly that timestamp and body, an ISO-8601 timestamp
//     within WebhookTolerance, and external_id/status;
//   - the body signed at a fuzzed in-window time: accepted exactly when
//     its first JSON value is an object with external_id and status, and
//     the callback agrees with that Payment;
//   - the same signature over a body with one flipped bit, with another
//     timestamp, or with one flipped signature bit: never accepted; a
//     changed signature character is only accepted when it decodes to the
//     same bytes (hex case, whitespace, base64 padding bits).
func FuzzParseCallback(f *testing.F) {
	for i, b := range fuzzBodies {
		f.Add([]byte(b), fuzzGoldenT, "d7d1b99e00d8726682bd8f5a5b3f076775ce91e2b282bf466f625da5e3555114", int64(i*13-60), uint16(i), i%2 == 0)
	}
	f.Add([]byte(fuzzBodies[0]), fuzzGoldenT, "19G5ngDYcmaCvY9aWz8HZ3XOkeKygr9Gb2JdpeNVURQ=", int64(299), uint16(77), true)
	f.Add([]byte(fuzzBodies[1]), "1779192000", "", int64(-300), uint16(3), false)
	clients := map[bool]*Client{false: fuzzPayfieldClient(f, EncodingHex), true: fuzzPayfieldClient(f, EncodingBase64)}
	f.Fuzz(func(t *testing.T, body []byte, ts, sig string, offset int64, flip uint16, b64 bool) {
		c := clients[b64]
		// 1. Raw inputs.
		if cb, err := c.ParseCallback(fuzzWebhook(ts, sig), body); err != nil {
			if !errors.Is(err, bridge.ErrBadCallback) {
				t.Fatalf("error does not wrap ErrBadCallback: %v", err)
			}
		} else {
			if !Verify(fuzzWebhookSecret, ts, body, c.o.Encoding, sig) {
				t.Fatal("accepted a webhook whose signature does not verify")
			}
			tm, err := time.Parse(time.RFC3339Nano, ts)
			if d := fuzzNow.Sub(tm); err != nil || d > c.o.WebhookTolerance || d < -c.o.WebhookTolerance {
				t.Fatalf("accepted timestamp %q", ts)
			}
			if cb.Reference == "" {
				t.Fatalf("accepted without reference: %+v", cb)
			}
		}

		// 2. Genuinely signed at an in-window time (ISO-8601, as sent).
		tol := int64(c.o.WebhookTolerance / time.Second)
		off := offset % (tol + 1)
		ts0 := Timestamp(fuzzNow.Add(time.Duration(off)*time.Second), TimestampISO8601)
		good := Sign(fuzzWebhookSecret, ts0, body, c.o.Encoding)
		var p Payment
		dec := json.NewDecoder(strings.NewReader(string(body)))
		wantOK := dec.Decode(&p) == nil && p.ExternalID != "" && p.Status != ""
		cb, err := c.ParseCallback(fuzzWebhook(ts0, good), body)
		if (err == nil) != wantOK {
			t.Fatalf("signed webhook: accepted=%v (%v), want %v", err == nil, err, wantOK)
		}
		if err == nil {
			kind := bridge.Payout
			if p.PaymentData["payment_link"] != "" {
				kind = bridge.Payin
			}
			want := p.result(kind)
			if cb.Reference != p.ExternalID || cb.Result.Status != want.Status || cb.Result.RawStatus != p.Status {
				t.Fatalf("parsed %+v disagrees with %+v", cb, p)
			}
		}

		// 3. Tampering.
		if len(body) > 0 {
			mut := append([]byte(nil), body...)
			mut[int(flip)%len(mut)] ^= 1 << (flip % 8)
			if _, err := c.ParseCallback(fuzzWebhook(ts0, good), mut); err == nil {
				t.Fatalf("accepted a tampered body %q (signed %q)", mut, body)
			}
		}
		for _, ts1 := range []string{
			Timestamp(fuzzNow.Add(time.Duration(off+1+int64(flip)%tol)*time.Second), TimestampISO8601),
			Timestamp(fuzzNow.Add(time.Duration(off-1-int64(flip)%tol)*time.Second), TimestampISO8601),
			Timestamp(fuzzNow.Add(time.Duration(off)*time.Second), TimestampUnix),
			ts0 + "x", strings.TrimSuffix(ts0, "Z") + "+00:00",
		} {
			if _, err := c.ParseCallback(fuzzWebhook(ts1, good), body); err == nil {
				t.Fatalf("accepted signature for %s with timestamp %s", ts0, ts1)
			}
		}
		raw, err := decodeSig(good, c.o.Encoding)
		if err != nil {
			t.Fatal(err)
		}
		raw[int(flip)%len(raw)] ^= 1 << (flip % 8)
		flipped := base64.StdEncoding.EncodeToString(raw)
		if !b64 {
			flipped = strings.ToUpper(string(mustHex(raw)))
		}
		if _, err := c.ParseCallback(fuzzWebhook(ts0, flipped), body); err == nil {
			t.Fatal("accepted a signature with a flipped bit")
		}
		sb := []byte(good)
		sb[int(flip)%len(sb)] = "0aF+/=\n x"[int(flip/256)%9]
		if _, err := c.ParseCallback(fuzzWebhook(ts0, string(sb)), body); err == nil {
			orig, _ := decodeSig(good, c.o.Encoding)
			got, derr := decodeSig(strings.TrimSpace(string(sb)), c.o.Encoding)
			if derr != nil || string(got) != string(orig) {
				t.Fatalf("accepted a changed signature %q (was %q)", sb, good)
			}
		}
	})
}

func mustHex(b []byte) []byte {
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hexd[c>>4], hexd[c&0xf])
	}
	return out
}

// FuzzParseResponse feeds arbitrary provider answers to the response
// parsing of create/status (Payment → result) and balance
// (BalanceResponse → toBridge), and arbitrary X-Timestamp values to
// ParseTimestamp: no panic; results are deterministic; a mapped amount
// formats back (bridge.FormatMajor) to a value ParseMajor reads as the
// same amount; a status is always one of the bridge's; a balance that
// converts has total = available + pending + frozen + credit; a parsed
// ISO-8601 timestamp formats back to the same instant.
func FuzzParseResponse(f *testing.F) {
	for _, b := range fuzzBodies {
		f.Add([]byte(b), fuzzGoldenT)
	}
	f.Add([]byte(`{"currency":"RUB","shop":{"id":1,"code":"shop-001"},"balance":"10.00","available":"7.50","pending":"1.50","frozen":"1.00","credit":"0","total":"10.00"}`), "1779192000")
	f.Add([]byte(`{"currency":"KWD","available":"1.001","pending":"0.000","total":"2"}`), "2026-05-19T12:00:00.123456789+05:30")
	f.Add([]byte(`{"currency":"JPY","available":"-5","frozen":"1.0","buckets":{"a":"1"}}`), "-62135596800")
	f.Fuzz(func(t *testing.T, data []byte, ts string) {
		var p Payment
		if json.Unmarshal(data, &p) == nil {
			for _, kind := range []bridge.Kind{bridge.Payin, bridge.Payout} {
				r, r2 := p.result(kind), p.result(kind)
				if r.Status != r2.Status || r.ProviderID != r2.ProviderID || !sameMoney(r.Amount, r2.Amount) {
					t.Fatal("result not deterministic")
				}
				if !knownStatus(r.Status) {
					t.Fatalf("status %q", r.Status)
				}
				if r.Amount != nil {
					s := bridge.FormatMajor(r.Amount.Amount, r.Amount.Currency)
					back, err := bridge.ParseMajor(s, r.Amount.Currency)
					if err != nil || back.Cmp(r.Amount.Amount) != 0 {
						t.Fatalf("amount %q -> %v -> %q -> %v (%v)", p.Amount, r.Amount.Amount, s, back, err)
					}
				}
			}
		}
		var b BalanceResponse
		if json.Unmarshal(data, &b) == nil {
			bal, err := b.toBridge("RUB")
			if err == nil {
				for _, v := range []any{bal.Available, bal.Pending, bal.Frozen, bal.Credit, bal.Total} {
					if v == nil {
						t.Fatalf("nil amount in %+v", bal)
					}
				}
				s := new(big.Int).Add(bal.Available, bal.Pending)
				s.Add(s, bal.Frozen).Add(s, bal.Credit)
				if s.Cmp(bal.Total) != 0 {
					t.Fatalf("total %v != %v", bal.Total, s)
				}
			}
		}
		if tm, err := ParseTimestamp(ts); err == nil && !strings.ContainsAny(ts, "0123456789") {
			t.Fatalf("ParseTimestamp(%q) = %v without digits", ts, tm)
		} else if err == nil {
			if tm2, err := ParseTimestamp(ts); err != nil || !tm.Equal(tm2) {
				t.Fatal("ParseTimestamp not deterministic")
			}
			if back, err := time.Parse(time.RFC3339Nano, tm.UTC().Format(time.RFC3339Nano)); err == nil && !back.Equal(tm) {
				t.Fatalf("timestamp %q -> %v -> %v", ts, tm, back)
			}
		}
	})
}

func knownStatus(s bridge.Status) bool {
	switch s {
	case bridge.StatusSucceeded, bridge.StatusFailed, bridge.StatusCanceled, bridge.StatusReversed,
		bridge.StatusExpired, bridge.StatusProcessing, bridge.StatusActionRequired:
		return true
	}
	return false
}

func sameMoney(a, b *bridge.Money) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Currency == b.Currency && a.Amount.Cmp(b.Amount) == 0
}
