package paykassma

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/ton-custody/processor/internal/bridge"
)

// Fuzz targets (run one at a time):
//
//	go test ./internal/bridge/paykassma -run '^$' -fuzz '^FuzzParsePostback$' -fuzztime 30s
//	go test ./internal/bridge/paykassma -run '^$' -fuzz '^FuzzPHPJSON$' -fuzztime 30s
//	go test ./internal/bridge/paykassma -run '^$' -fuzz '^FuzzPHPEncode$' -fuzztime 30s
//
// Seeds: the golden postbacks of sign_test.go and client_test.go, the
// php_test.go inputs (f.Add) plus testdata/fuzz/<FuzzName>/.

const (
	fuzzWithdrawal = `{"withdrawal_id":"2298635","status":1,"comment":"test","payment_system":"paytm","amount":500,"currency_code":"INR","label":"55","account_number":"5422222225","account_name":"5645646","account_email":null,"payments_details":{"payments_provider":null},"bank_details":{"bank_code":null,"branch_code":null},"signature":"ff19438af119ab62cd2ba4b48a7b92151784e870"}`
	fuzzDeposit    = `{"transaction_id":"770425808190","transactions":[{"amount":300.00,"currency_code":"INR","wallet_type":"upi_l","transaction_id":"770425808190","transaction_type":0,"from":"a\/b","created_datetime":"2023-09-19 10:25:47","activated_datetime":"2023-09-19 10:25:48","custom_id":"\u03a9x"}],"signature":"08ba66fb32693a92a816080c0e1fe1d81287c8d4"}`
)

var fuzzPostbackSeeds = []string{
	fuzzWithdrawal,
	fuzzDeposit,
	`{"withdrawal_id":"x","status":5,"comment":"rejected","amount":"1.5","currency_code":"KWD","signature":"x"}`,
	`{"transaction_id":"1","label":"u","stockpiling":{"a":"1.5"},"stockpiling_id":7,"transactions":[{"amount":"1.5","currency_code":"BTC","custom_id":"r1"},{"amount":2,"currency_code":"BTC","custom_id":null}],"signature":"x"}`,
	`{"transaction_id":"1","signature":"x"}`,
	`{"withdrawal_id":`, `[1,2]`, `{}`, ``, `{"0":"x","1":"y"}`, `{"a":-0.0,"b":1e400,"c":9223372036854775808}`,
}

// fuzzClients covers both decode modes and both deposit coverages.
func fuzzClients(t testing.TB) []*Client {
	var cs []*Client
	for _, assoc := range []bool{false, true} {
		for _, dep := range []string{"", CoverBody} {
			c, err := New(Config{BaseURL: "http://127.0.0.1:1", Secret: "s", AccessKey: "ak", PrivateAccessKey: "pak",
				DecodeAssoc: assoc, DepositCoverage: dep})
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
	}
	return cs
}

// checkAccepted re-derives everything an accepted postback must satisfy
// from the exported pieces: it decodes, has a string signature equal
// (ignoring case) to PostbackSignature of CoveredData, and the parsed
// outcome (reference, status, amount, reason) is the one the covered data
// alone gives — nothing the signature does not cover may change it.
func checkAccepted(t *testing.T, c *Client, body []byte, cb bridge.Callback) {
	t.Helper()
	v, err := JSONDecode(body, c.cfg.DecodeAssoc)
	if err != nil {
		t.Fatalf("accepted an undecodable body: %v", err)
	}
	obj, ok := v.(*Array)
	if !ok || obj.isList() {
		t.Fatal("accepted a non-object")
	}
	sv, _ := obj.Get(c.cfg.SignatureField)
	sig, _ := sv.(string)
	covered, err := c.CoveredData(obj)
	if err != nil {
		t.Fatalf("accepted without covered data: %v", err)
	}
	want, err := PostbackSignature(c.cfg.AccessKey, c.cfg.PrivateAccessKey, covered)
	if err != nil || !equalHex(sig, want) {
		t.Fatalf("accepted signature %q, want %q (%v)", sig, want, err)
	}
	if cb.Reference == "" || !bytes.Equal(cb.Reply, okReply) {
		t.Fatalf("accepted callback %+v", cb)
	}
	// The outcome from the covered data only.
	field := c.cfg.DepositCoverage
	if _, ok := obj.Get("withdrawal_id"); ok {
		field = c.cfg.WithdrawalCoverage
	}
	var canon any = covered
	if field != CoverBody {
		canon = NewObject().Set(field, covered)
	}
	cbody, err := JSONEncode(canon)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := c.parsePostback(cbody)
	if err != nil {
		t.Fatalf("covered data alone %s does not parse (%v), yet body was accepted as %+v", cbody, err, cb)
	}
	ref := pb.reference("")
	res := pb.result(c, ref)
	if ref != cb.Reference || res.Status != cb.Result.Status || res.RawStatus != cb.Result.RawStatus ||
		res.Reason != cb.Result.Reason || !sameMoney(res.Amount, cb.Result.Amount) {
		t.Fatalf("outcome not determined by the signed data:\n body %s\n accepted as %q %+v\n covered %s gives %q %+v",
			body, cb.Reference, cb.Result, cbody, ref, res)
	}
}

func sameMoney(a, b *bridge.Money) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Currency == b.Currency && a.Amount.Cmp(b.Amount) == 0
}

