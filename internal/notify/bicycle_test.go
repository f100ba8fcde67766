package notify_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store/storetest"
)

func TestBicycleDepositBodyIsBicyclesShape(t *testing.T) {
	t.Parallel()
	account := make([]byte, 32)
	account[0] = 0xab
	deposit := address.NewAddress(0, 0, account).Bounce(false).Testnet(true).String() // 0Q...
	source := address.NewAddress(0, 0, account).Bounce(false).Testnet(true).String()
	wantSource := address.NewAddress(0, 0, account).Bounce(true).Testnet(true).String() // kQ...
	if !strings.HasPrefix(wantSource, "kQ") || !strings.HasPrefix(deposit, "0Q") {
		t.Fatalf("test addresses %s %s are not in the expected forms", deposit, wantSource)
	}
	// As stored: jsonb key order, every field of our deposit payload.
	full := `{"lt": "77", "time": 1700000123, "amount": "2500000000", "comment": "order <42> & co", "tx_hash": "ABCDEF0123", "user_id": "alice",
		"currency": "TON", "mc_seqno": 9, "binary_comment": "ff", "source_address": "` + source + `", "deposit_address": "` + deposit + `"}`
	got, err := notify.BicycleDepositBody(json.RawMessage(full))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"deposit_address":"` + deposit + `","time":1700000123,"amount":"2500000000","source_address":"` + wantSource +
		`","comment":"order \u003c42\u003e \u0026 co","user_id":"alice","tx_hash":"abcdef0123"}`
	if string(got) != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
	// No sender, no comment: the fields are left out, never null or "".
	got, err = notify.BicycleDepositBody(json.RawMessage(`{"user_id":"","deposit_address":"` + deposit + `","amount":"0","tx_hash":"aa","time":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"deposit_address":"` + deposit + `","time":1,"amount":"0","user_id":"","tx_hash":"aa"}`; string(got) != want {
		t.Fatalf("minimal body\n got %s\nwant %s", got, want)
	}
	for _, bad := range []string{`{"id":1,"status":"processed"}`, `{"user_id":"u","deposit_address":"x","amount":"1","tx_hash":"aa"}`,
		`{"user_id":"u","deposit_address":"x","amount":"1","tx_hash":"aa","time":1,"source_address":"not an address"}`, `[]`} {
		if _, err := notify.BicycleDepositBody(json.RawMessage(bad)); err == nil {
			t.Errorf("BicycleDepositBody(%s) succeeded, want an error", bad)
		}
	}
}

func TestBicycleWebhookSendsDepositsOnlyWithBearerTokenAndNeedsA200(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	var calls atomic.Int32
	type req struct {
		auth, ctype, eventID, body string
		status                     int
	}
	reqs := make(chan req, 10)
	srv := newHTTPServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		status := http.StatusOK
		if calls.Add(1) == 1 {
			// Bicycle counts only 200 as delivered: 201 must be retried.
			status = http.StatusCreated
		}
		reqs <- req{r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Header.Get(notify.HeaderEventID), string(body), status}
		w.WriteHeader(status)
	})
	sink, err := notify.NewBicycleWebhookSink(srv.URL+"/deposit", config.NewSecret(bicycleToken))
	if err != nil {
		t.Fatal(err)
	}
	w := newSinkWorker(t, pool, sink, notify.Options{PollInterval: 10 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffCap: 40 * time.Millisecond}, nil, nil)
	startWorker(t, w)
	enqueue(t, pool, notify.Event{Topic: notify.TopicWithdrawal, ID: "withdrawal:1:processed", Payload: map[string]any{"id": 1, "status": "processed"}})
	enqueue(t, pool, notify.Event{Topic: notify.TopicServiceWithdrawal, ID: "service_withdrawal:m:processed", Payload: map[string]any{"memo": "m"}})
	dep := notify.Event{Topic: notify.TopicDeposit, ID: "deposit:cafe", Payload: map[string]any{"user_id": "bob", "currency": "TON",
		"deposit_address": "UQB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ2852W", "amount": "5", "tx_hash": "cafe", "lt": "1", "time": 1700000000, "mc_seqno": 3}}
	enqueue(t, pool, dep)
	var got []req
	for len(got) < 2 {
		select {
		case r := <-reqs:
			got = append(got, r)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d requests, want 2 (a 201, then a 200)", len(got))
		}
	}
	waitFor(t, 5*time.Second, "the deposit recorded delivered", func() bool {
		var delivered bool
		err := pool.QueryRow(t.Context(), `SELECT d.delivered_at IS NOT NULL FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id
			WHERE o.dedup_key = 'deposit:cafe' AND d.sink = 'bicycle_webhook'`).Scan(&delivered)
		return err == nil && delivered
	})
	time.Sleep(100 * time.Millisecond)
	if n := calls.Load(); n != 2 {
		t.Fatalf("receiver got %d requests, want 2: withdrawal events must never reach bicycle's deposit webhook", n)
	}
	want := `{"deposit_address":"UQB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ2852W","time":1700000000,"amount":"5","user_id":"bob","tx_hash":"cafe"}`
	for i, r := range got {
		if r.auth != "Bearer "+bicycleToken || r.ctype != "application/json; charset=UTF-8" || r.eventID != "deposit:cafe" || r.body != want {
			t.Errorf("request %d: Authorization %q, Content-Type %q, event id %q, body %s", i+1, r.auth, r.ctype, r.eventID, r.body)
		}
	}
	var queued int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM outbox_deliveries WHERE sink = 'bicycle_webhook'`).Scan(&queued); err != nil || queued != 1 {
		t.Fatalf("%d deliveries queued for bicycle_webhook (%v), want only the deposit's", queued, err)
	}
	last := outboxLastError(t, pool, "bicycle_webhook", "deposit:cafe")
	if !strings.HasPrefix(last, "HTTP 201") {
		t.Errorf("last_error %q, want the 201 that was not accepted", last)
	}
}

func TestBicycleWebhookWithoutTokenSendsNoAuthorization(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	auth := make(chan []string, 1)
	srv := newHTTPServer(t, func(w http.ResponseWriter, r *http.Request) { auth <- r.Header.Values("Authorization") })
	sink, err := notify.NewBicycleWebhookSink(srv.URL, config.Secret{})
	if err != nil {
		t.Fatal(err)
	}
	startWorker(t, newSinkWorker(t, pool, sink, notify.Options{PollInterval: 10 * time.Millisecond}, nil, nil))
	enqueue(t, pool, notify.Event{Topic: notify.TopicDeposit, ID: "deposit:01", Payload: map[string]any{"user_id": "u",
		"deposit_address": "UQB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ2852W", "amount": "1", "tx_hash": "01", "time": 1}})
	select {
	case got := <-auth:
		if len(got) != 0 {
			t.Fatalf("Authorization %q sent without WEBHOOK_TOKEN", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no request")
	}
}
