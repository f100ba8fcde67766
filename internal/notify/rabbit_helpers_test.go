package notify_test

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// envRabbitURL points the tests at a RabbitMQ broker; the default is the
// one `make test` and .ci/run start. Tests share the broker: each uses
// exchanges and queues of its own, deleted when it ends, and takes "its"
// broker down through a proxy (sinktest.Proxy), never the broker itself.
const envRabbitURL = "TEST_RABBITMQ_URL"

const defaultRabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

// rabbitURL returns the broker's URL, failing the test (not skipping it:
// a skipped integration test hides failures) when it does not answer.
func rabbitURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(envRabbitURL)
	if u == "" {
		u = defaultRabbitURL
	}
	conn, err := amqp.DialConfig(u, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		t.Fatalf("RabbitMQ at %s does not answer (%v): start it (`make test` and .ci/run do: rabbitmq-server -detached) or set %s",
			redactedURL(u), err, envRabbitURL)
	}
	_ = conn.Close()
	return u
}

func redactedURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "the configured URL"
}

// viaProxy returns base with its host:port replaced by addr.
func viaProxy(t testing.TB, base, addr string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// brokerAddr is base's host:port.
func brokerAddr(t testing.TB, base string) string {
	t.Helper()
	uri, err := amqp.ParseURI(base)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port))
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9]+`)

// rabbitName is a name no other test uses: the test's name and 8 random
// bytes.
func rabbitName(t testing.TB, kind string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := strings.Trim(nonName.ReplaceAllString(t.Name(), "-"), "-")
	if len(name) > 120 {
		name = name[len(name)-120:]
	}
	return "processor-test." + kind + "." + name + "." + hex.EncodeToString(b[:])
}

// rabbitChannel opens a channel straight to the broker (not through a
// proxy), closed when the test ends.
func rabbitChannel(t testing.TB, base string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(base)
	if err != nil {
		t.Fatalf("connect to RabbitMQ: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("RabbitMQ channel: %v", err)
	}
	return ch
}

// deleteAtEnd removes the test's exchanges and queues when it ends.
func deleteAtEnd(t testing.TB, base string, exchanges, queues []string) {
	t.Cleanup(func() {
		conn, err := amqp.Dial(base)
		if err != nil {
			t.Logf("cleanup: connect to RabbitMQ: %v", err)
			return
		}
		defer conn.Close()
		for _, q := range queues {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueueDelete(q, false, false, false)
				_ = ch.Close()
			}
		}
		for _, e := range exchanges {
			if ch, err := conn.Channel(); err == nil {
				_ = ch.ExchangeDelete(e, false, false)
				_ = ch.Close()
			}
		}
	})
}

// consumer records every message of one queue.
type consumer struct {
	mu   sync.Mutex
	msgs []amqp.Delivery
}

// consume starts consuming queue on ch (auto-ack) until the test ends.
func consume(t testing.TB, ch *amqp.Channel, queue string) *consumer {
	t.Helper()
	deliveries, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		t.Fatalf("consume %s: %v", queue, err)
	}
	c := &consumer{}
	go func() {
		for d := range deliveries {
			c.mu.Lock()
			c.msgs = append(c.msgs, d)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *consumer) messages() []amqp.Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]amqp.Delivery(nil), c.msgs...)
}