// leaves collects the scalar positions under v (container, key).
type leaf struct {
	a *Array
	k any
}

func leaves(v any, out *[]leaf) {
	a, ok := v.(*Array)
	if !ok {
		return
	}
	for i, k := range a.keys {
		if sub, ok := a.vals[i].(*Array); ok {
			leaves(sub, out)
			continue
		}
		*out = append(*out, leaf{a, k})
	}
}

func mutateScalar(v any) any {
	switch x := v.(type) {
	case nil:
		return "x"
	case bool:
		return !x
	case int64:
		return x + 1
	case float64:
		if x == 0 {
			return 1.5
		}
		return -x
	case string:
		return x + "x"
	}
	return "x"
}

// FuzzParsePostback drives Client.ParseCallback (the postback handler's
// parse + verify) under both decode modes and both deposit coverages:
//   - random bodies: no panic, failures wrap bridge.ErrBadCallback, and
//     anything accepted passes checkAccepted;
//   - sign-then-verify: the body re-signed with PostbackSignature of its
//     covered data is accepted exactly when it parses (withdrawal_id +
//     status, or transactions with a custom_id), and passes checkAccepted;
//   - any change of one covered scalar (or an added covered element)
//     changes the signature and is rejected;
//   - a flipped byte of the signed body is only ever accepted when it
//     passes checkAccepted (uncovered fields, hex case).
func FuzzParsePostback(f *testing.F) {
	for i, s := range fuzzPostbackSeeds {
		f.Add([]byte(s), uint16(i*37))
	}
	clients := fuzzClients(f)
	f.Fuzz(func(t *testing.T, body []byte, pos uint16) {
		for _, c := range clients {
			fuzzPostbackOne(t, c, body, pos)
		}
	})
}

