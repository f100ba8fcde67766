package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ton-custody/processor/internal/config"
)

// Sink names of the webhooks. "webhook" is the name the signed webhook's
// delivery state had before there were several sinks (migration 0012).
const (
	WebhookSinkName        = "webhook"
	BicycleWebhookSinkName = "bicycle_webhook"
)

// maxIdleConns bounds the idle connections a webhook sink keeps to its
// receiver: about one per concurrent send.
const maxIdleConns = DefaultConcurrency

// WebhookSink POSTs every event, signed, to the merchant's WEBHOOK_URL (see
// the package documentation for the request).
type WebhookSink struct {
	url    string
	secret config.Secret
	client *http.Client
}

// NewWebhookSink returns the signed webhook to webhookURL (an absolute http
// or https URL), keyed with secret.
func NewWebhookSink(webhookURL string, secret config.Secret) (*WebhookSink, error) {
	if err := checkWebhookURL(webhookURL); err != nil {
		return nil, err
	}
	if !secret.IsSet() {
		return nil, errors.New("notify: webhook secret is empty")
	}
	return &WebhookSink{url: webhookURL, secret: secret, client: newHTTPClient()}, nil
}

// Name implements Sink.
func (s *WebhookSink) Name() string { return WebhookSinkName }

// Topics implements Sink: every topic.
func (s *WebhookSink) Topics() []string { return nil }

// Send implements Sink: one signed POST; a 2xx answer is success.
func (s *WebhookSink) Send(ctx context.Context, m Message) error {
	body, err := m.Envelope()
	if err != nil {
		return err
	}
	ts := time.Now().Unix()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderEventID, m.EventID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(s.secret.Reveal(), ts, body))
	err = post(ctx, s.client, s.url, h, body, func(status int) bool { return status >= 200 && status < 300 })
	return redact(err, s.secret)
}

// redact keeps secret out of an error bound for last_error and the logs
// (a receiver may echo the request back in its answer).
func redact(err error, secret config.Secret) error {
	if err == nil || !secret.IsSet() || !strings.Contains(err.Error(), secret.Reveal()) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret.Reveal(), "[REDACTED]"))
}

// checkWebhookURL accepts an absolute http(s) URL. The URL may carry a
// token in its query, so the error does not quote it.
func checkWebhookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("notify: webhook URL must be an absolute http:// or https:// URL")
	}
	return nil
}

func newHTTPClient() *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = maxIdleConns
	return &http.Client{
		Transport: transport,
		// A redirected POST would be re-sent elsewhere (or turned into a
		// GET): count 3xx as a failure the merchant has to fix instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// post sends one POST and returns nil when ok accepts the status, else why
// not, in a form fit for last_error and logs: never the URL (its query may
// hold a token). A context deadline comes back as context.DeadlineExceeded
// for the Worker to word.
func post(ctx context.Context, client *http.Client, target string, h http.Header, body []byte, ok func(int) bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return errors.New("build request: " + unwrapURLError(err))
	}
	req.Header = h
	req.Header.Set("User-Agent", "ton-custody-processor")
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return context.DeadlineExceeded
		}
		return errors.New(unwrapURLError(err))
	}
	defer resp.Body.Close()
	if ok(resp.StatusCode) {
		// Read a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	msg := "HTTP " + resp.Status
	if s := printable(string(snippet)); s != "" {
		msg += ": " + s
	}
	return errors.New(msg)
}

// unwrapURLError drops the URL that net/http puts in its errors.
func unwrapURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
