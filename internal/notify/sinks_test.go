package notify_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/notify/sinktest"
)

// The shared behavioural suite, once per sink.

func TestWebhookSinkSuite(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, webhookTarget)
}

func TestBicycleWebhookSinkSuite(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, bicycleWebhookTarget)
}

func TestRabbitMQSinkSuite(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, rabbitTarget)
}

func TestBicycleRabbitMQSinkSuite(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, bicycleRabbitTarget)
}

// arrivals collects what a receiver accepted.
type arrivals struct {
	mu  sync.Mutex
	got []sinktest.Arrival
}

func (a *arrivals) add(id, topic string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, sinktest.Arrival{EventID: id, Topic: topic})
}

func (a *arrivals) list() []sinktest.Arrival {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]sinktest.Arrival(nil), a.got...)
}

// webhookTarget: the signed webhook to a receiver that verifies every
// request and, when down, answers 503.
func webhookTarget(t *testing.T) sinktest.Target {
	var down atomic.Bool
	got := &arrivals{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if err := notify.Verify(testSecret, r.Header.Get(notify.HeaderTimestamp), string(body), r.Header.Get(notify.HeaderSignature), time.Minute); err != nil {
			t.Errorf("webhook receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var env struct {
			EventID string `json:"event_id"`
			Type    string `json:"type"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.EventID != r.Header.Get(notify.HeaderEventID) {
			t.Errorf("webhook receiver: body %s (%v) does not match header event id %q", body, err, r.Header.Get(notify.HeaderEventID))
		}
		got.add(env.EventID, env.Type)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	sink, err := notify.NewWebhookSink(srv.URL+"/hook", config.NewSecret(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return sinktest.Target{Sink: sink, Arrivals: got.list, Down: func() { down.Store(true) }, Up: func() { down.Store(false) }}
}

const bicycleToken = "bicycle-Webhook-Token-0123456789"

// bicycleWebhookTarget: bicycle's webhook to a receiver behind a proxy that
// is cut while down (connection refused), checking the bearer token.
func bicycleWebhookTarget(t *testing.T) sinktest.Target {
	got := &arrivals{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+bicycleToken {
			t.Errorf("bicycle receiver: Authorization %q", r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var d struct {
			TxHash string `json:"tx_hash"`
		}
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil || d.TxHash == "" {
			t.Errorf("bicycle receiver: body without tx_hash (%v)", err)
		}
		got.add("deposit:"+d.TxHash, notify.TopicDeposit)
	}))
	t.Cleanup(srv.Close)
	proxy := sinktest.NewProxy(t, srv.Listener.Addr().String())
	sink, err := notify.NewBicycleWebhookSink("http://"+proxy.Addr()+"/bicycle", config.NewSecret(bicycleToken))
	if err != nil {
		t.Fatal(err)
	}
	return sinktest.Target{Sink: sink, Arrivals: got.list, Down: proxy.Cut, Up: proxy.Restore}
}

// rabbitTarget: the RabbitMQ sink through a proxy (cut while down) to the
// shared broker, on an exchange and queue of the test's own, with a
// consumer on that queue straight to the broker.
func rabbitTarget(t *testing.T) sinktest.Target {
	base := rabbitURL(t)
	exchange, queue := rabbitName(t, "x"), rabbitName(t, "q")
	deleteAtEnd(t, base, []string{exchange}, []string{queue})
	proxy := sinktest.NewProxy(t, brokerAddr(t, base))
	sink, err := notify.NewRabbitMQSink(notify.RabbitMQConfig{URL: config.NewSecret(viaProxy(t, base, proxy.Addr())),
		Exchange: exchange, Queue: queue}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	ch := rabbitChannel(t, base)
	// Declared as the sink declares it, so the consumer can start first.
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	c := consume(t, ch, queue)
	list := func() []sinktest.Arrival {
		var out []sinktest.Arrival
		for _, m := range c.messages() {
			out = append(out, sinktest.Arrival{EventID: m.MessageId, Topic: m.Type})
		}
		return out
	}
	return sinktest.Target{Sink: sink, Arrivals: list, Down: proxy.Cut, Up: proxy.Restore}
}

// bicycleRabbitTarget: the bicycle profile's RabbitMQ sink, to a fanout
// exchange a bicycle-era consumer declared itself (as bicycle does: not
// durable) with its own queue bound; the sink declares no queue.
func bicycleRabbitTarget(t *testing.T) sinktest.Target {
	base := rabbitURL(t)
	exchange, queue := rabbitName(t, "x"), rabbitName(t, "q")
	deleteAtEnd(t, base, []string{exchange}, []string{queue})
	ch := rabbitChannel(t, base)
	if err := ch.ExchangeDeclare(exchange, "fanout", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(queue, "", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	c := consume(t, ch, queue)
	proxy := sinktest.NewProxy(t, brokerAddr(t, base))
	sink, err := notify.NewRabbitMQSink(notify.RabbitMQConfig{URL: config.NewSecret(viaProxy(t, base, proxy.Addr())),
		Exchange: exchange, Bicycle: true}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	list := func() []sinktest.Arrival {
		var out []sinktest.Arrival
		for _, m := range c.messages() {
			out = append(out, sinktest.Arrival{EventID: bicycleMessageID(t, m), Topic: m.Type})
		}
		return out
	}
	return sinktest.Target{Sink: sink, Arrivals: list, Down: proxy.Cut, Up: proxy.Restore}
}

// bicycleMessageID is the event id a bicycle body stands for, checked
// against the message id.
func bicycleMessageID(t *testing.T, m amqp.Delivery) string {
	var d struct {
		TxHash string `json:"tx_hash"`
	}
	if err := json.Unmarshal(m.Body, &d); err != nil || d.TxHash == "" {
		t.Errorf("bicycle message %s: body %s has no tx_hash (%v)", m.MessageId, m.Body, err)
	}
	id := "deposit:" + d.TxHash
	if m.MessageId != id {
		t.Errorf("bicycle message id %q, want %q (from its tx_hash)", m.MessageId, id)
	}
	return id
}