func fuzzPostbackOne(t *testing.T, c *Client, body []byte, pos uint16) {
	cb, err := c.ParseCallback(nil, body)
	if err != nil {
		if !errors.Is(err, bridge.ErrBadCallback) {
			t.Fatalf("error does not wrap ErrBadCallback: %v", err)
		}
	} else {
		checkAccepted(t, c, body, cb)
	}

	// Re-sign: decode, encode, decode again (PHP encode∘decode is stable
	// after one round), sign the covered data, encode.
	v, err := JSONDecode(body, c.cfg.DecodeAssoc)
	if err != nil {
		return
	}
	obj, ok := v.(*Array)
	if !ok {
		return
	}
	obj.Set(c.cfg.SignatureField, "")
	b2, err := JSONEncode(obj)
	if err != nil {
		return
	}
	v2, err := JSONDecode(b2, c.cfg.DecodeAssoc)
	if err != nil {
		t.Fatalf("JSONDecode of JSONEncode output %s: %v", b2, err)
	}
	obj2 := v2.(*Array)
	covered, err := c.CoveredData(obj2)
	if err != nil {
		if _, err := c.ParseCallback(nil, b2); err == nil {
			t.Fatal("accepted without covered data")
		}
		return
	}
	sig, err := PostbackSignature(c.cfg.AccessKey, c.cfg.PrivateAccessKey, covered)
	if err != nil {
		return
	}
	obj2.Set(c.cfg.SignatureField, sig)
	b3, err := JSONEncode(obj2)
	if err != nil {
		t.Fatal(err)
	}
	// Only the signed part is parsed: fields outside it cannot make a
	// genuine postback fail or change its outcome.
	vb, err := c.verifiedBody(obj2, covered)
	if err != nil {
		t.Fatal(err)
	}
	pb, perr := c.parsePostback(vb)
	wantOK := perr == nil && pb.reference("") != ""
	cb, err = c.ParseCallback(nil, b3)
	if (err == nil) != wantOK {
		t.Fatalf("signed postback %s: accepted=%v (%v), want %v (%v)", b3, err == nil, err, wantOK, perr)
	}
	if err == nil {
		checkAccepted(t, c, b3, cb)
	}

	// Mutate one covered scalar (or add a covered element).
	field := c.cfg.DepositCoverage
	if _, ok := obj2.Get("withdrawal_id"); ok {
		field = c.cfg.WithdrawalCoverage
	}
	var root any = obj2
	if field != CoverBody {
		root, _ = obj2.Get(field)
	}
	var ls []leaf
	leaves(root, &ls)
	if field == CoverBody {
		kept := ls[:0]
		for _, l := range ls {
			if !(l.a == obj2 && l.k == obj2.normKey(c.cfg.SignatureField)) {
				kept = append(kept, l)
			}
		}
		ls = kept
	}
	m := obj2.Clone()
	switch {
	case len(ls) > 0:
		l := ls[int(pos)%len(ls)]
		old, _ := l.a.Get(l.k)
		l.a.Set(l.k, mutateScalar(old))
		m = obj2
	case field != CoverBody:
		if r, ok := root.(*Array); ok {
			r.Append("mut")
		} else {
			obj2.Set(field, mutateScalar(root))
		}
		m = obj2
	default:
		m.Append("mut")
	}
	b4, err := JSONEncode(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ParseCallback(nil, b4); err == nil {
		t.Fatalf("accepted a postback with a changed covered field:\n signed  %s\n changed %s", b3, b4)
	}

	// Flip one byte of the signed body.
	if len(b3) == 0 {
		return
	}
	b5 := append([]byte(nil), b3...)
	b5[int(pos)%len(b5)] ^= 1 << (pos % 8)
	if cb, err := c.ParseCallback(nil, b5); err == nil {
		checkAccepted(t, c, b5, cb)
	}
}

// FuzzPHPJSON checks JSONDecode and JSONEncode on arbitrary bytes (both
// decode modes): no panic; JSONDecode accepts exactly what encoding/json
// considers valid; JSONEncode is deterministic and, whenever it succeeds,
// writes valid UTF-8 JSON that encoding/json reads back with the same
// shape; decode∘encode is stable after one round; KSort and Implode do not
// panic and are deterministic.
func FuzzPHPJSON(f *testing.F) {
	for _, s := range append(fuzzPostbackSeeds,
		`{"u":"a\/b","n":"\u03a9"}`, `[1.0, 300.00, 1e2, 0.5, -0.0]`, `[9223372036854775808]`,
		`{"z":1,"a":{"y":2,"b":3}}`, `{"a":{}}`, `{"a":1,"b":2,"a":3}`, `{"x":"\u2028\u2029\u0000\ud800"}`,
		`[0.1, 1e-5, 1.5e-7, 1e16, 1e17, 1e25, 4610062.05, 74.54470339]`, `{"b":1,"a":2,"10":3,"9":4,"B":6," 1":7,"1e1":8}`) {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, assoc bool) {
		v, err := JSONDecode(data, assoc)
		if (err == nil) != json.Valid(data) {
			t.Fatalf("JSONDecode err=%v, json.Valid=%v", err, json.Valid(data))
		}
		if err != nil {
			return
		}
		e1, err := JSONEncode(v)
		e1b, errb := JSONEncode(v)
		if !bytes.Equal(e1, e1b) || (err == nil) != (errb == nil) {
			t.Fatalf("JSONEncode not deterministic: %s vs %s", e1, e1b)
		}
		if err != nil {
			if !errors.Is(err, ErrPHP) {
				t.Fatalf("error does not wrap ErrPHP: %v", err)
			}
			return
		}
		checkEncoded(t, e1)
		v2, err := JSONDecode(e1, assoc)
		if err != nil {
			t.Fatalf("JSONDecode(JSONEncode) %s: %v", e1, err)
		}
		e2, err := JSONEncode(v2)
		if err != nil {
			t.Fatalf("re-encode %s: %v", e1, err)
		}
		v3, _ := JSONDecode(e2, assoc)
		e3, err := JSONEncode(v3)
		if err != nil || !bytes.Equal(e2, e3) {
			t.Fatalf("encode∘decode not stable: %s -> %s -> %s (%v)", e1, e2, e3, err)
		}
		if a, ok := v.(*Array); ok {
			for _, sortNested := range []bool{false, true} {
				s1, err1 := Implode(":", a, sortNested)
				s2, err2 := Implode(":", a, sortNested)
				if s1 != s2 || (err1 == nil) != (err2 == nil) {
					t.Fatal("Implode not deterministic")
				}
			}
			k1, k2 := a.Clone(), a.Clone()
			k1.KSort()
			k2.KSort()
			j1, _ := JSONEncode(k1)
			j2, _ := JSONEncode(k2)
			if !bytes.Equal(j1, j2) || k1.Len() != a.Len() {
				t.Fatalf("KSort not deterministic: %s vs %s", j1, j2)
			}
			checkIndex(t, k1)
		}
	})
}

func checkEncoded(t *testing.T, out []byte) {
	t.Helper()
	if !json.Valid(out) || !utf8.Valid(out) {
		t.Fatalf("JSONEncode wrote invalid JSON %q", out)
	}
}

