package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// testRabbitURL is the broker `make test` starts (TEST_RABBITMQ_URL to
// use another); the test fails rather than skips when it does not answer.
func testRabbitURL(t *testing.T) string {
	u := os.Getenv("TEST_RABBITMQ_URL")
	if u == "" {
		u = "amqp://guest:guest@127.0.0.1:5672/"
	}
	conn, err := amqp.DialConfig(u, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		t.Fatalf("RabbitMQ does not answer (%v): start it (`make test` does) or set TEST_RABBITMQ_URL", err)
	}
	_ = conn.Close()
	return u
}

// With the bicycle profile and every sink configured, one real deposit
// reaches the signed webhook (our envelope), bicycle's webhook and
// RabbitMQ (bicycle's body); bicycle's webhook being down holds up
// neither of the others, and gets the deposit once it is back.
func TestDepositReachesEverySinkInItsShapeAndADownSinkHoldsUpNoOther(t *testing.T) {
	t.Parallel()
	n, j := newNetwork(t)
	const secret, bicycleToken = "whsec-test-0123456789abcdef", "bicycle-token-0123456789"

	type got struct {
		mu     sync.Mutex
		bodies [][]byte
	}
	record := func(g *got, b []byte) { g.mu.Lock(); g.bodies = append(g.bodies, b); g.mu.Unlock() }
	count := func(g *got) int { g.mu.Lock(); defer g.mu.Unlock(); return len(g.bodies) }
	signed, bicycle := &got{}, &got{}
	signedSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify(secret, r.Header.Get(notify.HeaderTimestamp), string(body), r.Header.Get(notify.HeaderSignature), time.Minute); err != nil {
			t.Errorf("signed webhook: %v", err)
		}
		record(signed, body)
	}))
	t.Cleanup(signedSrv.Close)
	var bicycleDown atomic.Bool
	bicycleDown.Store(true)
	bicycleSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bicycleDown.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+bicycleToken {
			t.Errorf("bicycle webhook: Authorization %q", r.Header.Get("Authorization"))
		}
		record(bicycle, body)
	}))
	t.Cleanup(bicycleSrv.Close)

	rabbit := testRabbitURL(t)
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	exchange, queue := "processor-test.app.x."+hex.EncodeToString(suffix[:]), "processor-test.app.q."+hex.EncodeToString(suffix[:])
	conn, err := amqp.Dial(rabbit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(queue, false, false, false)
			_ = ch.ExchangeDelete(exchange, false, false)
		}
		_ = conn.Close()
	})
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// A bicycle-era consumer: declares the fanout exchange and its queue.
	if err := ch.ExchangeDeclare(exchange, "fanout", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(queue, "", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var msgs got
	go func() {
		for d := range deliveries {
			if d.MessageId == "" || d.DeliveryMode != amqp.Persistent {
				t.Errorf("RabbitMQ message id %q, delivery mode %d", d.MessageId, d.DeliveryMode)
			}
			record(&msgs, d.Body)
		}
	}()

	env := baseEnv(t, n, j, storetest.NewDBURL(t))
	env["API_COMPAT"] = "bicycle"
	env["WEBHOOK_URL"], env["WEBHOOK_SECRET"] = signedSrv.URL+"/hook", secret
	env["WEBHOOK_ENDPOINT"], env["WEBHOOK_TOKEN"] = bicycleSrv.URL+"/deposit", bicycleToken
	env["QUEUE_ENABLED"], env["QUEUE_URI"], env["QUEUE_NAME"] = "true", rabbit, exchange // bicycle's names
	p := startProcessor(t, n, env)
	if len(p.app.Notifiers) != 3 {
		t.Fatalf("%d notifiers, want the signed webhook, bicycle's webhook and RabbitMQ", len(p.app.Notifiers))
	}
	addr := p.ok(p.do("POST", "/v1/address/new", map[string]string{"user_id": "zoe", "currency": "TON"}, true))["address"].(string)
	dep, _ := tonaddr.Parse(addr, config.Testnet)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := n.Faucet(ctx, dep, tlb.MustFromTON("1.5").Nano(), false, "order 7"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the signed webhook and RabbitMQ while bicycle's webhook is down", func() bool {
		return count(signed) >= 1 && count(&msgs) >= 1
	})
	if count(bicycle) != 0 {
		t.Fatal("bicycle's webhook accepted a request while down")
	}
	bicycleDown.Store(false)
	waitFor(t, 30*time.Second, "bicycle's webhook once it is back", func() bool { return count(bicycle) >= 1 })

	var env1 struct {
		EventID string `json:"event_id"`
		Type    string `json:"type"`
		Data    struct {
			TxHash         string `json:"tx_hash"`
			DepositAddress string `json:"deposit_address"`
			Currency       string `json:"currency"`
		} `json:"data"`
	}
	if err := json.Unmarshal(signed.bodies[0], &env1); err != nil || env1.Type != "deposit" || env1.Data.DepositAddress != addr || env1.Data.Currency != "TON" {
		t.Fatalf("signed webhook body %s (%v)", signed.bodies[0], err)
	}
	for name, body := range map[string][]byte{"bicycle's webhook": bicycle.bodies[0], "RabbitMQ": msgs.bodies[0]} {
		var b map[string]any
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatalf("%s body %s: %v", name, body, err)
		}
		src, _ := b["source_address"].(string)
		sa, err := address.ParseAddr(src)
		switch {
		case len(b) != 7:
			t.Errorf("%s body %s: want bicycle's seven fields", name, body)
		case b["deposit_address"] != addr || b["user_id"] != "zoe" || b["amount"] != "1500000000" || b["comment"] != "order 7" || b["tx_hash"] != env1.Data.TxHash:
			t.Errorf("%s body %s", name, body)
		case err != nil || !sa.IsBounceable() || !sa.IsTestnetOnly():
			t.Errorf("%s: source_address %q is not bounceable testnet-form, as bicycle prints it", name, src)
		}
		if _, ok := b["time"].(float64); !ok {
			t.Errorf("%s: time %v is not a number", name, b["time"])
		}
	}
}
