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

// Reasons ParseCallback gives refused callbacks (the bridge counts them).
const (
	RejectSignature        = "signature"         // no key, missing headers, bad signature
	RejectStale            = "stale"             // x-access-timestamp outside CallbackMaxAge
	RejectMalformed        = "malformed"         // ambiguous or not the callback shape
	RejectProjectMismatch  = "project_mismatch"  // signed general.project_id not ours
	RejectMerchantMismatch = "merchant_mismatch" // x-access-merchant-id not ours
)

// ParseCallback verifies a HighHelp callback (signature with CallbackKey
// over base64url(Normalize(body)) + x-access-timestamp, timestamp within
// CallbackMaxAge of now), checks it is for our kassa, and parses it.
// HighHelp signs every merchant's callbacks with its one callback key, so
// the signature alone does not say whose payment it is: the signed
// general.project_id must be Config.ProjectID and the x-access-merchant-id
// header Config.MerchantID (both required), or the callback is refused.
// The payment kind comes from the request's "kind" query parameter
// ("payin" or "payout", default payin): the client gives payouts the
// callback URL with ?kind=payout, for the status mapping (action_required
// applies to payins only). Informative callbacks come back with
// Informative set. It changes no state; every failure is a
// bridge.CallbackError (wrapping bridge.ErrBadCallback) with a Reject*
// reason.
func (c *Client) ParseCallback(r *http.Request, body []byte) (bridge.Callback, error) {
	reject := func(reason, format string, args ...any) (bridge.Callback, error) {
		return bridge.Callback{}, bridge.RejectCallback(reason, fmt.Errorf("highhelp: callback: "+format, args...))
	}
	if !c.cfg.CallbackKey.Valid() {
		return reject(RejectSignature, "no callback key configured")
	}
	ts := r.Header.Get(HeaderTimestamp)
	sig := r.Header.Get(HeaderSignature)
	if ts == "" || sig == "" {
		return reject(RejectSignature, "missing %s or %s", HeaderTimestamp, HeaderSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return reject(RejectStale, "timestamp %q", ts)
	}
	age := c.cfg.Now().Sub(time.Unix(sec, 0))
	if age > c.cfg.CallbackMaxAge || age < -c.cfg.CallbackMaxAge {
		return reject(RejectStale, "timestamp %s is %s away from now", ts, age.Round(time.Second))
	}
	if err := c.cfg.Scheme.VerifyBody(c.cfg.CallbackKey, body, ts, sig); err != nil {
		return reject(RejectSignature, "%w", err)
	}
	if err := unambiguous(body); err != nil {
		return reject(RejectMalformed, "%w", err)
	}
	var resp PaymentResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return reject(RejectMalformed, "%w", err)
	}
	// The signed project first: the header is not covered by the signature.
	if resp.General == nil || !strings.EqualFold(strings.TrimSpace(resp.General.ProjectID), c.cfg.ProjectID) {
		got := ""
		if resp.General != nil {
			got = resp.General.ProjectID
		}
		return reject(RejectProjectMismatch, "general.project_id %q is not our kassa's", got)
	}
	if m := r.Header.Get(HeaderMerchantID); !strings.EqualFold(strings.TrimSpace(m), c.cfg.MerchantID) {
		return reject(RejectMerchantMismatch, "%s %q is not our kassa's", HeaderMerchantID, m)
	}
	ref := resp.Reference()
	if ref == "" || resp.Status == "" {
		return reject(RejectMalformed, "no payment_id or status")
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
