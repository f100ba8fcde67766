package paykassma

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PHP values in this package are nil (null), bool, int64, float64, string
// and *Array. The two PHP functions the Paykassma signatures depend on —
// json_encode(…, JSON_UNESCAPED_SLASHES|JSON_UNESCAPED_UNICODE) and the
// spec's multiImplode after ksort — are JSONEncode and Implode.

// Array is a PHP array: an ordered map whose keys are int64 or string.
// As in PHP, canonical decimal string keys ("7", "-3", not "07") become
// int keys. An Array made by NewObject is a stdClass instead: keys stay
// strings and it always encodes as a JSON object.
type Array struct {
	keys   []any
	vals   []any
	index  map[any]int
	object bool
	next   int64
}

// NewArray returns an empty PHP array.
func NewArray() *Array { return &Array{index: map[any]int{}} }

// NewObject returns an empty stdClass.
func NewObject() *Array { return &Array{index: map[any]int{}, object: true} }

// List returns a PHP list of vs.
func List(vs ...any) *Array {
	a := NewArray()
	for _, v := range vs {
		a.Append(v)
	}
	return a
}

// IsObject reports whether a is a stdClass.
func (a *Array) IsObject() bool { return a.object }

// Len is the number of elements.
func (a *Array) Len() int { return len(a.keys) }

// Keys returns the keys in order.
func (a *Array) Keys() []any { return append([]any(nil), a.keys...) }

// Value returns the i-th value.
func (a *Array) Value(i int) any { return a.vals[i] }

func (a *Array) normKey(k any) any {
	switch x := k.(type) {
	case int:
		return int64(x)
	case int64:
		return x
	case string:
		if !a.object {
			if n, ok := canonicalInt(x); ok {
				return n
			}
		}
		return x
	}
	return fmt.Sprint(k)
}

