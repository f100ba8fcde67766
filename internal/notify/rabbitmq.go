package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ton-custody/processor/internal/config"
)

// Sink names of RabbitMQ: the processor's own layout, and bicycle's.
const (
	RabbitMQSinkName        = "rabbitmq"
	BicycleRabbitMQSinkName = "bicycle_rabbitmq"
)

// Defaults of RabbitMQConfig outside the bicycle profile.
const (
	DefaultRabbitMQExchange = "processor.events"
	DefaultRabbitMQQueue    = "processor.events"
)

// rabbitHeartbeat makes a silently dead broker connection show within
// about two intervals.
const rabbitHeartbeat = 10 * time.Second

// rabbitCloseTimeout bounds closing a connection to a broker that may not
// answer any more.
const rabbitCloseTimeout = time.Second

// RabbitMQConfig configures a RabbitMQSink.
type RabbitMQConfig struct {
	// URL is amqp://user:password@host:port/vhost (or amqps://).
	URL config.Secret
	// Exchange receives the messages. Outside the bicycle profile it is a
	// durable topic exchange (routing key = topic: deposit, withdrawal,
	// ...); in the bicycle profile a fanout exchange declared as bicycle
	// declares it (non-durable), so consumers that declare it themselves
	// the bicycle way keep working. An existing exchange is used as it is.
	Exchange string
	// Queue, when set, is declared durable (if it does not exist) and
	// bound to Exchange for every topic, so messages wait there while no
	// consumer runs. Empty: no queue is declared (consumers bind their
	// own; a message no queue takes is refused and retried).
	Queue string
	// Bicycle selects bicycle's messages: deposits only, bicycle's body
	// (BicycleDepositBody), routing key "". Otherwise every topic is
	// published with the signed webhook's body (Message.Envelope).
	Bicycle bool
}

// RabbitMQSink publishes events to RabbitMQ: persistent messages with the
// event id as message id, each confirmed by the broker (publisher
// confirms) and refused when no queue takes it (mandatory), so "delivered"
// means a queue has it. The connection is opened on the first Send and
// again after any failure (broker restart, network cut); messages not
// confirmed then are sent again from the outbox, with the same message id.
type RabbitMQSink struct {
	cfg        RabbitMQConfig
	name       string
	log        *slog.Logger
	unroutable prometheus.Counter
	// dialing holds one token: whoever has it may replace the session.
	dialing chan struct{}
	sess    atomic.Pointer[amqpSession]
}

var amqpNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,255}$`)

// NewRabbitMQSink returns a RabbitMQ sink; it connects on the first Send.
// Its metrics (processor_rabbitmq_*) are registered on reg (nil: not
// registered). A nil log means slog.Default().
func NewRabbitMQSink(cfg RabbitMQConfig, reg prometheus.Registerer, log *slog.Logger) (*RabbitMQSink, error) {
	// Parse errors may quote the URL, password included: say only what is wrong.
	if _, err := amqp.ParseURI(cfg.URL.Reveal()); !cfg.URL.IsSet() || err != nil {
		return nil, errors.New("notify: RabbitMQ URL must be amqp://user:password@host:5672/vhost or amqps://host/vhost")
	}
	if !amqpNameRE.MatchString(cfg.Exchange) || strings.HasPrefix(cfg.Exchange, "amq.") {
		return nil, fmt.Errorf("notify: RabbitMQ exchange %q must be 1-255 characters A-Z a-z 0-9 _ . : - and not start with \"amq.\"", cfg.Exchange)
	}
	if cfg.Queue != "" && (!amqpNameRE.MatchString(cfg.Queue) || strings.HasPrefix(cfg.Queue, "amq.")) {
		return nil, fmt.Errorf("notify: RabbitMQ queue %q must be 1-255 characters A-Z a-z 0-9 _ . : - and not start with \"amq.\"", cfg.Queue)
	}
	if log == nil {
		log = slog.Default()
	}
	name := RabbitMQSinkName
	if cfg.Bicycle {
		name = BicycleRabbitMQSinkName
	}
	s := &RabbitMQSink{cfg: cfg, name: name, log: log.With("sink", name), dialing: make(chan struct{}, 1)}
	unroutable := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "processor_rabbitmq_unroutable_total",
		Help: "Messages RabbitMQ returned because no queue is bound to the exchange for them; they are retried from the outbox.",
	}, []string{"sink"})
	connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "processor_rabbitmq_connected",
		Help:        "1 while this instance has an open connection to RabbitMQ (only the instance running the sink's worker connects).",
		ConstLabels: prometheus.Labels{"sink": name},
	}, func() float64 {
		if p := s.sess.Load(); p != nil && !p.isDead() {
			return 1
		}
		return 0
	})
	if reg != nil {
		var err error
		if unroutable, err = register(reg, unroutable); err != nil {
			return nil, err
		}
		if _, err = register[prometheus.Collector](reg, connected); err != nil {
			return nil, err
		}
	}
	s.unroutable = unroutable.WithLabelValues(name)
	return s, nil
}

// Name implements Sink.
func (s *RabbitMQSink) Name() string { return s.name }

// Topics implements Sink: bicycle publishes deposits only.
func (s *RabbitMQSink) Topics() []string {
	if s.cfg.Bicycle {
		return []string{TopicDeposit}
	}
	return nil
}

// Send implements Sink: publish m and wait for the broker's confirm.
func (s *RabbitMQSink) Send(ctx context.Context, m Message) error {
	body, key := []byte(nil), m.Topic
	var err error
	if s.cfg.Bicycle {
		if m.Topic != TopicDeposit {
			return fmt.Errorf("bicycle publishes deposits only, not %s", m.Topic)
		}
		body, err = BicycleDepositBody(m.Data)
		key = ""
	} else {
		body, err = m.Envelope()
	}
	if err != nil {
		return err
	}
	sess, err := s.session(ctx)
	if err != nil {
		return err
	}
	dc, err := sess.ch.PublishWithDeferredConfirmWithContext(ctx, s.cfg.Exchange, key, true, false, amqp.Publishing{
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		MessageId:    m.EventID,
		Timestamp:    m.CreatedAt.UTC(),
		Type:         m.Topic,
		AppId:        "ton-custody-processor",
		Body:         body,
	})
	if err != nil {
		sess.kill(err)
		return fmt.Errorf("publish to RabbitMQ: %w", err)
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		// No confirm in time: the broker is stuck (resource alarm) or the
		// connection is half dead. Start afresh; the message may arrive
		// twice, with the same message id.
		sess.kill(errors.New("no publisher confirm within the send timeout"))
		return ctx.Err()
	}
	if !dc.Acked() {
		if sess.isDead() || sess.ch.IsClosed() {
			return errors.New("RabbitMQ connection lost before the broker confirmed the message")
		}
		return errors.New("RabbitMQ refused the message (negative publisher confirm)")
	}
	if reason, returned := sess.returned(m.EventID); returned {
		s.unroutable.Inc()
		return fmt.Errorf("RabbitMQ returned the message: no queue bound to exchange %q takes it (%s)", s.cfg.Exchange, reason)
	}
	return nil
}

// Close closes the connection, if any; the next Send opens a new one.
func (s *RabbitMQSink) Close() error {
	s.dialing <- struct{}{}
	defer func() { <-s.dialing }()
	if p := s.sess.Swap(nil); p != nil {
		p.kill(errors.New("sink closed"))
	}
	return nil
}

// session returns the open session, connecting first when there is none
// or it died. Concurrent callers wait for one connection attempt.
func (s *RabbitMQSink) session(ctx context.Context) (*amqpSession, error) {
	if p := s.sess.Load(); p != nil && !p.isDead() {
		return p, nil
	}
	select {
	case s.dialing <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.dialing }()
	if p := s.sess.Load(); p != nil && !p.isDead() {
		return p, nil
	}
	p, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	s.sess.Store(p)
	s.log.Info("notify: connected to RabbitMQ", "exchange", s.cfg.Exchange, "queue", s.cfg.Queue)
	return p, nil
}

// connect dials, declares the exchange (and queue) and opens a confirming
// channel for publishing.
func (s *RabbitMQSink) connect(ctx context.Context) (*amqpSession, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultSendTimeout)
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("ton-custody-processor " + s.name)
	conn, err := amqp.DialConfig(s.cfg.URL.Reveal(), amqp.Config{
		Heartbeat:  rabbitHeartbeat,
		Properties: props,
		// The handshake is bounded by the attempt's deadline (the library
		// clears it once the connection is open).
		Dial: func(network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := c.SetDeadline(deadline); err != nil {
				_ = c.Close()
				return nil, err
			}
			return c, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to RabbitMQ: %w", s.redact(err))
	}
	fail := func(what string, err error) (*amqpSession, error) {
		_ = conn.CloseDeadline(time.Now().Add(rabbitCloseTimeout))
		return nil, fmt.Errorf("RabbitMQ %s: %w", what, err)
	}
	if err := s.declare(conn); err != nil {
		return fail("declare", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		return fail("open channel", err)
	}
	if err := ch.Confirm(false); err != nil {
		return fail("enable publisher confirms", err)
	}
	p := &amqpSession{conn: conn, ch: ch, dead: make(chan struct{}), exited: make(chan struct{}),
		syncReq: make(chan chan struct{}), returns: map[string]string{}, log: s.log}
	// Unbuffered: the library hands a return over before it processes the
	// confirm that follows it, which returned() relies on.
	rets := ch.NotifyReturn(make(chan amqp.Return))
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	go p.watch(rets, connClosed, chClosed)
	return p, nil
}

// declare makes sure the exchange (and the queue with its binding) exist.
// An existing exchange or queue is used as it is, whatever its settings
// (e.g. a quorum queue made by the operator); only a missing one is
// declared. A failed passive declare closes its channel, hence a new one.
func (s *RabbitMQSink) declare(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer func() { _ = ch.Close() }()
	kind, durable, key := "topic", true, "#"
	if s.cfg.Bicycle {
		// Bicycle's own declaration: fanout, not durable.
		kind, durable, key = "fanout", false, ""
	}
	if err := ch.ExchangeDeclarePassive(s.cfg.Exchange, kind, durable, false, false, false, nil); err != nil {
		if !isNotFound(err) {
			return fmt.Errorf("exchange %s: %w", s.cfg.Exchange, err)
		}
		if ch, err = conn.Channel(); err != nil {
			return err
		}
		if err := ch.ExchangeDeclare(s.cfg.Exchange, kind, durable, false, false, false, nil); err != nil {
			return fmt.Errorf("exchange %s: %w", s.cfg.Exchange, err)
		}
	}
	if s.cfg.Queue == "" {
		return nil
	}
	if _, err := ch.QueueDeclarePassive(s.cfg.Queue, true, false, false, false, nil); err != nil {
		if !isNotFound(err) {
			return fmt.Errorf("queue %s: %w", s.cfg.Queue, err)
		}
		if ch, err = conn.Channel(); err != nil {
			return err
		}
		if _, err := ch.QueueDeclare(s.cfg.Queue, true, false, false, false, nil); err != nil {
			return fmt.Errorf("queue %s: %w", s.cfg.Queue, err)
		}
	}
	if err := ch.QueueBind(s.cfg.Queue, key, s.cfg.Exchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to exchange %s: %w", s.cfg.Queue, s.cfg.Exchange, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.NotFound
}

// redact keeps the URL's password out of connection errors.
func (s *RabbitMQSink) redact(err error) error {
	msg := err.Error()
	if u, perr := amqp.ParseURI(s.cfg.URL.Reveal()); perr == nil && u.Password != "" {
		msg = strings.ReplaceAll(msg, u.Password, "[REDACTED]")
	}
	msg = strings.ReplaceAll(msg, s.cfg.URL.Reveal(), "[REDACTED]")
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// amqpSession is one connection with its publishing channel.
type amqpSession struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	log  *slog.Logger
	// dead is closed when the session ends; exited when watch returned.
	dead, exited chan struct{}
	killOnce     sync.Once
	// syncReq lets a sender wait until watch has stored every return
	// received so far.
	syncReq chan chan struct{}
	mu      sync.Mutex
	returns map[string]string // message id -> broker's reason
}

func (p *amqpSession) isDead() bool {
	select {
	case <-p.dead:
		return true
	default:
		return false
	}
}

// kill ends the session once: the next Send connects again.
func (p *amqpSession) kill(why error) {
	p.killOnce.Do(func() {
		close(p.dead)
		p.log.Warn("notify: RabbitMQ connection ended; reconnecting on the next attempt", "err", why)
		go func() { _ = p.conn.CloseDeadline(time.Now().Add(rabbitCloseTimeout)) }()
	})
}

// watch records returned messages and ends the session when the broker
// closes the connection or the channel.
func (p *amqpSession) watch(rets <-chan amqp.Return, connClosed, chClosed <-chan *amqp.Error) {
	defer close(p.exited)
	for {
		select {
		case r, ok := <-rets:
			if !ok {
				rets = nil
				continue
			}
			p.mu.Lock()
			p.returns[r.MessageId] = fmt.Sprintf("%d %s", r.ReplyCode, r.ReplyText)
			p.mu.Unlock()
		case done := <-p.syncReq:
			close(done)
		case e := <-connClosed:
			p.kill(closeReason("connection", e))
			return
		case e := <-chClosed:
			p.kill(closeReason("channel", e))
			return
		case <-p.dead:
			return
		}
	}
}

func closeReason(what string, e *amqp.Error) error {
	if e == nil {
		return fmt.Errorf("RabbitMQ %s closed", what)
	}
	return fmt.Errorf("RabbitMQ %s closed: %w", what, e)
}

// returned reports whether the broker returned the message with this id.
// Called after its confirm: the broker sends a return before the confirm,
// and the library hands it to watch before it processes the confirm, so
// once watch has answered a sync request the return (if any) is stored.
func (p *amqpSession) returned(id string) (string, bool) {
	done := make(chan struct{})
	select {
	case p.syncReq <- done:
		<-done
	case <-p.exited:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	reason, ok := p.returns[id]
	delete(p.returns, id)
	return reason, ok
}
