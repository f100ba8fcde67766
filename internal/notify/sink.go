package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Sink is one way out of the outbox: the signed webhook, bicycle's
// webhook, RabbitMQ. A Worker feeds it; retries, backoff, ordering per key,
// leases and giving up are the Worker's, so a sink only has to make one
// attempt. internal/notify/sinktest checks a sink against that contract.
type Sink interface {
	// Name identifies the sink's delivery state (outbox_sinks.name,
	// outbox_deliveries.sink) and its metrics (the sink label): 1-63
	// lower-case letters, digits and underscores, starting with a letter.
	// It must stay the same across restarts, or the sink starts afresh.
	Name() string
	// Topics are the event topics the sink takes; nil takes every topic.
	// Events of other topics are never queued for it.
	Topics() []string
	// Send makes one attempt to hand m over and returns nil only once the
	// receiver has it (a 2xx answer, a broker confirm). ctx carries the
	// attempt's deadline. An error is retried later; its text is stored in
	// outbox_deliveries.last_error and logged, so it must not contain a
	// secret. Send is called concurrently (Options.Concurrency), never
	// twice at once for the same event.
	Send(ctx context.Context, m Message) error
}

// Message is one event as a sink gets it.
type Message struct {
	// EventID is the stable event id (Event.ID): the same on every attempt
	// and for every sink, what receivers deduplicate by.
	EventID string
	// Topic is the event's type, e.g. TopicDeposit.
	Topic string
	// CreatedAt is when the enqueuing transaction started.
	CreatedAt time.Time
	// Data is the payload as stored (PostgreSQL jsonb text: keys may be
	// in another order than the producer wrote them).
	Data json.RawMessage
	// Attempt counts this sink's attempts at the event, this one included.
	Attempt int
}

// Envelope is the body the signed webhook and RabbitMQ carry:
// {"event_id","type","created_at","data"} in that order, created_at in
// RFC 3339 UTC whole seconds, without a trailing newline. It is the same
// bytes on every attempt.
func (m Message) Envelope() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keep data as stored: no \u003c for "<" in, say, a comment.
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		EventID   string          `json:"event_id"`
		Type      string          `json:"type"`
		CreatedAt string          `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}{m.EventID, m.Topic, m.CreatedAt.UTC().Format(time.RFC3339), m.Data})
	if err != nil {
		return nil, fmt.Errorf("notify: build body of %s: %w", m.EventID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

var sinkNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// checkSink validates what a Worker needs from a sink.
func checkSink(s Sink) error {
	if s == nil {
		return fmt.Errorf("notify: no sink")
	}
	if !sinkNameRE.MatchString(s.Name()) {
		return fmt.Errorf("notify: sink name %q must be 1-63 lower-case letters, digits or underscores, starting with a letter", s.Name())
	}
	for _, t := range s.Topics() {
		if !topicRE.MatchString(t) {
			return fmt.Errorf("notify: sink %s: topic %q is not a valid topic", s.Name(), t)
		}
	}
	return nil
}