func canonicalInt(s string) (int64, bool) {
	if s == "" || s == "-0" || (len(s) > 1 && s[0] == '0') || (len(s) > 2 && s[0] == '-' && s[1] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && strconv.FormatInt(n, 10) == s
}

// Set sets a[k] = v (keeping k's position when it exists) and returns a.
// int values are stored as int64.
func (a *Array) Set(k, v any) *Array {
	k = a.normKey(k)
	if x, ok := v.(int); ok {
		v = int64(x)
	}
	if i, ok := a.index[k]; ok {
		a.vals[i] = v
		return a
	}
	a.index[k] = len(a.keys)
	a.keys = append(a.keys, k)
	a.vals = append(a.vals, v)
	if n, ok := k.(int64); ok && n >= a.next {
		a.next = n + 1
	}
	return a
}

// Append is $a[] = v.
func (a *Array) Append(v any) *Array { return a.Set(a.next, v) }

// Get returns a[k].
func (a *Array) Get(k any) (any, bool) {
	i, ok := a.index[a.normKey(k)]
	if !ok {
		return nil, false
	}
	return a.vals[i], true
}

// Delete is unset($a[k]).
func (a *Array) Delete(k any) {
	k = a.normKey(k)
	i, ok := a.index[k]
	if !ok {
		return
	}
	a.keys = append(a.keys[:i], a.keys[i+1:]...)
	a.vals = append(a.vals[:i], a.vals[i+1:]...)
	delete(a.index, k)
	for j := i; j < len(a.keys); j++ {
		a.index[a.keys[j]] = j
	}
}

// Clone copies a deeply.
func (a *Array) Clone() *Array {
	c := &Array{index: map[any]int{}, object: a.object}
	for i, k := range a.keys {
		v := a.vals[i]
		if sub, ok := v.(*Array); ok {
			v = sub.Clone()
		}
		c.Set(k, v)
	}
	c.next = a.next
	return c
}

// isList reports PHP's "packed list" shape: keys 0..n-1 in order.
func (a *Array) isList() bool {
	if a.object {
		return false
	}
	for i, k := range a.keys {
		if n, ok := k.(int64); !ok || n != int64(i) {
			return false
		}
	}
	return true
}

// KSort sorts a by key like PHP 8 ksort($a) (SORT_REGULAR; stable).
func (a *Array) KSort() {
	idx := make([]int, len(a.keys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return compareKeys(a.keys[idx[i]], a.keys[idx[j]]) < 0 })
	keys, vals := make([]any, len(idx)), make([]any, len(idx))
	for i, j := range idx {
		keys[i], vals[i] = a.keys[j], a.vals[j]
	}
	a.keys, a.vals = keys, vals
	for i, k := range a.keys {
		a.index[k] = i
	}
}

// compareKeys is PHP 8's SORT_REGULAR key comparison: ints numerically;
// two strings numerically when both are numeric strings, else bytewise;
// an int and a string numerically when the string is numeric, else the
// int's decimal form bytewise against the string.
func compareKeys(x, y any) int {
	xi, xInt := x.(int64)
	yi, yInt := y.(int64)
	switch {
	case xInt && yInt:
		return cmpOrdered(xi, yi)
	case !xInt && !yInt:
		xs, ys := x.(string), y.(string)
		xf, xn := numericString(xs)
		yf, yn := numericString(ys)
		if xn && yn {
			return cmpOrdered(xf, yf)
		}
		return strings.Compare(xs, ys)
	case xInt:
		if yf, ok := numericString(y.(string)); ok {
			return cmpOrdered(float64(xi), yf)
		}
		return strings.Compare(strconv.FormatInt(xi, 10), y.(string))
	default:
		if xf, ok := numericString(x.(string)); ok {
			return cmpOrdered(xf, float64(yi))
		}
		return strings.Compare(x.(string), strconv.FormatInt(yi, 10))
	}
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// numericString is PHP 8's is_numeric for strings: optional leading and
// trailing whitespace around a decimal integer or float literal.
func numericString(s string) (float64, bool) {
	t := strings.Trim(s, " \t\n\r\v\f")
	if t == "" || strings.ContainsAny(t, "xXpP_") || strings.ContainsAny(strings.ToLower(t), "infa") {
		return 0, false
	}
	f, err := strconv.ParseFloat(t, 64)
	return f, err == nil
}

// ErrPHP is wrapped by JSONEncode/JSONDecode failures.
var ErrPHP = errors.New("paykassma: php value")

// JSONEncode is PHP's json_encode($v, JSON_UNESCAPED_SLASHES |
// JSON_UNESCAPED_UNICODE) (PHP >= 7.1, serialize_precision = -1):
//   - "/" and non-ASCII UTF-8 are written raw; U+2028 and U+2029 are still
//     escaped (no JSON_UNESCAPED_LINE_TERMINATORS);
//   - `"` and `\` are backslash-escaped; \b \f \n \r \t use short forms;
//     other bytes < 0x20 become \u00XX with lowercase hex;
//   - floats use the shortest round-trip digits, without a forced ".0"
//     (1.0 → 1, no JSON_PRESERVE_ZERO_FRACTION), exponent form "1.0e+25"
//     when the decimal exponent is < -4 or >= 17+1 digits (PHP's
//     php_gcvt with precision 17 in mode 0);
//   - an array with keys 0..n-1 in order is a JSON list ([] when empty),
//     any other array an object; a stdClass is always an object.
//
// Invalid UTF-8 and NaN/Inf are errors, as in PHP.
func JSONEncode(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encodePHP(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodePHP(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%w: Inf and NaN cannot be JSON encoded", ErrPHP)
		}
		b.WriteString(phpGcvt(x, 17, true, 'e'))
	case string:
		return encodeString(b, x)
	case *Array:
		if x.isList() {
			b.WriteByte('[')
			for i, e := range x.vals {
				if i > 0 {
					b.WriteByte(',')
				}
				if err := encodePHP(b, e); err != nil {
					return err
				}
			}
			b.WriteByte(']')
			return nil
		}
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			ks, ok := k.(string)
			if !ok {
				ks = strconv.FormatInt(k.(int64), 10)
			}
			if err := encodeString(b, ks); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := encodePHP(b, x.vals[i]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("%w: unsupported type %T", ErrPHP, v)
	}
	return nil
}

func encodeString(b *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: malformed UTF-8", ErrPHP)
	}
	const hexd = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hexd[r>>4])
			b.WriteByte(hexd[r&0xf])
		case r == 0x2028:
			b.WriteString(`\u2028`)
		case r == 0x2029:
			b.WriteString(`\u2029`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return nil
}

// phpGcvt is PHP's php_gcvt/zend_gcvt: shortest round-trip digits when
// shortest (mode 0, ndigit 17), else ndigit significant digits; trailing
// zeros dropped; exponent form when the decimal point position is < -3 or
// > ndigit.
func phpGcvt(v float64, ndigit int, shortest bool, expChar byte) string {
	neg := math.Signbit(v)
	v = math.Abs(v)
	prec := -1
	if !shortest {
		prec = ndigit - 1
	}
	e := strconv.FormatFloat(v, 'e', prec, 64) // d.ddde±XX
	mant, exps, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(exps)
	digits := strings.TrimRight(strings.Replace(mant, ".", "", 1), "0")
	decpt := exp + 1
	if digits == "" {
		digits, decpt = "0", 1
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case (decpt < 0 && decpt < -3) || (decpt >= 0 && decpt > ndigit):
		b.WriteByte(digits[0])
		b.WriteByte('.')
		if len(digits) == 1 {
			b.WriteByte('0')
		} else {
			b.WriteString(digits[1:])
		}
		b.WriteByte(expChar)
		x := decpt - 1
		if x < 0 {
			b.WriteByte('-')
			x = -x
		} else {
			b.WriteByte('+')
		}
		b.WriteString(strconv.Itoa(x))
	case decpt <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -decpt))
		b.WriteString(digits)
	default:
		if len(digits) <= decpt {
			b.WriteString(digits)
			b.WriteString(strings.Repeat("0", decpt-len(digits)))
		} else {
			b.WriteString(digits[:decpt])
			b.WriteByte('.')
			b.WriteString(digits[decpt:])
		}
	}
	return b.String()
}

