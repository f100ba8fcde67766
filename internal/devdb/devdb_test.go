package devdb

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// `processor dev` depends on this: a server from the machine's binaries that
// accepts connections and disappears on Stop.
func TestStartServesAndStopRemoves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Start(ctx)
	if err != nil {
		t.Fatalf("throwaway PostgreSQL: %v", err)
	}
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		_ = s.Stop()
		t.Fatal(err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("query: %d %v", one, err)
	}
	_ = conn.Close(ctx)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if c, err := pgx.Connect(ctx, s.URL); err == nil {
		_ = c.Close(ctx)
		t.Fatal("server still answers after Stop")
	}
}
