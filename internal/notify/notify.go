// Package notify tells the merchant backend about deposits and withdrawal
// outcomes through a transactional outbox, delivered by sinks: the signed
// webhook (WebhookSink), bicycle's deposit webhook (BicycleWebhookSink)
// and RabbitMQ (RabbitMQSink). Each sink is one small interface (Sink); one
// Worker per sink moves the outbox to it, and the behaviour below holds
// for all of them (internal/notify/sinktest proves it for each).
//
// # Enqueueing
//
// Enqueue writes an event into the outbox table inside the caller's
// transaction, so the event exists if and only if the change it reports
// (a credited deposit, a final withdrawal state) was committed. Its Event.ID
// is the outbox's dedup_key: enqueueing the same ID again is a no-op, so a
// block redone after a crash does not produce a second event. The first
// payload written for an ID wins.
//
// # Sinks and their delivery state
//
// Every sink has a row in outbox_sinks (written by NewWorker: its name and
// the topics it takes) and, for each event enqueued after that with one of
// its topics, a row in outbox_deliveries (written by a trigger in the
// enqueuing transaction) holding that sink's own attempts, next attempt,
// last error and outcome. So a sink that is down holds up nobody else, and
// nothing is lost for it: its events wait in its rows until it is back.
// A sink receives the events enqueued after it was first configured;
// events of a sink that is no longer configured wait until it is again, or
// until it is retired (DELETE FROM outbox_sinks WHERE name = '...', which
// drops its pending deliveries). outbox.delivered_at and given_up_at sum the
// sinks up: set once every sink has delivered (or, for given_up_at, has
// finished and one gave up).
//
// # Delivery
//
// A Worker sends every pending event of its sink at least once. Events are
// claimed in the order they became due (new events: in id order), but they
// are sent concurrently and a failing one is retried later while newer ones
// go on, so there is no order in general: the receiver must deduplicate by
// event id and must not infer order from arrival. Events that share an
// Event.OrderKey are the exception: each sink gets them in enqueue order,
// the next one not before the previous one was delivered or given up.
//
// A sink's Send reports success once the receiver has the event (a 2xx, a
// broker confirm). Anything else (an error, a timeout) is retried with
// exponential backoff and jitter: the n-th failed attempt waits a random
// duration in [d/2, d] with d = min(BackoffBase * 2^(n-1), BackoffCap). The
// last attempt is made when RetryPeriod has passed since created_at; if that
// fails too the event is given up for that sink
// (outbox_deliveries.given_up_at) and counted in
// processor_notify_given_up_total. To send given-up events again:
// UPDATE outbox_deliveries SET given_up_at = NULL, next_attempt_at = now()
// WHERE sink = '...' AND given_up_at IS NOT NULL (each then gets one more
// attempt).
//
// Several Workers of one sink (one per processor instance) may run on one
// database. A worker claims due rows with FOR UPDATE SKIP LOCKED and pushes
// their next_attempt_at forward by a lease (SendTimeout + 1 minute) in the
// same statement, so no two workers send the same event at the same time and
// no transaction stays open during a send; an event whose worker died
// between sending and recording becomes due again when its lease ends and
// is sent again (the receiver sees the same event id twice).
//
// Workers wake up as soon as an event is committed: an outbox trigger runs
// pg_notify('processor_outbox') and each worker LISTENs on that channel on
// a connection of its own. Polling every PollInterval covers a lost
// listening connection, and retries are woken at their due time.
//
// # The signed webhook
//
//	POST <WEBHOOK_URL>
//	Content-Type: application/json
//	X-Processor-Event-Id: deposit:5f0c...            (= event_id in the body)
//	X-Processor-Timestamp: 1700000000                (unix seconds, this attempt)
//	X-Processor-Signature: sha256=3b1f...            (64 lower-case hex digits)
//
//	{"event_id":"deposit:5f0c...","type":"deposit","created_at":"2023-11-14T22:13:20Z","data":{...}}
//
// The body (Message.Envelope) is one JSON object: event_id (the stable event
// id; the same on every attempt), type (the topic: "deposit", "withdrawal",
// "service_withdrawal", "bridge_payment"), created_at (RFC 3339, UTC, whole
// seconds: when the enqueuing transaction started) and data (the event's
// payload). The body is byte for byte the same on every attempt; data's keys
// may come in another order than the producer wrote them (PostgreSQL jsonb).
// RabbitMQ (outside the bicycle profile) carries the same body.
//
// # Verifying a webhook
//
// The signature is the HMAC-SHA256, keyed with WEBHOOK_SECRET (the bytes
// of the string as configured, not hex- or base64-decoded), of the
// X-Processor-Timestamp value, a full stop, and the raw request body:
//
//	X-Processor-Signature = "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body))
//
// A receiver recomputes it over the raw body bytes (before any JSON
// parsing), compares it in constant time, rejects timestamps more than a
// few minutes from its clock (each attempt is signed afresh, so a retry
// carries a current timestamp), and then deduplicates by event_id. Verify
// does all but the deduplication; in a shell, the expected header is
// "sha256=" followed by the output of
//
//	printf '%s.%s' "$TIMESTAMP" "$BODY" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET"
//
// The receiver should answer 2xx once it has stored the event, within
// SendTimeout (10 s by default), and also for a type it does not know:
// any other answer makes the event come back until it is given up.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
)

