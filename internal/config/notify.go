package config

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// RabbitMQ is where notifications are published (RABBITMQ_*). The message
// shape (this processor's or bicycle's) follows Config.APICompat.
type RabbitMQ struct {
	// URL is amqp(s)://user:password@host:port/vhost.
	URL Secret
	// Exchange is never empty.
	Exchange string
	// Queue is "" when no queue is declared.
	Queue string
}

// String shows the broker without its password, for logs.
func (r *RabbitMQ) String() string {
	if r == nil {
		return ""
	}
	return redactURL(r.URL.Reveal(), false) + " exchange=" + r.Exchange + " queue=" + r.Queue
}

// Defaults of the RabbitMQ variables outside the bicycle profile, and the
// value of RABBITMQ_QUEUE that declares no queue.
const (
	defaultRabbitMQExchange = "processor.events"
	defaultRabbitMQQueue    = "processor.events"
	noRabbitMQQueue         = "-"
)

// gobicycle/bicycle's notification variables.
const (
	bicycleQueueEnabled = "QUEUE_ENABLED"
	bicycleQueueURI     = "QUEUE_URI"
	bicycleQueueName    = "QUEUE_NAME"
)

// bicycleNotifyVars documents bicycle's notification variables (read by
// bicycleQueue and bicycleWebhook) for BicycleVariables. bicycle's webhook
// names are ours too: this processor sends bicycle's webhook under them.
var bicycleNotifyVars = []BicycleVar{
	{Name: bicycleQueueEnabled, Ours: EnvRabbitMQURL,
		Read: "only with API_COMPAT=bicycle (bicycle's message shape): true turns QUEUE_URI and QUEUE_NAME on, as in bicycle; otherwise they are not read (warning). Without the profile any QUEUE_* variable stops the start: set RABBITMQ_URL for this processor's messages"},
	{Name: bicycleQueueURI, Ours: EnvRabbitMQURL, Read: "with QUEUE_ENABLED=true, as is; RABBITMQ_URL wins when both are set"},
	{Name: bicycleQueueName, Ours: EnvRabbitMQExchange,
		Read: "with QUEUE_ENABLED=true, as is: bicycle's QUEUE_NAME names a fanout exchange, declared as bicycle declares it when missing; no queue is declared unless RABBITMQ_QUEUE is set. RABBITMQ_EXCHANGE wins when both are set"},
	{Name: EnvWebhookEndpoint, Ours: EnvWebhookEndpoint,
		Read: "the same name: only with API_COMPAT=bicycle, deposits in bicycle's body (without the profile it stops the start: WEBHOOK_URL is this processor's webhook). Unlike bicycle's, a failed delivery is retried from the outbox, and the process does not exit"},
	{Name: EnvWebhookToken, Ours: EnvWebhookToken, Read: "the same name: sent as Authorization: Bearer <token> to WEBHOOK_ENDPOINT"},
}

