package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of a webhook request (see the package documentation).
const (
	HeaderEventID   = "X-Processor-Event-Id"
	HeaderTimestamp = "X-Processor-Timestamp"
	HeaderSignature = "X-Processor-Signature"
)

// signaturePrefix names the algorithm, so another one can be added later
// without breaking receivers that check it.
const signaturePrefix = "sha256="

// Errors returned by Verify, for receivers that answer differently (e.g.
// log a clock problem apart from a forgery).
var (
	// ErrInvalidSignature: the signature header is malformed or does not
	// match the timestamp and body under the secret.
	ErrInvalidSignature = errors.New("notify: invalid webhook signature")
	// ErrTimestampSkew: the timestamp is malformed or too far from now,
	// which is how a replayed old request shows.
	ErrTimestampSkew = errors.New("notify: webhook timestamp outside the allowed skew")
)

// Sign returns the X-Processor-Signature value for body sent at timestamp
// (unix seconds): "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func Sign(secret string, timestamp int64, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, strconv.FormatInt(timestamp, 10), body))
}

func mac(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a received webhook: timestamp and header are the
// X-Processor-Timestamp and X-Processor-Signature values, body the raw
// request body. It fails with ErrTimestampSkew when the timestamp is more
// than maxSkew away from the local clock (maxSkew <= 0 skips this check,
// for tests of stored requests only: without it a captured request can be
// replayed forever), and with ErrInvalidSignature when the signature does
// not match. The comparison takes constant time.
func Verify(secret, timestamp, body, header string, maxSkew time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || timestamp != strconv.FormatInt(ts, 10) {
		return fmt.Errorf("%w: timestamp %q is not unix seconds", ErrTimestampSkew, timestamp)
	}
	if maxSkew > 0 {
		skew := time.Since(time.Unix(ts, 0))
		if skew > maxSkew || skew < -maxSkew {
			return fmt.Errorf("%w: timestamp is %s away from now, more than %s", ErrTimestampSkew, skew.Round(time.Second), maxSkew)
		}
	}
	hexSig, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return fmt.Errorf("%w: header does not start with %q", ErrInvalidSignature, signaturePrefix)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: not %d hex digits", ErrInvalidSignature, 2*sha256.Size)
	}
	if !hmac.Equal(got, mac(secret, timestamp, []byte(body))) {
		return ErrInvalidSignature
	}
	return nil
}
