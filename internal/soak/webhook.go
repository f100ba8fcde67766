package soak

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ton-custody/processor/internal/notify"
)

// receiver is the merchant's webhook endpoint: it verifies every request's
// signature (notify.Verify) and records the event ids it accepted. During an
// outage it answers 503 without looking at the request.
type receiver struct {
	secret string
	srv    *http.Server
	URL    string

	mu         sync.Mutex
	downUntil  time.Time
	seen       map[string]int // event id -> valid deliveries
	deliveries int
	refused    int // answered 503 during outages
	invalid    []string
	bridge     map[string][]bridgeSeen // bridge_payment event id -> the data of each delivery
}

// bridgeSeen is what a bridge_payment webhook said.
type bridgeSeen struct{ Reference, Status string }

func startReceiver(secret string) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	r := &receiver{secret: secret, seen: map[string]int{}, bridge: map[string][]bridgeSeen{}, URL: "http://" + ln.Addr().String() + "/hook"}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) close() { _ = r.srv.Close() }

// outage makes the receiver answer 503 for d.
func (r *receiver) outage(d time.Duration) {
	r.mu.Lock()
	r.downUntil = time.Now().Add(d)
	r.mu.Unlock()
}

func (r *receiver) up() {
	r.mu.Lock()
	r.downUntil = time.Time{}
	r.mu.Unlock()
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	down := time.Now().Before(r.downUntil)
	if down {
		r.refused++
	}
	r.mu.Unlock()
	if down {
		http.Error(w, "receiver outage (soak fault)", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	id := req.Header.Get(notify.HeaderEventID)
	err = notify.Verify(r.secret, req.Header.Get(notify.HeaderTimestamp), string(body), req.Header.Get(notify.HeaderSignature), 5*time.Minute)
	var env struct {
		EventID string          `json:"event_id"`
		Type    string          `json:"type"`
		Data    json.RawMessage `json:"data"`
	}
	if err == nil {
		if jerr := json.Unmarshal(body, &env); jerr != nil {
			err = fmt.Errorf("body: %w", jerr)
		} else if env.EventID != id {
			err = fmt.Errorf("body event_id %q differs from the header %q", env.EventID, id)
		} else if id == "" {
			err = errors.New("no event id")
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.invalid = append(r.invalid, fmt.Sprintf("event %q: %v", id, err))
		http.Error(w, "invalid", http.StatusUnauthorized)
		return
	}
	r.deliveries++
	r.seen[id]++
	if env.Type == bridgeTopic {
		var b bridgeSeen
		_ = json.Unmarshal(env.Data, &struct {
			Reference *string `json:"reference"`
			Status    *string `json:"status"`
		}{&b.Reference, &b.Status})
		r.bridge[id] = append(r.bridge[id], b)
	}
	w.WriteHeader(http.StatusNoContent)
}

// bridgeSnapshot returns the data of every bridge_payment delivery by
// event id.
func (r *receiver) bridgeSnapshot() map[string][]bridgeSeen {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]bridgeSeen, len(r.bridge))
	for k, v := range r.bridge {
		out[k] = append([]bridgeSeen(nil), v...)
	}
	return out
}

func (r *receiver) snapshot() (seen map[string]int, deliveries, refused int, invalid []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen = make(map[string]int, len(r.seen))
	for k, v := range r.seen {
		seen[k] = v
	}
	return seen, r.deliveries, r.refused, append([]string(nil), r.invalid...)
}
