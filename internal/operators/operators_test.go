package operators_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/audit"
	"github.com/ton-custody/processor/internal/operators"
	"github.com/ton-custody/processor/internal/store/storetest"
)

// RFC 6238 appendix B, SHA-1 (the 8-digit values' last 6 digits).
func TestTOTPRFC6238Vectors(t *testing.T) {
	t.Parallel()
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"
	for _, v := range []struct {
		unix int64
		code string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}} {
		got, err := operators.TOTP(secret, time.Unix(v.unix, 0))
		if err != nil || got != v.code {
			t.Errorf("T=%d: %s %v, want %s", v.unix, got, err, v.code)
		}
	}
	if !operators.VerifyTOTP(secret, "287082", time.Unix(59+25, 0)) || operators.VerifyTOTP(secret, "287082", time.Unix(59+95, 0)) {
		t.Error("VerifyTOTP skew window")
	}
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := operators.HashPassword("correct horse battery")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Fatalf("hash %q %v", h, err)
	}
	if ok, err := operators.VerifyPassword(h, "correct horse battery"); !ok || err != nil {
		t.Errorf("right password: %v %v", ok, err)
	}
	if ok, _ := operators.VerifyPassword(h, "correct horse batterY"); ok {
		t.Error("wrong password accepted")
	}
	if h2, _ := operators.HashPassword("correct horse battery"); h2 == h {
		t.Error("no salt")
	}
}

// Accounts: add (TOTP URI once), roles checked by Require, disable, reset;
// every change audited.
func TestOperatorAccounts(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t)
	ctx := context.Background()
	enr, err := operators.Add(ctx, db, "cli:root", "alice", operators.RoleApprover, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(enr.TOTPURI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != enr.TOTPSecret || len(enr.TOTPSecret) != 32 {
		t.Fatalf("TOTP URI %q %v", enr.TOTPURI, err)
	}
	var stored string
	if err := db.QueryRow(ctx, `SELECT password_hash FROM operators WHERE name = 'alice'`).Scan(&stored); err != nil || strings.Contains(stored, "horse") {
		t.Fatalf("stored %q %v", stored, err)
	}
	if _, err := operators.Add(ctx, db, "cli:root", "alice", operators.RoleAdmin, "correct horse battery"); err == nil {
		t.Error("added twice")
	}
	if _, err := operators.Add(ctx, db, "cli:root", "bob", operators.RoleAdmin, "short"); err == nil {
		t.Error("short password accepted")
	}
	if _, err := operators.Add(ctx, db, "cli:root", "Bob!", operators.RoleAdmin, "correct horse battery"); err == nil {
		t.Error("bad name accepted")
	}
	if ok, err := operators.CheckPassword(ctx, db, "alice", "correct horse battery"); !ok || err != nil {
		t.Errorf("password: %v %v", ok, err)
	}
	require := func(name string, role operators.Role) error {
		return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			_, err := operators.Require(ctx, tx, name, role)
			return err
		})
	}
	if err := require("alice", operators.RoleApprover); err != nil {
		t.Error(err)
	}
	if err := require("alice", operators.RoleAdmin); !errors.Is(err, operators.ErrForbidden) {
		t.Errorf("approver as admin: %v", err)
	}
	if err := require("nobody", operators.RoleViewer); !errors.Is(err, operators.ErrForbidden) {
		t.Errorf("unknown operator: %v", err)
	}
	if err := operators.Disable(ctx, db, "cli:root", "alice", "left"); err != nil {
		t.Fatal(err)
	}
	if err := require("alice", operators.RoleViewer); !errors.Is(err, operators.ErrForbidden) {
		t.Errorf("disabled operator: %v", err)
	}
	if ok, _ := operators.CheckPassword(ctx, db, "alice", "correct horse battery"); ok {
		t.Error("a disabled operator's password checks")
	}
	enr2, err := operators.Reset(ctx, db, "cli:root", "alice", operators.RoleAdmin, "another long password")
	if err != nil || enr2.TOTPSecret == enr.TOTPSecret {
		t.Fatalf("reset: %v (same secret: %v)", err, enr2.TOTPSecret == enr.TOTPSecret)
	}
	if err := require("alice", operators.RoleAdmin); err != nil {
		t.Errorf("after reset: %v", err)
	}
	recs, err := audit.List(ctx, db, "operator:alice")
	if err != nil || len(recs) != 3 || recs[0].Action != "operator.add" || recs[1].Action != "operator.disable" || recs[2].Action != "operator.reset" {
		t.Fatalf("audit %+v %v", recs, err)
	}
	if strings.Contains(string(recs[2].AfterRaw), "password") {
		t.Error("audit holds secrets")
	}
}
