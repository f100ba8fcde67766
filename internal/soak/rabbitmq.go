package soak

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ton-custody/processor/internal/tcpproxy"
)

// The RabbitMQ sink of the soak: the processor publishes every outbox event
// (its own layout: durable topic exchange, a durable queue bound for every
// topic, persistent messages with the event id as message id, publisher
// confirms) to an exchange and queue of this run's own on a shared broker,
// through a TCP proxy the broker outage fault cuts and restores. The
// broker itself is never stopped: other tests and engineers share it.
//
// A consumer straight to the broker (not through the proxy) records every
// message of the queue. The documented guarantee is at least once: every
// outbox event arrives, possibly more than once, always with the same id
// and body.

// rabbitRun is the run's exchange, queue, proxy and consumer.
type rabbitRun struct {
	url             string // the broker, straight
	exchange, queue string
	proxy           *tcpProxy

	conn *amqp.Connection
	done chan struct{} // closed when the consumer goroutine returns

	mu       sync.Mutex
	seen     map[string]int    // message id -> messages
	body     map[string]string // message id -> sha256 of the first body
	messages int
	redeliv  int // messages the broker flagged redelivered (to this consumer)
	invalid  []string
	lost     error // the consumer's connection ended before the run did
}

// startRabbit checks the broker, declares this run's exchange and queue
// (as the processor's sink would: topic exchange and queue, both durable,
// bound with "#"), starts consuming and puts a proxy in front of the broker.
func startRabbit(ctx context.Context, brokerURL string) (*rabbitRun, error) {
	uri, err := amqp.ParseURI(brokerURL)
	if err != nil {
		return nil, errors.New("RabbitMQ URL must be amqp://user:password@host:5672/vhost")
	}
	conn, err := amqp.DialConfig(brokerURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("RabbitMQ at %s:%d does not answer (%v): start it (rabbitmq-server -detached; scripts/with-rabbitmq.sh does) or point the soak at another broker",
			uri.Host, uri.Port, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "processor-soak." + hex.EncodeToString(b[:])
	r := &rabbitRun{url: brokerURL, exchange: name + ".x", queue: name + ".q", conn: conn, done: make(chan struct{}),
		seen: map[string]int{}, body: map[string]string{}}
	ch, err := conn.Channel()
	if err == nil {
		// Auto-delete, and the queue expires unused: a run that dies
		// leaves nothing behind on the shared broker for long.
		err = ch.ExchangeDeclare(r.exchange, "topic", true, true, false, false, nil)
	}
	if err == nil {
		_, err = ch.QueueDeclare(r.queue, true, false, false, false, amqp.Table{"x-expires": int32(15 * 60 * 1000)})
	}
	if err == nil {
		err = ch.QueueBind(r.queue, "#", r.exchange, false, nil)
	}
	var deliveries <-chan amqp.Delivery
	if err == nil {
		deliveries, err = ch.ConsumeWithContext(ctx, r.queue, "soak", false, true, false, false, nil)
	}
	if err != nil {
		r.close()
		return nil, fmt.Errorf("RabbitMQ exchange and queue %s: %w", name, err)
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	go r.consume(deliveries, closed)
	if r.proxy, err = newTCPProxy(net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port))); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// processorURL is the broker's URL through the proxy, for the processor.
func (r *rabbitRun) processorURL() string {
	u, err := url.Parse(r.url)
	if err != nil {
		return ""
	}
	u.Host = r.proxy.Addr()
	return u.String()
}

func (r *rabbitRun) consume(deliveries <-chan amqp.Delivery, closed <-chan *amqp.Error) {
	defer close(r.done)
	for m := range deliveries {
		r.record(m)
		_ = m.Ack(false)
	}
	if e := <-closed; e != nil {
		r.mu.Lock()
		r.lost = e
		r.mu.Unlock()
	}
}

// record checks one message: persistent, JSON, the envelope's event_id is
// the message id, and a repeat carries the same body.
func (r *rabbitRun) record(m amqp.Delivery) {
	var env struct {
		EventID string `json:"event_id"`
		Type    string `json:"type"`
	}
	var bad string
	switch err := json.Unmarshal(m.Body, &env); {
	case err != nil:
		bad = fmt.Sprintf("message %q: body is not JSON: %v", m.MessageId, err)
	case m.MessageId == "" || env.EventID != m.MessageId:
		bad = fmt.Sprintf("message id %q, body event_id %q: want the same, non-empty", m.MessageId, env.EventID)
	case m.DeliveryMode != amqp.Persistent:
		bad = fmt.Sprintf("message %q: delivery mode %d, want persistent (2)", m.MessageId, m.DeliveryMode)
	case m.RoutingKey != env.Type || m.Type != env.Type:
		bad = fmt.Sprintf("message %q: routing key %q, type %q, want the event type %q", m.MessageId, m.RoutingKey, m.Type, env.Type)
	}
	sum := sha256.Sum256(m.Body)
	h := hex.EncodeToString(sum[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages++
	if m.Redelivered {
		r.redeliv++
	}
	if bad != "" {
		r.invalid = append(r.invalid, bad)
		return
	}
	if first, ok := r.body[m.MessageId]; ok && first != h {
		r.invalid = append(r.invalid, fmt.Sprintf("message %q arrived again with another body", m.MessageId))
	} else if !ok {
		r.body[m.MessageId] = h
	}
	r.seen[m.MessageId]++
}

// snapshot returns the message ids seen, with their counts.
func (r *rabbitRun) snapshot() (seen map[string]int, messages, redelivered int, invalid []string, lost error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen = make(map[string]int, len(r.seen))
	for k, v := range r.seen {
		seen[k] = v
	}
	return seen, r.messages, r.redeliv, append([]string(nil), r.invalid...), r.lost
}

// close stops consuming and deletes the run's queue and exchange.
func (r *rabbitRun) close() {
	if r.proxy != nil {
		r.proxy.close()
	}
	if ch, err := r.conn.Channel(); err == nil {
		_, _ = ch.QueueDelete(r.queue, false, false, false)
		_ = ch.ExchangeDelete(r.exchange, false, false)
	}
	_ = r.conn.Close()
}

// tcpProxy stands between the processor and the broker (a tcpproxy.Proxy
// whose outages end by themselves). An outage closes every proxied
// connection and stops listening (connections are refused, as by a broker
// that is down), until it ends and the proxy listens on the same address
// again.
type tcpProxy struct {
	*tcpproxy.Proxy

	mu        sync.Mutex
	downUntil time.Time
	timer     *time.Timer
	closed    bool
}

func newTCPProxy(target string) (*tcpProxy, error) {
	p, err := tcpproxy.New(target)
	if err != nil {
		return nil, fmt.Errorf("RabbitMQ proxy: %w", err)
	}
	return &tcpProxy{Proxy: p}, nil
}

// outage takes the broker away for d (longer if an outage already runs
// longer).
func (p *tcpProxy) outage(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if until := time.Now().Add(d); until.After(p.downUntil) {
		p.downUntil = until
		if p.timer != nil {
			p.timer.Stop()
		}
		p.timer = time.AfterFunc(d, p.up)
	}
	p.Cut()
}

// up ends an outage now: the proxy listens on its address again. If it
// cannot, the processor's sends keep failing and the check says so.
func (p *tcpProxy) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downUntil = time.Time{}
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	if !p.closed {
		_ = p.Restore()
	}
}

// cuts is how many of the processor's connections outages closed.
func (p *tcpProxy) cuts() int { return p.Cuts() }

func (p *tcpProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	p.Close()
}
