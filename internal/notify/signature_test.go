package notify_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ton-custody/processor/internal/notify"
)

// The vector was computed independently, with the shell line the package
// documentation gives merchants:
//
//	printf '%s.%s' 1700000000 "$BODY" | openssl dgst -sha256 -hmac whsec-example-0123456789
const (
	vectorSecret = "whsec-example-0123456789"
	vectorTS     = 1700000000
	vectorBody   = `{"event_id":"deposit:00","type":"deposit","created_at":"2023-11-14T22:13:20Z","data":{"amount":"1"}}`
	vectorSig    = "sha256=4c8a74550371ef1a0539472b94d0e9d32d5d2f8724d5bb4d11b2ebb1238d9a09"
)

func TestSignMatchesOpenSSLVector(t *testing.T) {
	t.Parallel()
	if got := notify.Sign(vectorSecret, vectorTS, []byte(vectorBody)); got != vectorSig {
		t.Fatalf("Sign = %s, want %s", got, vectorSig)
	}
	if err := notify.Verify(vectorSecret, strconv.Itoa(vectorTS), vectorBody, vectorSig, 0); err != nil {
		t.Fatalf("Verify of the vector without a skew check: %v", err)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Now().Unix()
	ts := strconv.FormatInt(now, 10)
	sig := notify.Sign(vectorSecret, now, []byte(vectorBody))
	tests := []struct {
		name                    string
		timestamp, body, header string
		maxSkew                 time.Duration
		want                    error
	}{
		{"valid", ts, vectorBody, sig, 5 * time.Minute, nil},
		{"upper-case hex", ts, vectorBody, "sha256=" + upper(sig[len("sha256="):]), 5 * time.Minute, nil},
		{"body changed", ts, vectorBody + " ", sig, 5 * time.Minute, notify.ErrInvalidSignature},
		{"empty header", ts, vectorBody, "", 5 * time.Minute, notify.ErrInvalidSignature},
		{"no algorithm prefix", ts, vectorBody, sig[len("sha256="):], 5 * time.Minute, notify.ErrInvalidSignature},
		{"other algorithm", ts, vectorBody, "sha1=" + sig[len("sha256="):], 5 * time.Minute, notify.ErrInvalidSignature},
		{"truncated", ts, vectorBody, sig[:len(sig)-2], 5 * time.Minute, notify.ErrInvalidSignature},
		{"not hex", ts, vectorBody, sig[:len(sig)-1] + "g", 5 * time.Minute, notify.ErrInvalidSignature},
		{"timestamp not a number", "soon", vectorBody, sig, 5 * time.Minute, notify.ErrTimestampSkew},
		{"timestamp with a plus sign", "+" + ts, vectorBody, sig, 5 * time.Minute, notify.ErrTimestampSkew},
		{"timestamp too old", strconv.FormatInt(now-301, 10), vectorBody,
			notify.Sign(vectorSecret, now-301, []byte(vectorBody)), 5 * time.Minute, notify.ErrTimestampSkew},
		{"timestamp in the future", strconv.FormatInt(now+301, 10), vectorBody,
			notify.Sign(vectorSecret, now+301, []byte(vectorBody)), 5 * time.Minute, notify.ErrTimestampSkew},
		{"old vector with skew check", strconv.Itoa(vectorTS), vectorBody, vectorSig, 5 * time.Minute, notify.ErrTimestampSkew},
	}
	for _, tc := range tests {
		err := notify.Verify(vectorSecret, tc.timestamp, tc.body, tc.header, tc.maxSkew)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