// PHPString is PHP 8's string conversion ((string)$v, as implode uses):
// true → "1", false and null → "", ints in decimal, floats with
// precision = 14 and an upper-case exponent (0.1+0.2 → "0.3",
// 1e15 → "1.0E+15"), INF/-INF/NAN spelled so.
func PHPString(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case bool:
		if x {
			return "1", nil
		}
		return "", nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		switch {
		case math.IsNaN(x):
			return "NAN", nil
		case math.IsInf(x, 1):
			return "INF", nil
		case math.IsInf(x, -1):
			return "-INF", nil
		}
		return phpGcvt(x, 14, false, 'E'), nil
	case string:
		return x, nil
	}
	return "", fmt.Errorf("%w: cannot convert %T to string", ErrPHP, v)
}

// Implode is the spec's multiImplode($glue, $array): values in array order
// converted with PHPString, nested arrays imploded recursively. With
// sortNested, nested arrays are ksorted first (the spec's PHP sorts only
// the top level, which the caller does).
func Implode(glue string, a *Array, sortNested bool) (string, error) {
	parts := make([]string, 0, a.Len())
	for _, v := range a.vals {
		if sub, ok := v.(*Array); ok {
			if sortNested {
				sub = sub.Clone()
				sub.KSort()
			}
			s, err := Implode(glue, sub, sortNested)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
			continue
		}
		s, err := PHPString(v)
		if err != nil {
			return "", err
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, glue), nil
}

// JSONDecode is PHP's json_decode($data, $assoc): objects become *Array
// (stdClass-like NewObject when !assoc; with assoc numeric keys become
// ints), integers that fit int64 become int64, other numbers float64.
// Duplicate keys keep the last value at the first position, as PHP does.
func JSONDecode(data []byte, assoc bool) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, assoc)
	if err != nil {
		return nil, fmt.Errorf("%w: json_decode: %w", ErrPHP, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: json_decode: trailing data", ErrPHP)
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, assoc bool) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			a := NewObject()
			if assoc {
				a = NewArray()
			}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				v, err := decodeValue(dec, assoc)
				if err != nil {
					return nil, err
				}
				a.Set(k, v)
			}
			_, err := dec.Token()
			return a, err
		case '[':
			a := NewArray()
			for dec.More() {
				v, err := decodeValue(dec, assoc)
				if err != nil {
					return nil, err
				}
				a.Append(v)
			}
			_, err := dec.Token()
			return a, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		s := t.String()
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, err
		}
		return f, nil
	default:
		return t, nil // nil, bool, string
	}
}
