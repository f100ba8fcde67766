package highhelp

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// BoolMode says how booleans are written in the normalized body.
type BoolMode int

// Boolean renderings. The HighHelp docs say 1/0; the public TypeScript
// client writes true/false. Which one the server wants is unknown.
const (
	BoolDigits BoolMode = iota // true → "1", false → "0" (docs; default)
	BoolWords                  // true → "true", false → "false" (public client)
)

// Algorithm is a signature algorithm.
type Algorithm string

// Algorithms.
const (
	RSASHA256  Algorithm = "RSA-SHA256"  // PKCS#1 v1.5 over SHA-256, the kassa's RSA key (default)
	HMACSHA512 Algorithm = "HMAC-SHA512" // HMAC-SHA512 with a shared key
)

// Encoding is how signature bytes are written into x-access-signature.
// Not stated by the docs: base64url without padding matches how the docs
// write the access token (base64url) and what a Node client produces.
type Encoding int

// Signature encodings.
const (
	Base64URL Encoding = iota // RFC 4648 §5 alphabet, no padding (default)
	Base64Std                 // RFC 4648 §4 alphabet, padded
	Hex                       // lowercase hex
)

// PathSeparator joins keys and array indexes in normalized paths
// (`general.project_id`, `items.0.name`), as in the public client.
const PathSeparator = "."

// Scheme is the canonical form shared by request and callback signatures:
// how the body is normalized and how the resulting bytes are written.
// The zero value is the documented default.
type Scheme struct {
	Bools BoolMode
	// PadBody keeps "=" padding on base64url(normalized body). The docs
	// say base64url without more; Node's "base64url" drops padding.
	PadBody bool
	// Encoding of the signature bytes in x-access-signature.
	Encoding Encoding
}

// Normalize turns a JSON document into HighHelp's canonical string: every
// scalar becomes a `path:value` line (object keys and array indexes joined
// by PathSeparator), null becomes "None", booleans follow mode, numbers are
// written exactly as they appear in the JSON text (clients send integers),
// strings are written raw (decoded, unicode as UTF-8, no quoting); the lines
// are sorted bytewise and joined with ";". Empty objects and arrays produce
// no line. The top level must be an object or an array.
func Normalize(body []byte, mode BoolMode) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("highhelp: normalize: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", errors.New("highhelp: normalize: trailing data after JSON value")
	}
	switch v.(type) {
	case map[string]any, []any:
	default:
		return "", errors.New("highhelp: normalize: top level must be an object or an array")
	}
	// Every line repeats its whole path, so a small crafted body (long
	// keys over many elements, deep nesting) normalizes to a quadratic
	// size; this runs before the signature is checked, so it is bounded.
	f := flattener{mode: mode, budget: 8*len(body) + 64<<10}
	f.flatten("", v)
	if f.budget < 0 {
		return "", errors.New("highhelp: normalize: normalized form too large for the body size")
	}
	sort.Strings(f.lines)
	return strings.Join(f.lines, ";"), nil
}

type flattener struct {
	mode   BoolMode
	budget int // bytes of lines still allowed; negative: stop
	lines  []string
}

func (f *flattener) add(line string) {
	f.budget -= len(line) + 1
	if f.budget >= 0 {
		f.lines = append(f.lines, line)
	}
}

func (f *flattener) flatten(path string, v any) {
	f.budget -= len(path) // paths are built for containers too (deep nesting)
	if f.budget < 0 {
		return
	}
	mode := f.mode
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + PathSeparator + k
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if f.budget < 0 {
				return
			}
			f.flatten(join(k), e)
		}
	case []any:
		for i, e := range x {
			if f.budget < 0 {
				return
			}
			f.flatten(join(strconv.Itoa(i)), e)
		}
	case nil:
		f.add(path + ":None")
	case bool:
		s := "0"
		switch {
		case x && mode == BoolWords:
			s = "true"
		case !x && mode == BoolWords:
			s = "false"
		case x:
			s = "1"
		}
		f.add(path + ":" + s)
	case json.Number:
		f.add(path + ":" + x.String())
	case string:
		f.add(path + ":" + x)
	}
}

// SigningString returns base64url(Normalize(body)) + timestamp, the
// message every signature covers.
func (s Scheme) SigningString(body []byte, timestamp string) ([]byte, error) {
	norm, err := Normalize(body, s.Bools)
	if err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding
	if s.PadBody {
		enc = base64.URLEncoding
	}
	return []byte(enc.EncodeToString([]byte(norm)) + timestamp), nil
}

