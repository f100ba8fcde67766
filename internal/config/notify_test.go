package config_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ton-custody/processor/internal/config"
)

const (
	rabbitPassword = "Rabbit-Pw-Distinctive-77"
	rabbitURL      = "amqp://proc:" + rabbitPassword + "@mq.internal:5672/payments"
	bicycleToken   = "bicycle-Token-Distinctive-55"
)

func TestNotificationSinksDefaultOff(t *testing.T) {
	t.Parallel()
	c, err := config.Load(getenv(baseEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.RabbitMQ != nil || c.BicycleWebhookURL != "" || c.BicycleWebhookToken.IsSet() {
		t.Fatalf("RabbitMQ %v, bicycle webhook %q: want both off by default", c.RabbitMQ, c.BicycleWebhookURL)
	}
}

func TestRabbitMQSettings(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name            string
		env             map[string]string
		exchange, queue string
		warn            []string
	}{
		{"defaults", map[string]string{"RABBITMQ_URL": rabbitURL}, "processor.events", "processor.events", nil},
		{"named", map[string]string{"RABBITMQ_URL": rabbitURL, "RABBITMQ_EXCHANGE": "payments.x", "RABBITMQ_QUEUE": "payments:q"}, "payments.x", "payments:q", nil},
		{"no queue", map[string]string{"RABBITMQ_URL": rabbitURL, "RABBITMQ_QUEUE": "-"}, "processor.events", "", nil},
		{"bicycle: exchange required, no queue by default",
			map[string]string{"API_COMPAT": "bicycle", "RABBITMQ_URL": rabbitURL, "RABBITMQ_EXCHANGE": "incomes"}, "incomes", "", nil},
		{"bicycle: a queue on request",
			map[string]string{"API_COMPAT": "bicycle", "RABBITMQ_URL": rabbitURL, "RABBITMQ_EXCHANGE": "incomes", "RABBITMQ_QUEUE": "incomes.kept"}, "incomes", "incomes.kept", nil},
		{"bicycle's names", map[string]string{"API_COMPAT": "bicycle", "QUEUE_ENABLED": "true", "QUEUE_URI": rabbitURL, "QUEUE_NAME": "incomes"},
			"incomes", "", []string{"QUEUE_URI read as RABBITMQ_URL", "RABBITMQ_EXCHANGE=incomes"}},
		{"ours win over bicycle's", map[string]string{"API_COMPAT": "bicycle", "QUEUE_ENABLED": "1", "QUEUE_URI": "amqp://other/", "QUEUE_NAME": "old",
			"RABBITMQ_URL": rabbitURL, "RABBITMQ_EXCHANGE": "new"}, "new", "", []string{"QUEUE_URI (gobicycle/bicycle's name) is ignored", "QUEUE_NAME (gobicycle/bicycle's name) is ignored"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := config.Load(getenv(env))
			if err != nil {
				t.Fatal(err)
			}
			if c.RabbitMQ == nil || c.RabbitMQ.URL.Reveal() != rabbitURL || c.RabbitMQ.Exchange != tt.exchange || c.RabbitMQ.Queue != tt.queue {
				t.Fatalf("RabbitMQ %+v, want %s exchange %q queue %q", c.RabbitMQ, rabbitURL, tt.exchange, tt.queue)
			}
			for _, w := range tt.warn {
				if !slices.ContainsFunc(c.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("no warning mentions %q: %q", w, c.Warnings)
				}
			}
			for _, out := range []string{c.String(), fmt.Sprint(c.Warnings)} {
				if strings.Contains(out, rabbitPassword) {
					t.Errorf("the RabbitMQ password is printed: %s", out)
				}
			}
			if !strings.Contains(c.String(), "mq.internal:5672") {
				t.Errorf("the broker is not shown in %s", c)
			}
		})
	}
}

func TestBicycleQueueDisabledIsNotRead(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["API_COMPAT"], env["QUEUE_ENABLED"], env["QUEUE_URI"], env["QUEUE_NAME"] = "bicycle", "false", rabbitURL, "incomes"
	c, err := config.Load(getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.RabbitMQ != nil || !slices.ContainsFunc(c.Warnings, func(s string) bool { return strings.Contains(s, "QUEUE_ENABLED is not true") }) {
		t.Fatalf("RabbitMQ %v, warnings %q: want off, and a warning", c.RabbitMQ, c.Warnings)
	}
}

func TestBicycleWebhookSettings(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["API_COMPAT"], env["WEBHOOK_ENDPOINT"], env["WEBHOOK_TOKEN"] = "bicycle", "https://merchant.example/deposit?k=v", bicycleToken
	env["WEBHOOK_URL"], env["WEBHOOK_SECRET"] = "https://merchant.example/signed", webhookSecret
	c, err := config.Load(getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.BicycleWebhookURL != env["WEBHOOK_ENDPOINT"] || c.BicycleWebhookToken.Reveal() != bicycleToken || c.WebhookURL != env["WEBHOOK_URL"] {
		t.Fatalf("bicycle webhook %q token set %v, signed webhook %q: want both webhooks on", c.BicycleWebhookURL, c.BicycleWebhookToken.IsSet(), c.WebhookURL)
	}
	printed, _ := json.Marshal(c)
	for _, out := range []string{c.String(), string(printed)} {
		if strings.Contains(out, bicycleToken) || strings.Contains(out, "k=v") {
			t.Errorf("the token or the endpoint's query is printed: %s", out)
		}
	}
	delete(env, "WEBHOOK_TOKEN")
	if c, err = config.Load(getenv(env)); err != nil || c.BicycleWebhookToken.IsSet() {
		t.Fatalf("without WEBHOOK_TOKEN: %v, token set %v; want no token", err, c.BicycleWebhookToken.IsSet())
	}
}

func TestNotificationSettingsProblems(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"bicycle webhook without the profile", map[string]string{"WEBHOOK_ENDPOINT": "https://m.example/d"}, []string{"WEBHOOK_ENDPOINT"}},
		{"token without endpoint", map[string]string{"WEBHOOK_TOKEN": bicycleToken}, []string{"WEBHOOK_TOKEN"}},
		{"relative endpoint", map[string]string{"API_COMPAT": "bicycle", "WEBHOOK_ENDPOINT": "/deposit"}, []string{"WEBHOOK_ENDPOINT"}},
		{"token with a space", map[string]string{"API_COMPAT": "bicycle", "WEBHOOK_ENDPOINT": "https://m.example/d", "WEBHOOK_TOKEN": "a " + bicycleToken}, []string{"WEBHOOK_TOKEN"}},
		{"exchange without URL", map[string]string{"RABBITMQ_EXCHANGE": "x"}, []string{"RABBITMQ_EXCHANGE"}},
		{"queue without URL", map[string]string{"RABBITMQ_QUEUE": "q"}, []string{"RABBITMQ_QUEUE"}},
		{"http URL", map[string]string{"RABBITMQ_URL": "http://proc:" + rabbitPassword + "@mq/"}, []string{"RABBITMQ_URL"}},
		{"bad port", map[string]string{"RABBITMQ_URL": "amqp://proc:" + rabbitPassword + "@mq:99999/"}, []string{"RABBITMQ_URL"}},
		{"reserved exchange", map[string]string{"RABBITMQ_URL": rabbitURL, "RABBITMQ_EXCHANGE": "amq.topic"}, []string{"RABBITMQ_EXCHANGE"}},
		{"queue with a space", map[string]string{"RABBITMQ_URL": rabbitURL, "RABBITMQ_QUEUE": "my queue"}, []string{"RABBITMQ_QUEUE"}},
		{"bicycle without exchange", map[string]string{"API_COMPAT": "bicycle", "RABBITMQ_URL": rabbitURL}, []string{"RABBITMQ_EXCHANGE"}},
		{"bicycle's QUEUE_URI without the profile", map[string]string{"QUEUE_ENABLED": "true", "QUEUE_URI": rabbitURL}, []string{"QUEUE_ENABLED", "QUEUE_URI"}},
		{"QUEUE_ENABLED not a boolean", map[string]string{"API_COMPAT": "bicycle", "QUEUE_ENABLED": "yes please"}, []string{"QUEUE_ENABLED"}},
		{"QUEUE_ENABLED without QUEUE_URI", map[string]string{"API_COMPAT": "bicycle", "QUEUE_ENABLED": "true"}, []string{"QUEUE_URI"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			_, err := config.Load(getenv(env))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if got := problemVars(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problems with %v, want %v: %v", got, tt.want, err)
			}
			if strings.Contains(err.Error(), rabbitPassword) || strings.Contains(err.Error(), bicycleToken) {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}
