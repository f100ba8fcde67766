package highhelp

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"
)

// goldenBody exercises nested objects, an array of objects, null, booleans,
// unicode, a value containing the ";" and ":" separators, a negative
// number, a URL with a query, and empty containers (no line).
const goldenBody = `{"general":{"project_id":"p1","payment_id":"ref-1","merchant_callback_url":"https://m.example/cb?a=1&b=2"},"payment":{"amount":150000,"currency":"RUB","lifetime":null,"flags":[true,false]},"customer":{"name":"Иван Ü;x:y"},"items":[{"b":2,"a":"x"},{"c":null}],"neg":-5,"empty":{},"none":[]}`

const goldenTS = "1706182847"

// The expected values below were computed outside Go: an independent
// Python flattener (json.loads, sorted keys, "." paths, None, 1/0 or
// true/false, sorted lines joined by ";"), base64.urlsafe_b64encode with
// "=" stripped, hmac.new(b"hh-secret", msg, sha512), and
// `openssl dgst -sha256 -sign testdata/kassa_test_key.pem` (PKCS#1 v1.5),
// each base64url without padding.
var goldens = []struct {
	name string
	mode BoolMode
	norm string
	hmac string
	rsa  string
}{
	{
		name: "bools as digits (docs)",
		mode: BoolDigits,
		norm: "customer.name:Иван Ü;x:y;general.merchant_callback_url:https://m.example/cb?a=1&b=2;general.payment_id:ref-1;general.project_id:p1;items.0.a:x;items.0.b:2;items.1.c:None;neg:-5;payment.amount:150000;payment.currency:RUB;payment.flags.0:1;payment.flags.1:0;payment.lifetime:None",
		hmac: "4lQTvopJeCC4i1Wuhfx-R-SjV-TV6sH98SrTkou_SH1M4UQ90ot0DZ2mZqnFqvYpx49jmoSwx88UMLRtoylgqw",
		rsa:  "PG9Et6lZ-0JKwPP2hijeNp0Z5iEaMfO9U63fmaDeUgf-NPZgw8rE32pS3dWJVqhZgHyF_KXldJ4zjR0-tbMHEWTaf1d_BnyNnZRw7eFYvkZJo_aeMkJXLl7B5vb8zKewieBEFeExSDK5S42TUpONz4zT_aHtkD7Wclyns-B7maet1iOiH3W3squKvPME6yUPlmzrp2ioTUaGPRuT8hnT9Z_M4C08Wo3EpiQxdQgFByQkK1v-FmgTbDAZAGdLib3_SnVguxGp14CJ1Z8mM_ZMKB1t89zWnHHUX_QXGaV41bgWlKXrXZEA3i7wwOcqtPM7lxfG0vxHalCVgOugdtyFeQ",
	},
	{
		name: "bools as words (public client)",
		mode: BoolWords,
		norm: "customer.name:Иван Ü;x:y;general.merchant_callback_url:https://m.example/cb?a=1&b=2;general.payment_id:ref-1;general.project_id:p1;items.0.a:x;items.0.b:2;items.1.c:None;neg:-5;payment.amount:150000;payment.currency:RUB;payment.flags.0:true;payment.flags.1:false;payment.lifetime:None",
		hmac: "KixWeiZFe9xkrg1IE9SUmj3mxtVT03ozJw7SwXwv55f7QJhOqiE243mDbA6XDe_TEmP3EpwOe0VWOpFThhiweA",
		rsa:  "kKglthWDAqCtdMOTJ1JxTKarDUX16BNnw7YFPWHYjWhZU6FgMEjdbSCvxB-OsRCWEcjKTjbVxt3Xi_8weOOzqC8NXbCClSriEVD7LBole-xhrtEbxfVcirq0_dKWPAsvfOngK2x9sFrgcdfB1NbTo8EDZeomBjXbHWYL8niczURJhdvoT8MprqLZM7xdHWyrt84VuLoNtaIlqoFHnHtXTIYCDGqloIQeTNVRw3eXD1VZqFa-kW59sdRCPMrrIEp2T_ug4w0rPfAKte_0CsniI4G9T74XyyB9XoN6arVNPK-7SVKHmbVFO2yCsU7gJmWbFBCsuNO17RTe60SqVFPsjg",
	},
}

func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile("testdata/kassa_test_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatal("no PEM block")
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNormalizeGoldenVectors(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			got, err := Normalize([]byte(goldenBody), g.mode)
			if err != nil {
				t.Fatal(err)
			}
			if got != g.norm {
				t.Fatalf("Normalize:\n got %q\nwant %q", got, g.norm)
			}
		})
	}
}

