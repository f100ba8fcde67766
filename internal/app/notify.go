package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/notify"
)

// newNotifiers builds one outbox worker per configured notification sink:
// the signed webhook (WEBHOOK_URL), bicycle's deposit webhook
// (WEBHOOK_ENDPOINT, bicycle profile) and RabbitMQ (RABBITMQ_URL, in
// bicycle's shape under the bicycle profile). Each registers its sink in
// the database, so it must run before anything enqueues.
func newNotifiers(ctx context.Context, db *pgxpool.Pool, cfg *config.Config, reg prometheus.Registerer, log *slog.Logger) ([]*notify.Worker, error) {
	log = log.With("component", "notify")
	var sinks []notify.Sink
	if cfg.WebhookURL != "" {
		s, err := notify.NewWebhookSink(cfg.WebhookURL, cfg.WebhookSecret)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	if cfg.BicycleWebhookURL != "" {
		s, err := notify.NewBicycleWebhookSink(cfg.BicycleWebhookURL, cfg.BicycleWebhookToken)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	if r := cfg.RabbitMQ; r != nil {
		s, err := notify.NewRabbitMQSink(notify.RabbitMQConfig{URL: r.URL, Exchange: r.Exchange, Queue: r.Queue,
			Bicycle: cfg.APICompat == config.CompatBicycle}, reg, log)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	var workers []*notify.Worker
	for _, s := range sinks {
		w, err := notify.NewWorker(ctx, db, s, notify.Options{}, reg, log)
		if err != nil {
			return nil, fmt.Errorf("notifications to %s: %w", s.Name(), err)
		}
		workers = append(workers, w)
	}
	return workers, nil
}

// notifierJob is the leader job (advisory lock) of a sink's worker: each
// sink runs on its own, so one that is down holds up no other. The signed
// webhook keeps the job name it had before there were several sinks, so a
// rolling upgrade never runs two of its workers at once.
func notifierJob(sink string) string {
	if sink == notify.WebhookSinkName {
		return "webhooks"
	}
	return "notify-" + sink
}
