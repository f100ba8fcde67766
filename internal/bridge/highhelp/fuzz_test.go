package highhelp

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
)

// Fuzz targets (run one at a time):
//
//	go test ./internal/bridge/highhelp -run '^$' -fuzz '^FuzzNormalize$' -fuzztime 30s
//	go test ./internal/bridge/highhelp -run '^$' -fuzz '^FuzzParseCallback$' -fuzztime 30s
//
// Seeds: the golden vectors of sign_test.go and the callback bodies of
// client_test.go (f.Add) plus testdata/fuzz/<FuzzName>/.

// fuzzSeedBodies are the bodies the package tests already use.
var fuzzSeedBodies = []string{
	goldenBody,
	`{"b":{"z":1,"a":2},"a":"x"}`,
	`{"a":{"b":1},"a_":2}`,
	`{"m":[[1,2],[3]]}`,
	`[{"a":1},2]`,
	`{"i":10,"big":123456789012345678901234567890,"f":1.50}`,
	`{"s":"\u0416\u00e9 \"q\""}`,
	`{"s":""}`,
	`{"a":{},"b":[]}`,
	`{"a":12}`,
	`{"payment_id":"p-1","request_id":"r","status":"success","sub_status":"","payment":{"amount":100,"currency":"RUB"}}`,
	`{"payment_id":"p-1","status":"processing","sub_status":"requisites"}`,
	`{"general":{"payment_id":"g-1"},"status":"decline","status_description":"no funds","amount":5,"currency":"RUB"}`,
	// Bound to fuzzClient's kassa (project id "m").
	`{"payment_id":"p-1","request_id":"r","status":"success","sub_status":"","general":{"project_id":"m"},"payment":{"amount":100,"currency":"RUB"}}`,
	`{"payment_id":"p-1","status":"processing","sub_status":"requisites","general":{"project_id":"M"}}`,
	`{"general":{"project_id":"m","payment_id":"g-1"},"status":"decline","status_description":"no funds","amount":5,"currency":"RUB"}`,
	`{"general":{"project_id":"other","payment_id":"g-1"},"status":"success"}`,
	`{"payment_id":"p"}`,
	``, `{`, `"str"`, `42`, `{"a":1} {"b":2}`, `null`, `{"payment_id":`,
}

// FuzzNormalize checks, for both BoolModes: no panic; Normalize is
// deterministic (map iteration order must not leak); it accepts exactly the
// single JSON objects/arrays; the two modes accept the same inputs and
// differ only on boolean lines; and for an accepted body an HMAC signature
// made by SignBody verifies with VerifyBody under every Scheme variant,
// while another timestamp, a flipped signature byte or another key fails
// (a signature string that decodes to the same bytes, such as a
// non-canonical base64 tail, is an encoding alias, not a forgery).
func FuzzNormalize(f *testing.F) {
	for _, b := range fuzzSeedBodies {
		f.Add([]byte(b), []byte("hh-secret"), goldenTS, uint16(0))
	}
	f.Add([]byte(`{"t":true,"f":false,"n":null}`), []byte("k"), "7", uint16(3))
	f.Fuzz(func(t *testing.T, body, secret []byte, ts string, flip uint16) {
		digits, errD := Normalize(body, BoolDigits)
		words, errW := Normalize(body, BoolWords)
		if (errD == nil) != (errW == nil) {
			t.Fatalf("modes disagree on acceptance: digits %v, words %v", errD, errW)
		}
		for i := 0; i < 3; i++ {
			d2, e2 := Normalize(body, BoolDigits)
			w2, e3 := Normalize(body, BoolWords)
			if d2 != digits || w2 != words || (e2 == nil) != (errD == nil) || (e3 == nil) != (errW == nil) {
				t.Fatalf("Normalize not deterministic: %q vs %q / %q vs %q", digits, d2, words, w2)
			}
		}
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		wantOK := json.Valid(body) && len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')
		if (errD == nil) != wantOK {
			t.Fatalf("Normalize accepted=%v (%v), json.Valid object/array=%v", errD == nil, errD, wantOK)
		}
		if errD != nil {
			return
		}
		dl, wl := strings.Split(digits, ";"), strings.Split(words, ";")
		if len(dl) != len(wl) {
			t.Fatalf("line counts differ: %q vs %q", digits, words)
		}
		if !strings.Contains(digits, ":1") && !strings.Contains(digits, ":0") && digits != words {
			t.Fatalf("modes differ without booleans: %q vs %q", digits, words)
		}

		if len(secret) == 0 {
			secret = []byte("hh-secret")
		}
		key := HMACKey(secret)
		for _, s := range []Scheme{
			{}, {Bools: BoolWords}, {PadBody: true}, {Encoding: Base64Std}, {Encoding: Hex, Bools: BoolWords, PadBody: true},
		} {
			sig, err := s.SignBody(key, body, ts)
			if err != nil {
				t.Fatalf("%+v: SignBody of an accepted body: %v", s, err)
			}
			if err := s.VerifyBody(key, body, ts, sig); err != nil {
				t.Fatalf("%+v: VerifyBody of own signature: %v", s, err)
			}
			if s.VerifyBody(key, body, ts+"0", sig) == nil {
				t.Fatalf("%+v: verified with another timestamp", s)
			}
			if s.VerifyBody(HMACKey(append(append([]byte(nil), secret...), 'x')), body, ts, sig) == nil {
				t.Fatalf("%+v: verified with another key", s)
			}
			raw, err := s.decode(sig)
			if err != nil {
				t.Fatalf("%+v: own signature does not decode: %v", s, err)
			}
			// Flip one bit of the signature bytes: must fail.
			mut := append([]byte(nil), raw...)
			mut[int(flip)%len(mut)] ^= 1 << (flip % 8)
			if s.VerifyBody(key, body, ts, s.encode(mut)) == nil {
				t.Fatalf("%+v: verified a signature with a flipped bit", s)
			}
			// Change one character of the encoded signature: only an alias
			// decoding to the same bytes may verify.
			b := []byte(sig)
			i := int(flip) % len(b)
			b[i] = "AZaz09-_+/=x"[int(flip/256)%12]
			if s.VerifyBody(key, body, ts, string(b)) == nil {
				if got, err := s.decode(string(b)); err != nil || !bytes.Equal(got, raw) {
					t.Fatalf("%+v: verified a changed signature %q (was %q)", s, b, sig)
				}
			}
			// Truncated signature must fail.
			if s.VerifyBody(key, body, ts, sig[:len(sig)/2]) == nil {
				t.Fatalf("%+v: verified a truncated signature", s)
			}
		}
	})
}