func TestNormalizeTable(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"keys sorted at every level", `{"b":{"z":1,"a":2},"a":"x"}`, "a:x;b.a:2;b.z:1"},
		{"lines sorted bytewise, not by path depth", `{"a":{"b":1},"a_":2}`, "a.b:1;a_:2"},
		{"array of arrays", `{"m":[[1,2],[3]]}`, "m.0.0:1;m.0.1:2;m.1.0:3"},
		{"top-level array", `[{"a":1},2]`, "0.a:1;1:2"},
		{"numbers as written", `{"i":10,"big":123456789012345678901234567890,"f":1.50}`, "big:123456789012345678901234567890;f:1.50;i:10"},
		{"escaped unicode decoded", `{"s":"\u0416\u00e9 \"q\""}`, `s:Жé "q"`},
		{"empty string", `{"s":""}`, "s:"},
		{"only empty containers", `{"a":{},"b":[]}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Normalize([]byte(tc.body), BoolDigits)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %q want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{``, `{`, `"str"`, `42`, `{"a":1} {"b":2}`, `null`} {
		if _, err := Normalize([]byte(bad), BoolDigits); err == nil {
			t.Errorf("Normalize(%q) accepted", bad)
		}
	}
}

func TestSignatureGoldenVectors(t *testing.T) {
	key := testKey(t)
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			s := Scheme{Bools: g.mode}
			got, err := s.SignBody(HMACKey([]byte("hh-secret")), []byte(goldenBody), goldenTS)
			if err != nil {
				t.Fatal(err)
			}
			if got != g.hmac {
				t.Errorf("HMAC-SHA512 = %s\nwant %s", got, g.hmac)
			}
			got, err = s.SignBody(RSAKey(key), []byte(goldenBody), goldenTS)
			if err != nil {
				t.Fatal(err)
			}
			if got != g.rsa {
				t.Errorf("RSA-SHA256 = %s\nwant %s", got, g.rsa)
			}
			if err := s.VerifyBody(RSAPublicKey(&key.PublicKey), []byte(goldenBody), goldenTS, g.rsa); err != nil {
				t.Errorf("verify golden RSA: %v", err)
			}
			if err := s.VerifyBody(HMACKey([]byte("hh-secret")), []byte(goldenBody), goldenTS, g.hmac); err != nil {
				t.Errorf("verify golden HMAC: %v", err)
			}
			// Any change of body, timestamp or key fails.
			if s.VerifyBody(RSAPublicKey(&key.PublicKey), []byte(goldenBody), "1706182848", g.rsa) == nil {
				t.Error("RSA signature verified with another timestamp")
			}
			other := strings.Replace(goldenBody, "150000", "150001", 1)
			if s.VerifyBody(HMACKey([]byte("hh-secret")), []byte(other), goldenTS, g.hmac) == nil {
				t.Error("HMAC verified another body")
			}
			if s.VerifyBody(HMACKey([]byte("hh-secret2")), []byte(goldenBody), goldenTS, g.hmac) == nil {
				t.Error("HMAC verified with another key")
			}
		})
	}
}

func TestSignatureEncodingsAndPadding(t *testing.T) {
	msg := []byte("abc")
	k := HMACKey([]byte("k"))
	for _, enc := range []Encoding{Base64URL, Base64Std, Hex} {
		s := Scheme{Encoding: enc}
		sig, err := s.Sign(k, msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(k, msg, sig); err != nil {
			t.Errorf("encoding %d: %v", enc, err)
		}
	}
	// Padding changes the signed string: "a:1" → base64url "YTox" (no
	// padding either way); "a:12" → "YToxMg" vs "YToxMg==".
	p, _ := Scheme{PadBody: true}.SigningString([]byte(`{"a":12}`), "7")
	u, _ := Scheme{}.SigningString([]byte(`{"a":12}`), "7")
	if string(p) != "YToxMg==7" || string(u) != "YToxMg7" {
		t.Fatalf("padded %q unpadded %q", p, u)
	}
}

func TestTokenIsBase64URLOfSPKI(t *testing.T) {
	key := testKey(t)
	tok, err := RSAKey(key).Token()
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if len(tok) == 0 || strings.ContainsAny(tok, "+/=") || len(tok) != (len(der)*8+5)/6 {
		t.Fatalf("token %q", tok)
	}
}

// A small body whose normalized form is quadratic in its size is refused
// quickly instead of exhausting memory before the signature is checked.
func TestNormalizeRefusesQuadraticBodies(t *testing.T) {
	t.Parallel()
	const k = 200_000
	wide := []byte(`{"` + strings.Repeat("k", k) + `":[` + strings.TrimSuffix(strings.Repeat("1,", k/2), ",") + `]}`)
	deep := []byte(strings.Repeat("[", 9000) + "1" + strings.Repeat("]", 9000))
	for name, body := range map[string][]byte{"wide": wide, "deep": deep} {
		start := time.Now()
		_, err := Normalize(body, BoolDigits)
		if err == nil || !strings.Contains(err.Error(), "too large") {
			t.Errorf("%s: %v, want a size error", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
	// An ordinary callback still normalizes.
	if _, err := Normalize([]byte(`{"payment_id":"p1","status":"success","amount":100,"meta":{"a":[1,2,3]}}`), BoolDigits); err != nil {
		t.Fatal(err)
	}
}
