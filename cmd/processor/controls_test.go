package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/ton-custody/processor/internal/store/storetest"
)

// The operator, withdrawal and withdrawals commands end to end on a
// database: accounts, approval of a withdrawal awaiting it, pause/resume.
func TestOperatorAndControlCommands(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDBURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "TON_NETWORK": "testnet", "USER": "tester"}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	cli := func(args string, stdin string) (string, error) {
		var out bytes.Buffer
		passwordInput = strings.NewReader(stdin)
		err := run(ctx, strings.Fields(args), getenv, &out)
		return out.String(), err
	}
	if _, err := cli("migrate", ""); err != nil {
		t.Fatal(err)
	}
	out, err := cli("operator add alice --role approver", "correct horse battery\n")
	if err != nil || !strings.Contains(out, "otpauth://totp/") {
		t.Fatalf("add alice: %q %v", out, err)
	}
	env["OPERATOR_PASSWORD"] = "another long password"
	if _, err := cli("operator add root --role admin", ""); err != nil {
		t.Fatal(err)
	}
	delete(env, "OPERATOR_PASSWORD")
	if _, err := cli("operator add bob --role boss", "correct horse battery\n"); err == nil || !strings.Contains(err.Error(), "--role") {
		t.Errorf("bad role: %v", err)
	}
	if _, err := cli("operator add bob --role approver", "short\n"); err == nil {
		t.Error("short password accepted")
	}

	// A withdrawal awaiting approval, as the API stores one.
	pool, err := openDB(ctx, getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var id int64
	if err := pool.QueryRow(ctx, `INSERT INTO withdrawals (user_id, query_id, currency, amount, destination_workchain, destination_address,
		bounceable, request_hash, state) VALUES ('u', 'q', 'TON', 5, 0, $1, false, $1, 'awaiting_approval') RETURNING id`,
		bytes.Repeat([]byte{7}, 32)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	ids := strconv.FormatInt(id, 10)
	if _, err := cli("withdrawal approve "+ids+" --operator alice", ""); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Errorf("no reason: %v", err)
	}
	out, err = cli("withdrawal approve "+ids+" --operator alice --reason checked", "")
	if err != nil || !strings.Contains(out, "pending") {
		t.Fatalf("approve: %q %v", out, err)
	}
	if out, err = cli("withdrawals pause TON --operator alice --reason incident", ""); err != nil || !strings.Contains(out, "paused") {
		t.Fatalf("pause: %q %v", out, err)
	}
	if _, err = cli("withdrawals resume TON --operator alice --reason fixed", ""); err == nil {
		t.Error("an approver resumed")
	}
	if _, err = cli("withdrawals resume --operator root TON --reason fixed", ""); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if _, err := cli("operator disable alice --reason left", ""); err != nil {
		t.Fatal(err)
	}
	if _, err = cli("withdrawals pause TON --operator alice --reason incident", ""); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("disabled operator pauses: %v", err)
	}
	var entries int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&entries); err != nil || entries != 6 {
		t.Errorf("%d audit entries (%v), want 6", entries, err)
	}
}
