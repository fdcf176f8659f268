package main

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/telemetry"
)

// watchServices points the metrics read at scrape time at this process's
// part of the bus: the durable consumers of its services, the dead-lettered
// results (writeback) and the credentials' ages (registry).
func watchServices(ctx context.Context, nb *natsBus, t targets, cfg Config, m *telemetry.Metrics, log *slog.Logger) {
	consumer := func(js jetstream.JetStream, stream, name string) func(context.Context) (jetstream.ConsumerInfo, error) {
		return func(ctx context.Context) (jetstream.ConsumerInfo, error) {
			c, err := js.Consumer(ctx, stream, name)
			if err != nil {
				return jetstream.ConsumerInfo{}, err
			}
			info, err := c.Info(ctx)
			if err != nil {
				return jetstream.ConsumerInfo{}, err
			}
			return *info, nil
		}
	}
	if t.has(targetWriteback) {
		js := nb.js(bus.RoleWriteback)
		m.WatchConsumer(cfg.Writeback.ConsumerName(), consumer(js, bus.StreamResults, cfg.Writeback.ConsumerName()))
		if kv, err := js.KeyValue(ctx, bus.BucketWritebackLedger); err == nil {
			if err := m.WatchDeadLetters(ctx, kv); err != nil {
				log.Warn("dead-letter backlog metric off", "error", err)
			}
		}
	}
	if t.has(targetKnowledge) {
		m.WatchConsumer(cfg.Knowledge.Consumer, consumer(nb.js(bus.RoleKnowledge), bus.StreamTickets, cfg.Knowledge.Consumer))
	}
	if t.has(targetRegistry) {
		if kv, err := nb.js(bus.RoleRegistry).KeyValue(ctx, bus.BucketConnectors); err == nil {
			store := connector.NewStore(kv)
			m.WatchCredentials(store.List)
		}
	}
}
