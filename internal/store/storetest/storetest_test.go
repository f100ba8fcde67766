package storetest

import (
	"regexp"
	"strings"
	"testing"
)

func TestDatabaseName(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^t_[a-z0-9_]{1,30}_[0-9a-f]{16}$`)
	for _, name := range []string{
		"TestX",
		"TestSchemaConstraints/withdrawal_in_two_live_batches",
		strings.Repeat("TestVeryLongName", 10) + "/sub test #01",
	} {
		a, b := databaseName(name), databaseName(name)
		if !valid.MatchString(a) || len(a) > 63 {
			t.Errorf("databaseName(%q) = %q: not a short lower-case identifier", name, a)
		}
		if a == b {
			t.Errorf("databaseName(%q) repeated %q: parallel tests would collide", name, a)
		}
	}
}

func TestWithDatabaseAndParam(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, server, wantDB, wantParam string
	}{
		{
			name:      "URL",
			server:    "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
			wantDB:    "postgres://postgres@127.0.0.1:5432/t_x?sslmode=disable",
			wantParam: "postgres://postgres@127.0.0.1:5432/t_x?pool_max_conns=10&sslmode=disable",
		},
		{
			name:      "URL without database",
			server:    "postgresql://u:p@db",
			wantDB:    "postgresql://u:p@db/t_x",
			wantParam: "postgresql://u:p@db/t_x?pool_max_conns=10",
		},
		{
			name:      "key=value",
			server:    "host=127.0.0.1 user=postgres dbname=postgres",
			wantDB:    "host=127.0.0.1 user=postgres dbname=postgres dbname=t_x",
			wantParam: "host=127.0.0.1 user=postgres dbname=postgres dbname=t_x pool_max_conns=10",
		},
	}
	for _, tt := range tests {
		db := withDatabase(tt.server, "t_x")
		if db != tt.wantDB {
			t.Errorf("%s: withDatabase = %q, want %q", tt.name, db, tt.wantDB)
		}
		if got := withParam(db, "pool_max_conns", "10"); got != tt.wantParam {
			t.Errorf("%s: withParam = %q, want %q", tt.name, got, tt.wantParam)
		}
	}
}
