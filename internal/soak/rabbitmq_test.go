package soak

import (
	"cmp"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func testRabbitURL() string {
	return cmp.Or(os.Getenv("TEST_RABBITMQ_URL"), "amqp://guest:guest@127.0.0.1:5672/")
}

// The broker outage fault: through the proxy the processor's connection is
// cut and new ones are refused for the outage, then accepted again; the
// consumer (straight to the broker) keeps receiving; the run's exchange
// and queue are gone after close. Uses the shared broker, never stopping it.
func TestBrokerOutageThroughTheProxy(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := startRabbit(ctx, testRabbitURL())
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			r.close()
		}
	}()
	publish := func(id string) error {
		conn, err := amqp.DialConfig(r.processorURL(), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err != nil {
			return err
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			return err
		}
		if err := ch.Confirm(false); err != nil {
			return err
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, r.exchange, "deposit", true, false, amqp.Publishing{
			MessageId: id, Type: "deposit", DeliveryMode: amqp.Persistent,
			Body: []byte(`{"event_id":"` + id + `","type":"deposit","data":{}}`)})
		if err != nil {
			return err
		}
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			return err
		}
		return nil
	}
	waitSeen := func(id string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if seen, _, _, _, _ := r.snapshot(); seen[id] > 0 {
				return
			}
		}
		t.Fatalf("%s never reached the queue", id)
	}
	if err := publish("ev-1"); err != nil {
		t.Fatal(err)
	}
	waitSeen("ev-1")

	// A live connection through the proxy is cut by the outage.
	live, err := amqp.Dial(r.processorURL())
	if err != nil {
		t.Fatal(err)
	}
	gone := live.NotifyClose(make(chan *amqp.Error, 1))
	r.proxy.outage(time.Hour)
	select {
	case <-gone:
	case <-time.After(15 * time.Second):
		t.Fatal("the outage left the live connection open")
	}
	if err := publish("ev-lost"); err == nil {
		t.Fatal("published through the proxy during the outage")
	}
	if r.proxy.cuts() != 1 {
		t.Errorf("%d connections cut, want 1", r.proxy.cuts())
	}
	r.proxy.up()
	if err := publish("ev-2"); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	waitSeen("ev-2")
	seen, messages, _, invalid, lost := r.snapshot()
	if seen["ev-lost"] != 0 || messages != 2 || len(invalid) > 0 || lost != nil {
		t.Fatalf("seen %v, %d messages, invalid %q, consumer lost %v", seen, messages, invalid, lost)
	}

	queue := r.queue
	r.close()
	closed = true
	conn, err := amqp.Dial(testRabbitURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil); err == nil {
		t.Errorf("queue %s is still on the shared broker", queue)
	}
}

// What the consumer refuses to count as a delivery: each malformed message
// is a violation, and a repeat must carry the first body.
func TestRabbitRecordChecksEachMessage(t *testing.T) {
	t.Parallel()
	r := &rabbitRun{seen: map[string]int{}, body: map[string]string{}}
	good := func(id, data string) amqp.Delivery {
		return amqp.Delivery{MessageId: id, Type: "deposit", RoutingKey: "deposit", DeliveryMode: amqp.Persistent,
			Body: []byte(`{"event_id":"` + id + `","type":"deposit","data":` + data + `}`)}
	}
	r.record(good("a", "{}"))
	r.record(good("a", "{}")) // a repeat: counted, allowed
	transient := good("b", "{}")
	transient.DeliveryMode = amqp.Transient
	r.record(transient)
	other := good("c", "{}")
	other.MessageId = "c2"
	r.record(other)
	r.record(amqp.Delivery{MessageId: "d", DeliveryMode: amqp.Persistent, Body: []byte("not json")})
	wrongKey := good("e", "{}")
	wrongKey.RoutingKey = "withdrawal"
	r.record(wrongKey)
	r.record(good("a", `{"x":1}`)) // a repeat with another body
	seen, messages, _, invalid, _ := r.snapshot()
	if seen["a"] != 3 || len(seen) != 1 || messages != 7 {
		t.Errorf("seen %v, %d messages", seen, messages)
	}
	for _, want := range []string{"delivery mode 1", `message id "c2", body event_id "c"`, "not JSON", `routing key "withdrawal"`, `"a" arrived again with another body`} {
		if !slices.ContainsFunc(invalid, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no violation mentions %q: %q", want, invalid)
		}
	}
}