// fuzzNow is the fixed clock of FuzzParseCallback.
var fuzzNow = time.Unix(1706182847, 0)

func fuzzClient(t testing.TB, key Key, maxAge time.Duration) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: "http://127.0.0.1:1", MerchantID: "m", Key: HMACKey([]byte("req")), Token: "tok",
		CallbackKey: key, CallbackMaxAge: maxAge, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fuzzCallbackRequest is a callback request to fuzzClient's kassa
// (x-access-merchant-id "m").
func fuzzCallbackRequest(kind, ts, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/cb?kind="+kind, nil)
	r.Header.Set(HeaderMerchantID, "m")
	if ts != "" {
		r.Header.Set(HeaderTimestamp, ts)
	}
	if sig != "" {
		r.Header.Set(HeaderSignature, sig)
	}
	return r
}

// FuzzParseCallback drives Client.ParseCallback (what the HTTP callback
// handler calls with the raw body and x-access-* headers):
//   - arbitrary body/timestamp/signature headers (HMAC and RSA callback
//     keys): no panic; every failure wraps bridge.ErrBadCallback; anything
//     accepted has a signature that VerifyBody accepts, a timestamp within
//     CallbackMaxAge, a non-empty reference and a status;
//   - the body signed with the callback key at a fuzzed in-window time: it
//     is accepted exactly when it is JSON with payment_id (top level or
//     general.payment_id), status and our general.project_id, without
//     separators of the signed form where they make it ambiguous (see
//     ambiguousForm), and the parsed callback agrees with PaymentResponse
//     (reference, kind from ?kind=, informative flag); the same with
//     another x-access-merchant-id is refused;
//   - the same signature with a flipped body byte, another timestamp
//     (out of window, or a different in-window second), or a flipped
//     signature bit: never accepted — except a body edit that leaves
//     Normalize unchanged, which the scheme cannot see by design.
func FuzzParseCallback(f *testing.F) {
	for i, b := range fuzzSeedBodies {
		f.Add([]byte(b), strconv.FormatInt(fuzzNow.Unix(), 10), "sig", int64(i*7-30), uint16(i), i%2 == 0)
	}
	f.Add([]byte(`{"payment_id":"p-1","status":"success"}`), "+1706182847", "", int64(299), uint16(5), true)
	f.Add([]byte(`{"payment_id":"p-1","status":"success"}`), "01706182847", "AAAA", int64(-300), uint16(9), false)
	hmacC := fuzzClient(f, HMACKey([]byte("cb-secret")), 5*time.Minute)
	rsaC := fuzzClient(f, RSAPublicKey(&testKey(f).PublicKey), 5*time.Minute)
	f.Fuzz(func(t *testing.T, body []byte, ts, sig string, offset int64, flip uint16, payout bool) {
		kind := string(bridge.Payin)
		if payout {
			kind = string(bridge.Payout)
		}
		// 1. Raw inputs.
		for _, c := range []*Client{hmacC, rsaC} {
			cb, err := c.ParseCallback(fuzzCallbackRequest(kind, ts, sig), body)
			if err != nil {
				if !errors.Is(err, bridge.ErrBadCallback) {
					t.Fatalf("error does not wrap ErrBadCallback: %v", err)
				}
				continue
			}
			if verr := c.cfg.Scheme.VerifyBody(c.cfg.CallbackKey, body, ts, sig); verr != nil {
				t.Fatalf("accepted a callback whose signature does not verify: %v", verr)
			}
			sec, perr := strconv.ParseInt(ts, 10, 64)
			if d := fuzzNow.Sub(time.Unix(sec, 0)); perr != nil || d > c.cfg.CallbackMaxAge || d < -c.cfg.CallbackMaxAge {
				t.Fatalf("accepted timestamp %q", ts)
			}
			if cb.Reference == "" {
				t.Fatalf("accepted without reference: %+v", cb)
			}
			if !boundToM(body) {
				t.Fatalf("accepted a callback of another kassa: %q", body)
			}
		}

		// 2. Genuinely signed at an in-window time.
		c := hmacC
		maxAge := int64(c.cfg.CallbackMaxAge / time.Second)
		off := offset % (maxAge + 1)
		ts0 := strconv.FormatInt(fuzzNow.Unix()+off, 10)
		good, err := c.cfg.Scheme.SignBody(c.cfg.CallbackKey, body, ts0)
		normOK := err == nil
		var resp PaymentResponse
		wantOK := normOK && json.Unmarshal(body, &resp) == nil && resp.Reference() != "" && resp.Status != "" && !ambiguousForm(body) &&
			boundToM(body)
		cb, err := c.ParseCallback(fuzzCallbackRequest(kind, ts0, good), body)
		if (err == nil) != wantOK {
			t.Fatalf("signed callback: accepted=%v (%v), want %v", err == nil, err, wantOK)
		}
		other := fuzzCallbackRequest(kind, ts0, good)
		other.Header.Set(HeaderMerchantID, "another-merchant")
		if _, err := c.ParseCallback(other, body); err == nil {
			t.Fatal("accepted a callback with another x-access-merchant-id")
		}
		if err == nil {
			if cb.Reference != resp.Reference() || cb.Informative != (CallbackKind(resp.Status) == KindInformative) ||
				cb.Result.Status != MapStatus(bridge.Kind(kind), resp.Status, resp.SubStatus) {
				t.Fatalf("parsed %+v disagrees with %+v", cb, resp)
			}
		}
		if !normOK {
			return
		}

		// 3. Tampering.
		mut := append([]byte(nil), body...)
		if len(mut) > 0 {
			i := int(flip) % len(mut)
			mut[i] ^= 1 << (flip % 8)
			if _, err := c.ParseCallback(fuzzCallbackRequest(kind, ts0, good), mut); err == nil {
				n0, _ := Normalize(body, c.cfg.Scheme.Bools)
				n1, _ := Normalize(mut, c.cfg.Scheme.Bools)
				if n0 != n1 {
					t.Fatalf("accepted a tampered body %q (signed %q)", mut, body)
				}
			}
		}
		for _, ts1 := range []string{
			strconv.FormatInt(fuzzNow.Unix()+off+1+int64(flip)%maxAge, 10), // another second
			strconv.FormatInt(fuzzNow.Unix()+off-1-int64(flip)%maxAge, 10), // another second
			strconv.FormatInt(fuzzNow.Unix()+2*maxAge+1+int64(flip), 10),   // future
			strconv.FormatInt(fuzzNow.Unix()-2*maxAge-1-int64(flip), 10),   // stale
		} {
			if _, err := c.ParseCallback(fuzzCallbackRequest(kind, ts1, good), body); err == nil {
				t.Fatalf("accepted signature for %s with timestamp %s", ts0, ts1)
			}
		}
		raw, _ := c.cfg.Scheme.decode(good)
		raw[int(flip)%len(raw)] ^= 1 << (flip % 8)
		if _, err := c.ParseCallback(fuzzCallbackRequest(kind, ts0, c.cfg.Scheme.encode(raw)), body); err == nil {
			t.Fatal("accepted a signature with a flipped bit")
		}
	})
}

// boundToM reports a body whose general.project_id is fuzzClient's ("m",
// case and surrounding spaces aside).
func boundToM(body []byte) bool {
	var r PaymentResponse
	return json.Unmarshal(body, &r) == nil && r.General != nil && strings.EqualFold(strings.TrimSpace(r.General.ProjectID), "m")
}

// ambiguousForm reports a body the signed form cannot tell from another:
// a ";" in any key or string value, a ":" or "." in a key.
func ambiguousForm(body []byte) bool {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	var bad func(any) bool
	bad = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if strings.ContainsAny(k, ";:.") || bad(e) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if bad(e) {
					return true
				}
			}
		case string:
			return strings.Contains(x, ";")
		}
		return false
	}
	return bad(v)
}