// amqpNameRE: exchange and queue names RabbitMQ accepts and a shell or
// a log shows as they are.
var amqpNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,255}$`)

// bicycleWebhook reads WEBHOOK_ENDPOINT and WEBHOOK_TOKEN: bicycle's
// deposit webhook, which only the bicycle profile sends.
func (l *loader) bicycleWebhook(compat APICompat) (string, Secret) {
	endpoint, token := l.get(EnvWebhookEndpoint), l.get(EnvWebhookToken)
	if endpoint == "" {
		if token != "" {
			l.problemf(EnvWebhookToken, "is set but WEBHOOK_ENDPOINT is not, so nothing would be sent")
		}
		return "", Secret{}
	}
	ok := true
	if compat != CompatBicycle {
		// Without the profile a bicycle integration would silently get
		// nothing, or this processor's own webhook shape.
		l.problemf(EnvWebhookEndpoint, "is gobicycle/bicycle's deposit webhook and needs API_COMPAT=bicycle; for this processor's signed webhook set WEBHOOK_URL and WEBHOOK_SECRET")
		ok = false
	}
	// The URL may carry credentials, so it is not quoted back.
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.problemf(EnvWebhookEndpoint, "must be an absolute http:// or https:// URL")
		ok = false
	}
	for i := 0; i < len(token); i++ {
		if token[i] < 0x21 || token[i] > 0x7e {
			l.problemf(EnvWebhookToken, "must contain only visible ASCII characters (it is sent in a header)")
			ok = false
			break
		}
	}
	if !ok {
		return "", Secret{}
	}
	if token == "" {
		return endpoint, Secret{}
	}
	return endpoint, NewSecret(token)
}

// rabbitMQ reads RABBITMQ_URL, RABBITMQ_EXCHANGE and RABBITMQ_QUEUE, and
// with the bicycle profile bicycle's QUEUE_ENABLED, QUEUE_URI and
// QUEUE_NAME in their place (with a warning).
func (l *loader) rabbitMQ(compat APICompat) *RabbitMQ {
	rawURL, exchange, queue := l.get(EnvRabbitMQURL), l.get(EnvRabbitMQExchange), l.get(EnvRabbitMQQueue)
	if compat == CompatBicycle {
		rawURL, exchange = l.bicycleQueue(rawURL, exchange)
	} else {
		for _, name := range []string{bicycleQueueEnabled, bicycleQueueURI, bicycleQueueName} {
			if strings.TrimSpace(l.getenv(name)) != "" {
				l.problemf(name, "is gobicycle/bicycle's RabbitMQ setting and is read only with API_COMPAT=bicycle (bicycle's message shape); for this processor's messages set RABBITMQ_URL")
			}
		}
	}
	if rawURL == "" {
		for _, name := range []string{EnvRabbitMQExchange, EnvRabbitMQQueue} {
			if l.get(name) != "" {
				l.problemf(name, "is set but RABBITMQ_URL is not, so nothing would be published")
			}
		}
		return nil
	}
	ok := true
	// Only the fact is reported: the URL holds a password.
	if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" || !validPort(u.Port()) {
		l.problemf(EnvRabbitMQURL, "must be amqp://user:password@host:5672/vhost or amqps://...")
		ok = false
	}
	switch {
	case exchange == "" && compat == CompatBicycle:
		l.problemf(EnvRabbitMQExchange, "required with API_COMPAT=bicycle: the exchange bicycle's consumers bind to (bicycle's QUEUE_NAME)")
		ok = false
	case exchange == "":
		exchange = defaultRabbitMQExchange
	}
	switch {
	case queue == noRabbitMQQueue:
		queue = ""
	case queue == "" && compat != CompatBicycle:
		queue = defaultRabbitMQQueue
	}
	for _, nv := range [][2]string{{EnvRabbitMQExchange, exchange}, {EnvRabbitMQQueue, queue}} {
		if nv[1] != "" && (!amqpNameRE.MatchString(nv[1]) || strings.HasPrefix(nv[1], "amq.")) {
			l.problemf(nv[0], "%s must be 1-255 characters A-Z a-z 0-9 _ . : - and not start with amq. (reserved by RabbitMQ)", l.quote(nv[0], nv[1]))
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return &RabbitMQ{URL: NewSecret(rawURL), Exchange: exchange, Queue: queue}
}

// bicycleQueue reads bicycle's QUEUE_* into the RabbitMQ values left unset.
// QUEUE_ENABLED decides, as in bicycle: QUEUE_URI without it is not used.
func (l *loader) bicycleQueue(rawURL, exchange string) (string, string) {
	enabledText := strings.TrimSpace(l.getenv(bicycleQueueEnabled))
	uri, name := strings.TrimSpace(l.getenv(bicycleQueueURI)), strings.TrimSpace(l.getenv(bicycleQueueName))
	enabled := false
	if enabledText != "" {
		b, err := strconv.ParseBool(enabledText)
		if err != nil {
			l.problemf(bicycleQueueEnabled, "%q is not true or false", enabledText)
			return rawURL, exchange
		}
		enabled = b
	}
	if !enabled {
		if uri != "" || name != "" {
			l.warnf("QUEUE_URI/QUEUE_NAME (gobicycle/bicycle) are not read: QUEUE_ENABLED is not true, as bicycle would not publish either")
		}
		return rawURL, exchange
	}
	switch {
	case uri == "" && rawURL == "":
		l.problemf(bicycleQueueURI, "required with QUEUE_ENABLED=true (gobicycle/bicycle's RabbitMQ URL; this processor's name is RABBITMQ_URL)")
	case rawURL != "":
		if uri != "" {
			l.warnf("QUEUE_URI (gobicycle/bicycle's name) is ignored: RABBITMQ_URL is set and wins; remove QUEUE_URI")
		}
	default:
		rawURL = uri
		l.warnf("QUEUE_ENABLED=true and QUEUE_URI are gobicycle/bicycle's names: QUEUE_URI read as RABBITMQ_URL; rename it to RABBITMQ_URL")
	}
	switch {
	case exchange != "":
		if name != "" {
			l.warnf("QUEUE_NAME (gobicycle/bicycle's name) is ignored: RABBITMQ_EXCHANGE is set and wins; remove QUEUE_NAME")
		}
	case name != "":
		exchange = name
		l.warnf("QUEUE_NAME is gobicycle/bicycle's name (an exchange): read as RABBITMQ_EXCHANGE=%s; rename it to RABBITMQ_EXCHANGE", name)
	}
	return rawURL, exchange
}

func validPort(p string) bool {
	if p == "" {
		return true
	}
	_, err := strconv.ParseUint(p, 10, 16)
	return err == nil
}