// Key signs or verifies HighHelp messages. Build one with RSAKey,
// RSAPublicKey or HMACKey.
type Key struct {
	alg  Algorithm
	priv *rsa.PrivateKey
	pub  *rsa.PublicKey
	hmac []byte
}

// RSAKey is a signing (and verifying) key from an RSA private key.
func RSAKey(k *rsa.PrivateKey) Key { return Key{alg: RSASHA256, priv: k, pub: &k.PublicKey} }

// RSAPublicKey is a verify-only key.
func RSAPublicKey(k *rsa.PublicKey) Key { return Key{alg: RSASHA256, pub: k} }

// HMACKey is a shared HMAC-SHA512 key.
func HMACKey(secret []byte) Key {
	return Key{alg: HMACSHA512, hmac: append([]byte(nil), secret...)}
}

// Algorithm returns the key's algorithm ("" for the zero Key).
func (k Key) Algorithm() Algorithm { return k.alg }

// Valid reports whether the key can at least verify.
func (k Key) Valid() bool {
	switch k.alg {
	case RSASHA256:
		return k.pub != nil
	case HMACSHA512:
		return len(k.hmac) > 0
	}
	return false
}

// Token is the x-access-token of an RSA key: base64url (no padding) of the
// DER SubjectPublicKeyInfo of its public key. Empty for HMAC keys.
func (k Key) Token() (string, error) {
	if k.pub == nil {
		return "", nil
	}
	der, err := x509.MarshalPKIXPublicKey(k.pub)
	if err != nil {
		return "", fmt.Errorf("highhelp: token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(der), nil
}

// Sign signs msg (SigningString's output) and encodes the result.
func (s Scheme) Sign(k Key, msg []byte) (string, error) {
	var raw []byte
	switch k.alg {
	case RSASHA256:
		if k.priv == nil {
			return "", errors.New("highhelp: sign: no RSA private key")
		}
		h := sha256.Sum256(msg)
		var err error
		raw, err = rsa.SignPKCS1v15(rand.Reader, k.priv, crypto.SHA256, h[:])
		if err != nil {
			return "", fmt.Errorf("highhelp: sign: %w", err)
		}
	case HMACSHA512:
		m := hmac.New(sha512.New, k.hmac)
		m.Write(msg)
		raw = m.Sum(nil)
	default:
		return "", errors.New("highhelp: sign: no key")
	}
	return s.encode(raw), nil
}

// Verify checks an encoded signature over msg.
func (s Scheme) Verify(k Key, msg []byte, sig string) error {
	raw, err := s.decode(sig)
	if err != nil {
		return fmt.Errorf("highhelp: verify: signature encoding: %w", err)
	}
	switch k.alg {
	case RSASHA256:
		if k.pub == nil {
			return errors.New("highhelp: verify: no RSA public key")
		}
		h := sha256.Sum256(msg)
		if err := rsa.VerifyPKCS1v15(k.pub, crypto.SHA256, h[:], raw); err != nil {
			return fmt.Errorf("highhelp: verify: %w", err)
		}
		return nil
	case HMACSHA512:
		m := hmac.New(sha512.New, k.hmac)
		m.Write(msg)
		if subtle.ConstantTimeCompare(m.Sum(nil), raw) != 1 {
			return errors.New("highhelp: verify: HMAC mismatch")
		}
		return nil
	}
	return errors.New("highhelp: verify: no key")
}

// SignBody is SigningString followed by Sign.
func (s Scheme) SignBody(k Key, body []byte, timestamp string) (string, error) {
	msg, err := s.SigningString(body, timestamp)
	if err != nil {
		return "", err
	}
	return s.Sign(k, msg)
}

// VerifyBody is SigningString followed by Verify.
func (s Scheme) VerifyBody(k Key, body []byte, timestamp, sig string) error {
	msg, err := s.SigningString(body, timestamp)
	if err != nil {
		return err
	}
	return s.Verify(k, msg, sig)
}

func (s Scheme) encode(b []byte) string {
	switch s.Encoding {
	case Base64Std:
		return base64.StdEncoding.EncodeToString(b)
	case Hex:
		return hex.EncodeToString(b)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s Scheme) decode(v string) ([]byte, error) {
	switch s.Encoding {
	case Base64Std:
		return base64.StdEncoding.DecodeString(v)
	case Hex:
		return hex.DecodeString(v)
	}
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
}
