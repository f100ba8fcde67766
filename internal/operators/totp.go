package operators

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// TOTP computes the RFC 6238 code (HMAC-SHA1, 30-second steps, 6 digits)
// of a base32 secret at t.
func TOTP(secret string, t time.Time) (string, error) {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		return "", fmt.Errorf("operators: TOTP secret: %w", err)
	}
	return hotp(key, uint64(t.Unix())/30, 6), nil
}

// hotp is RFC 4226's HOTP with digits digits.
func hotp(key []byte, counter uint64, digits int) string {
	mac := hmac.New(sha1.New, key)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	mac.Write(c[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// VerifyTOTP checks code against secret at t, allowing one step of clock
// skew either way.
func VerifyTOTP(secret, code string, t time.Time) bool {
	ok := false
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		want, err := TOTP(secret, t.Add(d))
		if err != nil {
			return false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			ok = true
		}
	}
	return ok
}
