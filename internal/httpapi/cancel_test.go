package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ton-custody/processor/internal/config"
)

// TestCancelWithdrawal: POST /v1/withdrawal/cancel fails a pending or
// awaiting_approval withdrawal with its event and audit entry; one in a
// batch or final is a 409, an unknown one a 404.
func TestCancelWithdrawal(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, config.Testnet)
	dest := friendly(0x77, false, true)
	send := func(q string) int64 {
		return int64(a.ok(a.post("/v1/withdrawal/send", map[string]string{"user_id": "u", "query_id": q, "currency": "TON",
			"amount": "100", "destination": dest}))["ID"].(float64))
	}
	id := send("c1")
	st := a.ok(a.post("/v1/withdrawal/cancel", map[string]any{"id": id, "reason": "customer request"}))
	wantString(t, "cancel", st, "status", "failed")
	wantString(t, "cancel", st, "reason", "cancelled: customer request")
	st = a.ok(a.get(fmt.Sprintf("/v1/withdrawal/status?id=%d", id)))
	wantString(t, "status", st, "reason", "cancelled: customer request")
	var events, audits int
	ctx := context.Background()
	if err := a.db.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE dedup_key = $1`, fmt.Sprintf("withdrawal:%d:failed", id)).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if err := a.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE subject = $1 AND action = 'withdrawal.cancel' AND actor LIKE 'api%'`,
		fmt.Sprintf("withdrawal:%d", id)).Scan(&audits); err != nil {
		t.Fatal(err)
	}
	if events != 1 || audits != 1 {
		t.Errorf("%d events, %d audit entries; want 1 and 1", events, audits)
	}
	if r := a.post("/v1/withdrawal/cancel", map[string]any{"id": id, "reason": "again"}); r.status != http.StatusConflict ||
		!strings.Contains(string(r.body), "is failed") {
		t.Errorf("cancel a failed one: %d %s", r.status, r.body)
	}

	// In a batch: 409.
	id2 := send("c2")
	a.exec(`INSERT INTO hot_batches (query_seq, created_at_chain, timeout_seconds, signed_message, message_hash) VALUES (0, 1700000000, 60, '\x00', $1)`, acct(0x42))
	a.exec(`UPDATE withdrawals SET state = 'processing', batch_id = (SELECT id FROM hot_batches) WHERE id = $1`, id2)
	if r := a.post("/v1/withdrawal/cancel", map[string]any{"id": id2, "reason": "too late"}); r.status != http.StatusConflict ||
		!strings.Contains(string(r.body), "is processing") {
		t.Errorf("cancel a processing one: %d %s", r.status, r.body)
	}

	// Awaiting approval: shown by the status endpoint, and cancellable.
	id3 := send("c3")
	a.exec(`UPDATE withdrawals SET state = 'awaiting_approval' WHERE id = $1`, id3)
	wantString(t, "awaiting", a.ok(a.get(fmt.Sprintf("/v1/withdrawal/status?id=%d", id3))), "status", "awaiting_approval")
	wantString(t, "cancel awaiting", a.ok(a.post("/v1/withdrawal/cancel", map[string]any{"id": id3, "reason": "x"})), "status", "failed")

	if r := a.post("/v1/withdrawal/cancel", map[string]any{"id": 999999, "reason": "x"}); r.status != http.StatusNotFound {
		t.Errorf("unknown: %d %s", r.status, r.body)
	}
	if r := a.post("/v1/withdrawal/cancel", map[string]any{"id": id3, "reason": " "}); r.status != http.StatusBadRequest {
		t.Errorf("empty reason: %d %s", r.status, r.body)
	}
}
