package notify

import (
	"strings"
	"testing"
	"time"
)

func TestBackoffDoublesWithinJitterBoundsUpToTheCap(t *testing.T) {
	t.Parallel()
	lowest := func(int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	tests := []struct {
		attempt  int
		base     time.Duration
		cap      time.Duration
		min, max time.Duration
	}{
		{1, time.Second, 10 * time.Minute, 500 * time.Millisecond, time.Second},
		{2, time.Second, 10 * time.Minute, time.Second, 2 * time.Second},
		{3, time.Second, 10 * time.Minute, 2 * time.Second, 4 * time.Second},
		{10, time.Second, 10 * time.Minute, 256 * time.Second, 512 * time.Second},
		{11, time.Second, 10 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		{1000, time.Second, 10 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		{1 << 30, time.Second, 1<<63 - 1, (1<<63 - 1) / 2, 1<<63 - 1},
		{0, time.Second, time.Minute, 500 * time.Millisecond, time.Second},
	}
	for _, tc := range tests {
		lo := backoff(tc.attempt, tc.base, tc.cap, lowest)
		hi := backoff(tc.attempt, tc.base, tc.cap, highest)
		if lo != tc.min || hi != tc.max {
			t.Errorf("backoff(%d, %s, %s) spans [%s, %s], want [%s, %s]", tc.attempt, tc.base, tc.cap, lo, hi, tc.min, tc.max)
		}
	}
}

func TestErrorTextIsOneStorableLine(t *testing.T) {
	t.Parallel()
	got := printable("Bad\x00 gateway\r\n\t<html>\xff</html>")
	if got != "Bad gateway <html>?</html>" {
		t.Fatalf("printable = %q", got)
	}
	long := strings.Repeat("é", 300) // 600 bytes
	if cut := truncate(long, maxLastError); len(cut) > maxLastError || !strings.HasPrefix(long, cut) || len(cut) < maxLastError-1 {
		t.Fatalf("truncate kept %d bytes, want <= %d on a rune boundary", len(cut), maxLastError)
	}
}