// Topics: the "type" of an event in the webhook body. The merchant's
// integration switches on them, so they are part of the API contract.
const (
	// TopicDeposit reports a credited deposit.
	TopicDeposit = "deposit"
	// TopicWithdrawal reports a withdrawal that reached a final state.
	TopicWithdrawal = "withdrawal"
	// TopicServiceWithdrawal reports a service withdrawal's outcome.
	TopicServiceWithdrawal = "service_withdrawal"
	// TopicBridgePayment reports a fiat bridge payment's status change.
	TopicBridgePayment = "bridge_payment"
)

// Event is one notification to enqueue.
type Event struct {
	// Topic is the event's type, e.g. TopicDeposit: lower-case letters,
	// digits and underscores, starting with a letter.
	Topic string
	// ID is the stable event id, e.g. "deposit:<tx_hash hex>": the same
	// change must always produce the same ID, because it is what makes a
	// repeated Enqueue a no-op and what the receiver deduplicates by. It is
	// sent in a header too, so it is limited to 200 visible ASCII
	// characters (no spaces).
	ID string
	// Payload becomes the body's "data": any value encoding/json marshals
	// to something other than null (json.RawMessage passes through).
	Payload any
	// OrderKey, when set, orders the event after every earlier event with
	// the same key (e.g. "bridge:<reference>" for a payment's successive
	// statuses): each sink gets it only once those were delivered or given
	// up. Same character rules as ID. Empty: no order.
	OrderKey string
}

var (
	topicRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	eventIDRE = regexp.MustCompile(`^[\x21-\x7e]{1,200}$`)
)

// Validate reports why e cannot be enqueued, if it cannot; producers may
// call it in their own tests.
func (e Event) Validate() error {
	if !topicRE.MatchString(e.Topic) {
		return fmt.Errorf("notify: event topic %q must be 1-64 lower-case letters, digits or underscores, starting with a letter", e.Topic)
	}
	if !eventIDRE.MatchString(e.ID) {
		return fmt.Errorf("notify: event id %q must be 1-200 visible ASCII characters (it is sent in a header)", e.ID)
	}
	if e.OrderKey != "" && !eventIDRE.MatchString(e.OrderKey) {
		return fmt.Errorf("notify: order key %q of %s must be 1-200 visible ASCII characters", e.OrderKey, e.ID)
	}
	return nil
}

// Enqueue writes e into the outbox inside tx, the caller's transaction:
// the event is delivered only if tx commits. It reports whether a row was
// inserted: false means an event with the same ID was already enqueued
// (earlier in tx, or by a committed transaction), which is not an error.
//
// If another open transaction has enqueued the same ID, Enqueue waits for
// it to end (PostgreSQL's unique index does), as any insert would.
func Enqueue(ctx context.Context, tx pgx.Tx, e Event) (inserted bool, err error) {
	if err := e.Validate(); err != nil {
		return false, err
	}
	payload, err := e.marshal()
	if err != nil {
		return false, err
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO outbox (topic, payload, dedup_key, order_key) VALUES ($1, $2::jsonb, $3, nullif($4, ''))
		ON CONFLICT (dedup_key) DO NOTHING RETURNING id`, e.Topic, string(payload), e.ID, e.OrderKey).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("notify: enqueue %s: %w", e.ID, err)
	}
	return true, nil
}

// EnqueueAll is Enqueue for many events in one statement (one round trip),
// for producers that commit many at once, such as the scanner catching up.
// Events are validated first: if one is invalid nothing is written. IDs
// already enqueued, or repeated within events, are skipped (the first one
// wins); inserted counts the rows written. Outbox ids follow the order of
// events.
func EnqueueAll(ctx context.Context, tx pgx.Tx, events []Event) (inserted int, err error) {
	if len(events) == 0 {
		return 0, nil
	}
	args, err := enqueueArgs(events)
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, enqueueAllSQL, args...)
	if err != nil {
		return 0, fmt.Errorf("notify: enqueue %d events (first %s): %w", len(events), events[0].ID, err)
	}
	return int(tag.RowsAffected()), nil
}

// QueueAll is EnqueueAll as the next statement of b, for a caller that
// sends its transaction's last statements and COMMIT in one round trip.
func QueueAll(b *pgx.Batch, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	args, err := enqueueArgs(events)
	if err != nil {
		return err
	}
	b.Queue(enqueueAllSQL, args...)
	return nil
}

const enqueueAllSQL = `INSERT INTO outbox (topic, payload, dedup_key, order_key)
		SELECT topic, payload::jsonb, dedup_key, nullif(order_key, '')
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS e(topic, payload, dedup_key, order_key, n)
		ORDER BY n
		ON CONFLICT (dedup_key) DO NOTHING`

// enqueueArgs validates events and returns enqueueAllSQL's arguments.
func enqueueArgs(events []Event) ([]any, error) {
	topics := make([]string, len(events))
	payloads := make([]string, len(events))
	ids := make([]string, len(events))
	keys := make([]string, len(events))
	for i, e := range events {
		if err := e.Validate(); err != nil {
			return nil, err
		}
		p, err := e.marshal()
		if err != nil {
			return nil, err
		}
		topics[i], payloads[i], ids[i], keys[i] = e.Topic, string(p), e.ID, e.OrderKey
	}
	return []any{topics, payloads, ids, keys}, nil
}

// marshal returns the payload's JSON.
func (e Event) marshal() ([]byte, error) {
	payload, err := json.Marshal(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("notify: enqueue %s: marshal payload: %w", e.ID, err)
	}
	if string(payload) == "null" {
		return nil, fmt.Errorf("notify: enqueue %s: payload is null", e.ID)
	}
	return payload, nil
}
