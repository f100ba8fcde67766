package paykassma

import (
	"math"
	"strings"
	"testing"
)

// Expected outputs follow PHP >= 7.1 behaviour (serialize_precision=-1,
// precision=14) as implemented in php-src ext/json/json_encoder.c
// (php_json_escape_string, php_json_encode_double → php_gcvt with 17
// digits in mode 0) and main/snprintf.c; each row names the rule.
func TestJSONEncodeLikePHP(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"null", nil, `null`},
		{"true", true, `true`},
		{"int", int64(-42), `-42`},
		{"float with zero fraction loses it (no PRESERVE_ZERO_FRACTION)", 1.0, `1`},
		{"300.00 from the wire", 300.0, `300`},
		{"0.1+0.2 shortest round trip", sum(0.1, 0.2), `0.30000000000000004`},
		{"0.1", 0.1, `0.1`},
		{"small stays positional down to 1e-4", 0.0001, `0.0001`},
		{"1e-5 switches to exponent", 0.00001, `1.0e-5`},
		{"1.5e-7", 1.5e-7, `1.5e-7`},
		{"1e17 positional (decpt 18 > 17? no: 1e16 has decpt 17)", 1e16, `10000000000000000`},
		{"1e17 exponent", 1e17, `1.0e+17`},
		{"1.0e+25", 1e25, `1.0e+25`},
		{"negative zero", math.Copysign(0, -1), `-0`},
		{"stockpiling value", 4610062.05, `4610062.05`},
		{"crypto value", 74.54470339, `74.54470339`},
		{"slashes unescaped", "https://x/y", `"https://x/y"`},
		{"unicode unescaped", "Иван €", `"Иван €"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"short control escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"other controls lowercase hex", "\x00\x1f\x0b", `"\u0000\u001f\u000b"`},
		{"DEL raw", "\x7f", "\"\x7f\""},
		{"line terminators still escaped", "a\u2028b\u2029", `"a\u2028b\u2029"`},
		{"empty array is []", NewArray(), `[]`},
		{"empty stdClass is {}", NewObject(), `{}`},
		{"list", List(int64(1), "a", nil), `[1,"a",null]`},
		{"non-sequential keys make an object", NewArray().Set(1, "a").Set(0, "b"), `{"1":"a","0":"b"}`},
		{"gap makes an object", NewArray().Set(0, "a").Set(2, "b"), `{"0":"a","2":"b"}`},
		{"numeric string key becomes int (list)", NewArray().Set("0", "a"), `["a"]`},
		{"stdClass keeps numeric keys as object", NewObject().Set("0", "a"), `{"0":"a"}`},
		{"nested keeps insertion order", NewArray().Set("b", NewArray().Set("z", int64(1)).Set("a", false)).Set("a", List()), `{"b":{"z":1,"a":false},"a":[]}`},
	} {
		got, err := JSONEncode(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%s: got %s want %s", tc.name, got, tc.want)
		}
	}
	for name, bad := range map[string]any{"NaN": math.NaN(), "Inf": math.Inf(1), "bad UTF-8": "\xff", "unsupported": struct{}{}} {
		if _, err := JSONEncode(bad); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestJSONDecodeThenEncodeLikePHP(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		assoc bool
		want  string
	}{
		{"escaped slashes and unicode come out raw", `{"u":"a\/b","n":"\u03a9"}`, false, `{"u":"a/b","n":"Ω"}`},
		{"floats normalized", `[1.0, 300.00, 1e2, 0.5, -0.0]`, false, `[1,300,100,0.5,-0]`},
		{"int overflow becomes float", `[9223372036854775808]`, false, `[9.223372036854776e+18]`},
		{"object order kept", `{"z":1,"a":{"y":2,"b":3}}`, false, `{"z":1,"a":{"y":2,"b":3}}`},
		{"empty object stays {} without assoc", `{"a":{}}`, false, `{"a":{}}`},
		{"empty object becomes [] with assoc", `{"a":{}}`, true, `{"a":[]}`},
		{"sequential numeric keys become a list with assoc", `{"0":"x","1":"y"}`, true, `["x","y"]`},
		{"duplicate key: last value, first position", `{"a":1,"b":2,"a":3}`, false, `{"a":3,"b":2}`},
	} {
		v, err := JSONDecode([]byte(tc.in), tc.assoc)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got, err := JSONEncode(v)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %s (%v) want %s", tc.name, got, err, tc.want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":1}x`, `[1,]`} {
		if _, err := JSONDecode([]byte(bad), false); err == nil {
			t.Errorf("JSONDecode(%q) accepted", bad)
		}
	}
}

// PHP 8 string conversion and implode: true→"1", false/null→"", floats
// with precision=14 and "E" (php -r 'echo implode(":", [...]);').
func TestPHPStringAndImplode(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{true, "1"}, {false, ""}, {nil, ""}, {int64(-7), "-7"}, {"s", "s"},
		{1.0, "1"}, {sum(0.1, 0.2), "0.3"}, {1.5, "1.5"}, {1e14, "1.0E+14"}, {1e13, "10000000000000"},
		{0.00001, "1.0E-5"}, {123456789.12345678, "123456789.12346"}, {-0.5, "-0.5"},
		{math.Inf(1), "INF"}, {math.NaN(), "NAN"},
	} {
		got, err := PHPString(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("PHPString(%#v) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	a := NewArray().Set("b", true).Set("a", nil).Set("c", NewArray().Set("y", false).Set("x", List(int64(1), int64(2)))).Set("d", 2.50)
	got, err := Implode(":", a, false)
	if err != nil || got != "1:::1:2:2.5" {
		t.Fatalf("implode %q %v", got, err)
	}
	got, _ = Implode(":", a, true) // nested ksorted: x before y
	if got != "1::1:2::2.5" {
		t.Fatalf("implode sorted %q", got)
	}
}

func TestKSortLikePHP8(t *testing.T) {
	a := NewArray().Set("b", 1).Set("a", 2).Set(10, 3).Set(9, 4).Set("B", 6)
	a.KSort()
	var keys []string
	for _, k := range a.Keys() {
		s, _ := PHPString(k)
		keys = append(keys, s)
	}
	// ints numerically (9 < 10); an int against a non-numeric string as
	// strings ("10" < "B"); upper case before lower.
	if got := strings.Join(keys, ","); got != "9,10,B,a,b" {
		t.Fatalf("ksort order %s", got)
	}
}

// sum defeats constant folding (0.1 + 0.2 is exactly 0.3 as a Go constant).
func sum(a, b float64) float64 { return a + b }
