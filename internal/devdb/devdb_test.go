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

// The soak suite's PostgreSQL restart: connections are cut, the server comes
// back on the same URL, and commits made with synchronous_commit on survive.
func TestRestartKeepsSynchronousCommits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := Start(ctx)
	if err != nil {
		t.Fatalf("throwaway PostgreSQL: %v", err)
	}
	defer func() { _ = s.Stop() }()
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"SET synchronous_commit = on", "CREATE TABLE kept (v int)", "INSERT INTO kept VALUES (42)"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a connection from before the restart still works")
	}
	_ = conn.Close(ctx)
	conn, err = pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatalf("reconnect after restart: %v", err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Fatalf("row after restart: %d %v", v, err)
	}
}
