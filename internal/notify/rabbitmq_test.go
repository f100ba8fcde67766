package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/notify"
	"github.com/ton-custody/processor/internal/notify/sinktest"
	"github.com/ton-custody/processor/internal/store/storetest"
)

var fastRetries = notify.Options{PollInterval: 10 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffCap: 200 * time.Millisecond}

func newRabbitSink(t *testing.T, cfg notify.RabbitMQConfig, reg prometheus.Registerer) *notify.RabbitMQSink {
	t.Helper()
	s, err := notify.NewRabbitMQSink(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// envelopeOf is the body the signed webhook would carry for an event.
func envelopeOf(t *testing.T, pool *pgxpool.Pool, eventID string) []byte {
	t.Helper()
	var m notify.Message
	var data string
	err := pool.QueryRow(context.Background(), `SELECT dedup_key, topic, created_at, payload::text FROM outbox WHERE dedup_key = $1`, eventID).
		Scan(&m.EventID, &m.Topic, &m.CreatedAt, &data)
	if err != nil {
		t.Fatal(err)
	}
	m.Data = json.RawMessage(data)
	body, err := m.Envelope()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestRabbitMQMessagesArePersistentConfirmedRoutedByTopicAndCarryTheEnvelope(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	base := rabbitURL(t)
	exchange, queue, withdrawalsOnly := rabbitName(t, "x"), rabbitName(t, "q"), rabbitName(t, "w")
	deleteAtEnd(t, base, []string{exchange}, []string{queue, withdrawalsOnly})
	sink := newRabbitSink(t, notify.RabbitMQConfig{URL: config.NewSecret(base), Exchange: exchange, Queue: queue}, nil)
	startWorker(t, newSinkWorker(t, pool, sink, fastRetries, nil, nil))

	dep := notify.Event{Topic: notify.TopicDeposit, ID: "deposit:0a0b", Payload: map[string]any{"user_id": "u", "amount": "7", "comment": "<b>"}}
	wd := notify.Event{Topic: notify.TopicWithdrawal, ID: "withdrawal:5:processed", Payload: map[string]any{"id": 5, "status": "processed"}}
	enqueue(t, pool, dep)
	// The sink declares the exchange and queue on its first send.
	waitFor(t, 10*time.Second, "the deposit published", func() bool { return countDeliveredSink(t, pool, notify.RabbitMQSinkName) == 1 })
	ch := rabbitChannel(t, base)
	all := consume(t, ch, queue)
	// A consumer interested in withdrawals only binds by routing key = topic.
	if _, err := ch.QueueDeclare(withdrawalsOnly, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the deposit published", func() bool { return len(all.messages()) >= 1 })
	if err := ch.QueueBind(withdrawalsOnly, notify.TopicWithdrawal, exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	wdOnly := consume(t, ch, withdrawalsOnly)
	enqueue(t, pool, wd)
	waitFor(t, 10*time.Second, "both messages", func() bool { return len(all.messages()) >= 2 && len(wdOnly.messages()) >= 1 })

	created := map[string]time.Time{}
	for id := range outboxRows(t, pool) {
		var at time.Time
		if err := pool.QueryRow(context.Background(), `SELECT created_at FROM outbox WHERE dedup_key = $1`, id).Scan(&at); err != nil {
			t.Fatal(err)
		}
		created[id] = at
	}
	for _, m := range all.messages() {
		topic := strings.SplitN(m.MessageId, ":", 2)[0]
		switch {
		case m.Exchange != exchange || m.RoutingKey != topic || m.Type != topic:
			t.Errorf("%s: exchange %q, routing key %q, type %q; want %q and the topic %q", m.MessageId, m.Exchange, m.RoutingKey, m.Type, exchange, topic)
		case m.DeliveryMode != amqp.Persistent || m.ContentType != "application/json" || m.AppId != "ton-custody-processor":
			t.Errorf("%s: delivery mode %d, content type %q, app id %q", m.MessageId, m.DeliveryMode, m.ContentType, m.AppId)
		case !m.Timestamp.Equal(created[m.MessageId].Truncate(time.Second)):
			t.Errorf("%s: timestamp %s, want created_at %s", m.MessageId, m.Timestamp, created[m.MessageId])
		case string(m.Body) != string(envelopeOf(t, pool, m.MessageId)):
			t.Errorf("%s: body\n got %s\nwant %s", m.MessageId, m.Body, envelopeOf(t, pool, m.MessageId))
		}
	}
	if got := wdOnly.messages(); len(got) != 1 || got[0].MessageId != wd.ID {
		t.Errorf("the withdrawal-only queue got %d messages (%v), want just %s", len(got), got, wd.ID)
	}
	// Durable exchange and queue: declaring them transient is refused.
	for name, declare := range map[string]func(*amqp.Channel) error{
		"exchange": func(c *amqp.Channel) error {
			return c.ExchangeDeclare(exchange, "topic", false, false, false, false, nil)
		},
		"queue": func(c *amqp.Channel) error {
			_, err := c.QueueDeclare(queue, false, false, false, false, nil)
			return err
		},
	} {
		var ae *amqp.Error
		if err := declare(rabbitChannel(t, base)); !errors.As(err, &ae) || ae.Code != amqp.PreconditionFailed {
			t.Errorf("declaring the %s non-durable: %v, want PRECONDITION_FAILED (it is durable)", name, err)
		}
	}
}

func TestRabbitMQBrokerOutagesMidStreamLoseNothing(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	base := rabbitURL(t)
	exchange, queue := rabbitName(t, "x"), rabbitName(t, "q")
	deleteAtEnd(t, base, []string{exchange}, []string{queue})
	ch := rabbitChannel(t, base)
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	got := consume(t, ch, queue)
	proxy := sinktest.NewProxy(t, brokerAddr(t, base))
	reg := prometheus.NewRegistry()
	sink := newRabbitSink(t, notify.RabbitMQConfig{URL: config.NewSecret(viaProxy(t, base, proxy.Addr())), Exchange: exchange, Queue: queue}, reg)
	startWorker(t, newSinkWorker(t, pool, sink, fastRetries, reg, nil))

	// A steady stream of events; the broker goes away twice while it flows
	// (connections cut with messages in flight, then refused), as in a
	// broker restart.
	const batches, perBatch = 30, 5
	var ids []string
	failed := func() float64 {
		return mustMetric(t, reg, "processor_notify_deliveries_total", map[string]string{"result": "error"})
	}
	var failedAtCut float64
	for b := range batches {
		var events []notify.Event
		for i := range perBatch {
			e := sinktest.Event(t, []string{notify.TopicDeposit, notify.TopicWithdrawal}[i%2], b*perBatch+i)
			events = append(events, e)
			ids = append(ids, e.ID)
		}
		enqueueAll(t, pool, events)
		switch b {
		case 8, 20:
			failedAtCut = failed()
			proxy.Cut()
		case 13, 25:
			waitFor(t, 10*time.Second, "publishes to fail during the outage", func() bool { return failed() > failedAtCut })
			proxy.Restore()
		}
		time.Sleep(15 * time.Millisecond)
	}
	waitFor(t, 30*time.Second, "every event in the queue", func() bool {
		seen := map[string]bool{}
		for _, m := range got.messages() {
			seen[m.MessageId] = true
		}
		for _, id := range ids {
			if !seen[id] {
				return false
			}
		}
		return true
	})
	waitFor(t, 10*time.Second, "every delivery recorded", func() bool {
		return len(sinktest.Deliveries(t, pool, notify.RabbitMQSinkName)) == len(ids) &&
			countDeliveredSink(t, pool, notify.RabbitMQSinkName) == len(ids)
	})
	dups := 0
	seen := map[string]bool{}
	for _, m := range got.messages() {
		if !slices.Contains(ids, m.MessageId) {
			t.Errorf("message with id %q, which is no event", m.MessageId)
		}
		if seen[m.MessageId] {
			dups++
		}
		seen[m.MessageId] = true
	}
	t.Logf("%d events, %d messages, %d duplicates (same message id), %v failed attempts", len(ids), len(got.messages()), dups, failed())
	if c := mustMetric(t, reg, "processor_rabbitmq_connected", nil); c != 1 {
		t.Errorf("processor_rabbitmq_connected = %v after recovery, want 1", c)
	}
}

func countDeliveredSink(t *testing.T, pool *pgxpool.Pool, sink string) int {
	n := 0
	for _, d := range sinktest.Deliveries(t, pool, sink) {
		if d.DeliveredAt != nil {
			n++
		}
	}
	return n
}

func TestRabbitMQUnroutableMessageIsRetriedUntilAQueueIsBound(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	base := rabbitURL(t)
	exchange, queue := rabbitName(t, "x"), rabbitName(t, "q")
	deleteAtEnd(t, base, []string{exchange}, []string{queue})
	reg := prometheus.NewRegistry()
	// Bicycle's layout: a fanout exchange and no queue of the processor's.
	sink := newRabbitSink(t, notify.RabbitMQConfig{URL: config.NewSecret(base), Exchange: exchange, Bicycle: true}, reg)
	startWorker(t, newSinkWorker(t, pool, sink, fastRetries, reg, nil))
	e := sinktest.Event(t, notify.TopicDeposit, 0)
	enqueue(t, pool, e)
	waitFor(t, 10*time.Second, "three returned publishes", func() bool {
		return mustMetric(t, reg, "processor_rabbitmq_unroutable_total", nil) >= 3
	})
	d := sinktest.Deliveries(t, pool, notify.BicycleRabbitMQSinkName)[e.ID]
	if d.DeliveredAt != nil || !strings.Contains(d.LastError, "no queue bound") || !strings.Contains(d.LastError, "NO_ROUTE") {
		t.Fatalf("with no queue bound: delivered %v, last_error %q; want undelivered and the broker's NO_ROUTE", d.DeliveredAt, d.LastError)
	}
	// The exchange is bicycle's: fanout, not durable (a bicycle consumer
	// declaring it so must not be refused).
	if err := rabbitChannel(t, base).ExchangeDeclare(exchange, "fanout", false, false, false, false, nil); err != nil {
		t.Fatalf("declaring the exchange as bicycle does: %v", err)
	}
	ch := rabbitChannel(t, base)
	if _, err := ch.QueueDeclare(queue, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(queue, "", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	got := consume(t, ch, queue)
	waitFor(t, 10*time.Second, "the message once a queue is bound", func() bool { return len(got.messages()) >= 1 })
	if m := got.messages()[0]; m.MessageId != e.ID || m.RoutingKey != "" || m.DeliveryMode != amqp.Persistent {
		t.Errorf("message id %q, routing key %q, delivery mode %d", m.MessageId, m.RoutingKey, m.DeliveryMode)
	}
}

func TestRabbitMQUsesAnExistingQuorumQueueAsItIs(t *testing.T) {
	t.Parallel()
	pool := storetest.NewDB(t)
	base := rabbitURL(t)
	exchange, queue := rabbitName(t, "x"), rabbitName(t, "q")
	deleteAtEnd(t, base, []string{exchange}, []string{queue})
	ch := rabbitChannel(t, base)
	// Made by the operator with arguments the sink would not use.
	if _, err := ch.QueueDeclare(queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	got := consume(t, ch, queue)
	sink := newRabbitSink(t, notify.RabbitMQConfig{URL: config.NewSecret(base), Exchange: exchange, Queue: queue}, nil)
	startWorker(t, newSinkWorker(t, pool, sink, fastRetries, nil, nil))
	e := sinktest.Event(t, notify.TopicWithdrawal, 1)
	enqueue(t, pool, e)
	waitFor(t, 10*time.Second, "the message in the quorum queue", func() bool { return len(got.messages()) >= 1 })
	if d := sinktest.Deliveries(t, pool, notify.RabbitMQSinkName)[e.ID]; d.LastError != "" {
		t.Errorf("last_error %q: the existing queue was not used as it is", d.LastError)
	}
}

func TestRabbitMQSettingsAndErrorsKeepThePasswordSecret(t *testing.T) {
	t.Parallel()
	const password = "pw-Distinctive-31337"
	bad := []struct {
		name string
		cfg  notify.RabbitMQConfig
		want string
	}{
		{"no URL", notify.RabbitMQConfig{Exchange: "e"}, "URL"},
		{"http URL", notify.RabbitMQConfig{URL: config.NewSecret("http://guest:" + password + "@host/"), Exchange: "e"}, "URL"},
		{"bad port", notify.RabbitMQConfig{URL: config.NewSecret("amqp://guest:" + password + "@host:port/"), Exchange: "e"}, "URL"},
		{"no exchange", notify.RabbitMQConfig{URL: config.NewSecret("amqp://h/")}, "exchange"},
		{"reserved exchange", notify.RabbitMQConfig{URL: config.NewSecret("amqp://h/"), Exchange: "amq.topic"}, "exchange"},
		{"exchange with a space", notify.RabbitMQConfig{URL: config.NewSecret("amqp://h/"), Exchange: "a b"}, "exchange"},
		{"reserved queue", notify.RabbitMQConfig{URL: config.NewSecret("amqp://h/"), Exchange: "e", Queue: "amq.q"}, "queue"},
	}
	for _, tc := range bad {
		_, err := notify.NewRabbitMQSink(tc.cfg, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), password) {
			t.Errorf("%s: NewRabbitMQSink error %v, want one about the %s, without the password", tc.name, err, tc.want)
		}
	}
	// The broker refusing the credentials: the error says so, not what
	// the password was.
	u, err := url.Parse(rabbitURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("guest", password)
	sink := newRabbitSink(t, notify.RabbitMQConfig{URL: config.NewSecret(u.String()), Exchange: rabbitName(t, "x")}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = sink.Send(ctx, notify.Message{EventID: "deposit:1", Topic: notify.TopicDeposit, CreatedAt: time.Now(), Data: json.RawMessage(`{}`)})
	if err == nil || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "connect to RabbitMQ") {
		t.Fatalf("Send with a wrong password: %v; want a connection error without the password", err)
	}
	t.Logf("wrong password: %v", err)
}
