package app_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/app"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonsim"
)

// events returns the outbox payloads ("data") of topic by event id.
func (p *processor) events(t testing.TB, topic string) map[string]map[string]any {
	t.Helper()
	rows, err := p.app.DB.Query(context.Background(), `SELECT dedup_key, payload::text FROM outbox WHERE topic = $1`, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[string]any{}
	for rows.Next() {
		var id, payload string
		if err := rows.Scan(&id, &payload); err != nil {
			t.Fatal(err)
		}
		d := json.NewDecoder(strings.NewReader(payload))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("event %s: %v", id, err)
		}
		out[id] = m
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkEvent asserts that ev has exactly the fields of want (so a field
// left out of want must be absent) with those values, strings as JSON
// strings (amounts are never numbers) and anything else as numbers.
func checkEvent(t testing.TB, name string, ev map[string]any, want map[string]any) {
	t.Helper()
	if ev == nil {
		t.Fatalf("%s: no event", name)
	}
	field := func(k string, v any) string {
		if s, ok := v.(string); ok {
			return fmt.Sprintf("%s=%q", k, s)
		}
		return fmt.Sprintf("%s=%v", k, v)
	}
	var got, exp []string
	for k, v := range ev {
		got = append(got, field(k, v))
	}
	for k, v := range want {
		exp = append(exp, field(k, v))
	}
	sort.Strings(got)
	sort.Strings(exp)
	if !slices.Equal(got, exp) {
		t.Fatalf("%s:\n got  %v\n want %v", name, got, exp)
	}
}

// txFees maps the hex hash of each of acc's transactions to its total
// fees as the chain recorded them (decimal nanoton).
func (p *processor) txFees(t testing.TB, acc *address.Address) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range p.net.Chain.TxsSince(acc, 0) {
		var tx tlb.Transaction
		if err := tlb.LoadFromCell(&tx, r.Cell.BeginParse()); err != nil {
			t.Fatal(err)
		}
		out[hex.EncodeToString(r.Hash)] = tx.TotalFees.Coins.Nano().String()
	}
	return out
}

// txFee is the total fees of acc's transaction txHash (hex).
func (p *processor) txFee(t testing.TB, acc *address.Address, txHash any) string {
	t.Helper()
	fee, ok := p.txFees(t, acc)[fmt.Sprint(txHash)]
	if !ok {
		t.Fatalf("no transaction %v of %s", txHash, acc)
	}
	return fee
}

// logBuffer collects the processor's log lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log records whose msg is msg.
func (b *logBuffer) lines(t testing.TB, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	data := append([]byte(nil), b.buf.Bytes()...)
	b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(l))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// startLogged is startProcessor with the log, at info level, written as
// JSON to the returned buffer.
func startLogged(t testing.TB, n *tonsim.Network, env map[string]string) (*processor, *logBuffer) {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	buf := &logBuffer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Options{Config: cfg, Listener: ln, Logger: app.NewLogger(buf, "json", slog.LevelInfo)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	p := &processor{t: t, net: n, env: env, app: a, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.Serve(ctx) }()
	t.Cleanup(p.stop)
	return p, buf
}

// hasID reports whether the log attribute v (a number or a list of them)
// names the withdrawal id.
func hasID(v any, id any) bool {
	want := fmt.Sprint(id)
	if list, ok := v.([]any); ok {
		for _, x := range list {
			if fmt.Sprint(x) == want {
				return true
			}
		}
		return false
	}
	return v != nil && fmt.Sprint(v) == want
}

// logged returns the first record with msg whose key names id.
func (b *logBuffer) logged(t testing.TB, msg, key string, id any) map[string]any {
	t.Helper()
	for _, m := range b.lines(t, msg) {
		if hasID(m[key], id) {
			return m
		}
	}
	return nil
}