// checkIndex checks that Get finds every key at its position.
func checkIndex(t *testing.T, a *Array) {
	t.Helper()
	if len(a.index) != len(a.keys) || len(a.vals) != len(a.keys) {
		t.Fatalf("index size %d, keys %d, vals %d", len(a.index), len(a.keys), len(a.vals))
	}
	for i, k := range a.keys {
		if j, ok := a.index[k]; !ok || j != i {
			t.Fatalf("key %#v at %d indexed at %d", k, i, j)
		}
		if sub, ok := a.vals[i].(*Array); ok {
			checkIndex(t, sub)
		}
	}
}

// FuzzPHPEncode builds PHP values from a small op program (Set / Append /
// Delete / nested arrays and stdClasses with int, float and string
// values) and checks: no panic; the index stays consistent; JSONEncode is
// deterministic and its output valid JSON whose numbers read back as the
// same float64 (shortest round trip) or int64; strings round-trip through
// encoding/json; PHPString never fails on scalars; KSort and Implode do not
// panic.
func FuzzPHPEncode(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7}, 0.1+0.2, "Иван €/\u2028", int64(-42))
	f.Add([]byte{1, 1, 1, 9, 3, 0}, 1e17, "a\"b\\c\b\f\n\r\t\x00\x1f\x7f", int64(math.MaxInt64))
	f.Add([]byte{2, 8, 4, 4, 5}, 1.5e-7, "07", int64(7))
	f.Add([]byte{6, 6, 0, 2, 1}, math.Copysign(0, -1), "-3", int64(math.MinInt64))
	f.Add([]byte{3, 3, 3}, 4610062.05, "\xff", int64(0))
	f.Add([]byte{0}, math.Inf(1), "", int64(1))
	f.Fuzz(func(t *testing.T, ops []byte, fl float64, s string, n int64) {
		if len(ops) > 256 {
			ops = ops[:256]
		}
		root := NewArray()
		stack := []*Array{root}
		keys := []any{n, s, int64(0), "0", "-0", "x", fl}
		vals := []any{n, fl, s, nil, true, false, int(n)}
		for i, op := range ops {
			cur := stack[len(stack)-1]
			k := keys[(int(op)>>3)%len(keys)]
			if kf, ok := k.(float64); ok {
				k = strconv.FormatFloat(kf, 'g', -1, 64)
			}
			switch op % 8 {
			case 0, 1:
				cur.Set(k, vals[(int(op)>>3+i)%len(vals)])
			case 2:
				cur.Append(vals[i%len(vals)])
			case 3:
				cur.Delete(k)
			case 4, 5:
				sub := NewArray()
				if op%8 == 5 {
					sub = NewObject()
				}
				cur.Set(k, sub)
				if len(stack) < 20 {
					stack = append(stack, sub)
				}
			case 6:
				if len(stack) > 1 {
					stack = stack[:len(stack)-1]
				}
			case 7:
				cur.KSort()
			}
			checkIndex(t, root)
		}
		for _, sc := range []any{fl, s, n, nil, true} {
			if _, err := PHPString(sc); err != nil {
				t.Fatalf("PHPString(%#v): %v", sc, err)
			}
		}
		out, err := JSONEncode(root)
		out2, err2 := JSONEncode(root)
		if !bytes.Equal(out, out2) || (err == nil) != (err2 == nil) {
			t.Fatal("JSONEncode not deterministic")
		}
		if _, err := Implode(":", root, true); err != nil {
			t.Fatalf("Implode: %v", err)
		}
		// Scalars on their own.
		if fe, err := JSONEncode(fl); err == nil {
			checkEncoded(t, fe)
			got, perr := strconv.ParseFloat(string(fe), 64)
			if perr != nil || got != fl || math.Signbit(got) != math.Signbit(fl) {
				t.Fatalf("float %v encoded %s reads back %v (%v)", fl, fe, got, perr)
			}
		} else if !math.IsNaN(fl) && !math.IsInf(fl, 0) {
			t.Fatalf("finite float %v refused: %v", fl, err)
		}
		if se, err := JSONEncode(s); err == nil {
			checkEncoded(t, se)
			var back string
			if err := json.Unmarshal(se, &back); err != nil || back != s {
				t.Fatalf("string %q encoded %s reads back %q (%v)", s, se, back, err)
			}
		} else if utf8.ValidString(s) {
			t.Fatalf("valid string %q refused: %v", s, err)
		}
		if err != nil {
			return
		}
		checkEncoded(t, out)
		back, err := JSONDecode(out, false)
		if err != nil {
			t.Fatalf("own output %s does not decode: %v", out, err)
		}
		again, err := JSONEncode(back)
		if err != nil {
			t.Fatalf("re-encode of %s: %v", out, err)
		}
		checkEncoded(t, again)
	})
}
