package highhelp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
)

// Callback kinds. HighHelp posts informative, success and decline callbacks
// (to three URLs). The kind is taken from the status: success and decline
// are final, everything else is informative and must not change state.
const (
	KindInformative = "informative"
	KindSuccess     = "success"
	KindDecline     = "decline"
)

// CallbackKind returns the callback kind of a HighHelp status.
func CallbackKind(status string) string {
	switch status {
	case "success":
		return KindSuccess
	case "decline":
		return KindDecline
	}
	return KindInformative
}

// ParseCallback verifies a HighHelp callback (signature with CallbackKey
// over base64url(Normalize(body)) + x-access-timestamp, timestamp within
// CallbackMaxAge of now) and parses it. The payment kind comes from the
// request's "kind" query parameter ("payin" or "payout", default payin):
// register callback URLs with ?kind=payout for payouts, as the bridge does
// for the status mapping (action_required applies to payins only).
// Informative callbacks come back with Informative set. It changes no
// state; every failure wraps bridge.ErrBadCallback.
func (c *Client) ParseCallback(r *http.Request, body []byte) (bridge.Callback, error) {
	if !c.cfg.CallbackKey.Valid() {
		return bridge.Callback{}, fmt.Errorf("highhelp: callback: no callback key configured: %w", bridge.ErrBadCallback)
	}
	ts := r.Header.Get(HeaderTimestamp)
	sig := r.Header.Get(HeaderSignature)
	if ts == "" || sig == "" {
		return bridge.Callback{}, fmt.Errorf("highhelp: callback: missing %s or %s: %w", HeaderTimestamp, HeaderSignature, bridge.ErrBadCallback)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return bridge.Callback{}, fmt.Errorf("highhelp: callback: timestamp %q: %w", ts, bridge.ErrBadCallback)
	}
	age := c.cfg.Now().Sub(time.Unix(sec, 0))
	if age > c.cfg.CallbackMaxAge || age < -c.cfg.CallbackMaxAge {
		return bridge.Callback{}, fmt.Errorf("highhelp: callback: timestamp %s is %s away from now: %w", ts, age.Round(time.Second), bridge.ErrBadCallback)
	}
	if err := c.cfg.Scheme.VerifyBody(c.cfg.CallbackKey, body, ts, sig); err != nil {
		return bridge.Callback{}, fmt.Errorf("highhelp: callback: %w: %w", err, bridge.ErrBadCallback)
	}
	if err := unambiguous(body); err != nil {
		return bridge.Callback{}, fmt.Errorf("highhelp: callback: %w: %w", err, bridge.ErrBadCallback)
	}
	var resp PaymentResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return bridge.Callback{}, fmt.Errorf("highhelp: callback: %w: %w", err, bridge.ErrBadCallback)
	}
	ref := resp.Reference()
	if ref == "" || resp.Status == "" {
		return bridge.Callback{}, fmt.Errorf("highhelp: callback: no payment_id or status: %w", bridge.ErrBadCallback)
	}
	kind := bridge.Payin
	if r.URL != nil && r.URL.Query().Get("kind") == string(bridge.Payout) {
		kind = bridge.Payout
	}
	return bridge.Callback{
		Reference:   ref,
		Result:      resp.Result(kind),
		Informative: CallbackKind(resp.Status) == KindInformative,
	}, nil
}

// unambiguous refuses bodies whose normalized form could also be another
// body's: the signature covers "path:value" lines joined with ";", so a
// ";" in a key or value, or a ":" or "." in a key, lets a different body
// (say, a genuine callback echoing text a payer chose) share a
// signature. Genuine HighHelp keys are plain; a genuine callback refused
// here is still settled by the reconciler's status polling.
func unambiguous(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	var walk func(any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if strings.ContainsAny(k, ";:"+PathSeparator) {
					return fmt.Errorf("key %q contains a separator of the signed form", k)
				}
				if err := walk(e); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case string:
			if strings.Contains(x, ";") {
				return errors.New(`a value contains ";", the line separator of the signed form`)
			}
		}
		return nil
	}
	return walk(v)
}
