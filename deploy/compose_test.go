package deploy_test

import (
	"net/url"
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
)

// docker-compose.yml builds the image once (processor-1) and runs tonsim
// and both replicas from it, and hands the mnemonic over as a file
// secret, never in the environment.
func TestComposeBuildsOnceAndKeepsTheSeedInAFileSecret(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string         `yaml:"image"`
			Build       yaml.Node      `yaml:"build"`
			Environment map[string]any `yaml:"environment"`
			Secrets     []string       `yaml:"secrets"`
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	builds := 0
	for _, name := range []string{"tonsim", "processor-1", "processor-2"} {
		s, ok := doc.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if s.Image != "ton-custody-processor:local" {
			t.Errorf("%s uses image %q", name, s.Image)
		}
		// "build: !reset null" (compose's way to drop an inherited key)
		// decodes as a tagged scalar, not a build.
		if s.Build.Kind != 0 && s.Build.Tag != "!reset" {
			builds++
		}
		if name != "tonsim" {
			if _, ok := s.Environment["SEED"]; ok {
				t.Errorf("%s has the mnemonic in its environment", name)
			}
			if s.Environment["SEED_FILE"] != "/run/secrets/processor_seed" || len(s.Secrets) != 1 || s.Secrets[0] != "processor_seed" {
				t.Errorf("%s does not read the seed from the processor_seed secret: %v %v", name, s.Environment["SEED_FILE"], s.Secrets)
			}
		}
	}
	if builds != 1 {
		t.Errorf("%d services build the image, want 1", builds)
	}
	if doc.Secrets["processor_seed"].File == "" {
		t.Error("the processor_seed secret has no file")
	}
	// The optional RabbitMQ sink publishes to the compose file's broker,
	// with the user the broker is started with.
	for _, name := range []string{"processor-1", "processor-2"} {
		raw, _ := doc.Services[name].Environment["RABBITMQ_URL"].(string)
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "amqp" {
			t.Fatalf("%s: RABBITMQ_URL %q is not an amqp:// URL", name, raw)
		}
		mq, ok := doc.Services[u.Hostname()]
		pass, _ := u.User.Password()
		if !ok || mq.Environment["RABBITMQ_DEFAULT_USER"] != u.User.Username() || mq.Environment["RABBITMQ_DEFAULT_PASS"] != pass {
			t.Errorf("%s: RABBITMQ_URL %s does not name the broker service and the user it starts with", name, u.Redacted())
		}
	}
}
