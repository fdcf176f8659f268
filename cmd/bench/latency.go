package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	"github.com/connectorhub/connectorhub/services/poller"
	"github.com/connectorhub/connectorhub/services/webhooks"
)

// Latency: tracker change → ticket.updated on the bus, with and without
// webhooks, in the same run. One fake Jira Cloud; two connectors on the
// same account and tickets, polled by one poller (poller.Run, default
// config, in this process) every -latency-interval: "poll" has no webhook,
// "webhook" has `webhook: true` and a webhook receiver (webhooks.Run,
// loopback) in front. Each change touches a ticket in the fake, then sends
// the signed delivery Jira sends (X-Hub-Signature over the body) to the
// receiver, and waits for the ticket.updated event of both connectors.
// The fake Jira sends the delivery itself, right after the change (its
// RegisterWebhook), so the figure excludes real Jira's own sending delay.
func runLatency(ctx context.Context, o options, rep *report, progress func(string, ...any)) error {
	env, err := startBus(ctx, "")
	if err != nil {
		return err
	}
	defer env.close()
	js := env.js
	jira := jirafake.NewSandbox(connector.Cloud)
	ts := httptest.NewServer(jira)
	defer ts.Close()
	kv, err := js.KeyValue(ctx, bus.BucketConnectors)
	if err != nil {
		return err
	}
	store := connector.NewStore(kv)
	const secret = "bench-webhook-secret"
	now := time.Now()
	var keys []string
	for i := range 5 {
		keys = append(keys, jira.AddTicket(jirafake.Ticket{Summary: fmt.Sprintf("Latency bench %d", i), Description: benchDescription,
			Assignee: jirafake.SandboxEmail, Created: now.Add(-time.Hour), Updated: now.Add(-time.Hour)}))
	}
	for _, id := range []string{"bench-lat-poll", "bench-lat-webhook"} {
		c := connector.Connector{ID: id, System: connector.Jira, Deployment: connector.Cloud, BaseURL: ts.URL,
			AuthMode: connector.AuthBasic, Username: jirafake.SandboxEmail, Project: jirafake.SandboxProject, Enabled: true,
			PollInterval: o.latInterval, Credential: connector.Credential{Ciphertext: jirafake.SandboxToken}}
		if strings.HasSuffix(id, "webhook") {
			// plain{} "decrypts" by returning the ciphertext: the bench keeps secrets in clear in its own process.
			c.Webhook, c.WebhookSecret = true, connector.Credential{Ciphertext: secret, SetTime: now}
		}
		c.ApplyDefaults(all.Registry())
		c.PollInterval = o.latInterval
		if _, err := store.Create(ctx, c); err != nil {
			return err
		}
	}

	// Arrivals of ticket.updated, by connector and key.
	type arrival struct{ conn, key string }
	var mu sync.Mutex
	seen := map[arrival]time.Time{}
	cons, err := js.OrderedConsumer(ctx, bus.StreamTickets, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"ticket.updated.>"}, DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		at := time.Now()
		parts := strings.Split(m.Subject(), ".")
		if len(parts) != 4 {
			return
		}
		mu.Lock()
		k := arrival{parts[3], m.Headers().Get(bus.HeaderSubject)}
		if _, ok := seen[k]; !ok {
			seen[k] = at
		}
		mu.Unlock()
	})
	if err != nil {
		return err
	}
	defer cc.Stop()

	pcfg := poller.DefaultConfig()
	pcfg.ReplicaID = "bench"
	wcfg := webhooks.DefaultConfig()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	wcfg.Addr = ln.Addr().String()
	ln.Close()
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	listening := make(chan struct{})
	wg.Go(func() {
		_ = poller.Run(sctx, pcfg, poller.Deps{JS: js, Decrypter: plain{}, Logger: slog.New(slog.DiscardHandler), Trackers: all.Registry()})
	})
	wg.Go(func() {
		err := webhooks.Run(sctx, wcfg, webhooks.Deps{JS: js, Decrypter: plain{}, Logger: slog.New(slog.DiscardHandler), Trackers: all.Registry(),
			Ready: func() { close(listening) }})
		if err != nil {
			progress("latency: webhooks: %v", err)
		}
	})
	select {
	case <-listening:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Both connectors polled once (discovered) before changes are timed.
	st, err := js.Stream(ctx, bus.StreamTickets)
	if err != nil {
		return err
	}
	if err := waitEvents(ctx, st, uint64(2*len(keys))); err != nil {
		return err
	}
	// The fake sends Jira's signed delivery itself after each change, as
	// a Jira Cloud admin webhook with a secret does.
	jira.RegisterWebhook("http://"+wcfg.Addr+"/webhooks/bench-lat-webhook", []byte(secret))
	var pollLat, hookLat []time.Duration
	for i := range o.latChanges {
		key := keys[i%len(keys)]
		// Changes land at arbitrary points of the poll interval, as people's edits do.
		if err := sleepCtx(ctx, time.Duration(i*7919%1000)*o.latInterval/1000); err != nil {
			return err
		}
		changed := time.Now()
		jira.Touch(key, changed.Add(time.Duration(i+1)*time.Millisecond))
		deadline := time.Now().Add(3*o.latInterval + 30*time.Second)
		for {
			mu.Lock()
			p, pok := seen[arrival{"bench-lat-poll", key}]
			h, hok := seen[arrival{"bench-lat-webhook", key}]
			mu.Unlock()
			if pok && hok && !p.Before(changed) && !h.Before(changed) {
				pollLat, hookLat = append(pollLat, p.Sub(changed)), append(hookLat, h.Sub(changed))
				mu.Lock()
				delete(seen, arrival{"bench-lat-poll", key})
				delete(seen, arrival{"bench-lat-webhook", key})
				mu.Unlock()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("latency: change %d of %s not published (poll %v, webhook %v)", i, key, pok, hok)
			}
			if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
				return err
			}
		}
	}
	add := func(cas string, ds []time.Duration) {
		rep.add("latency", cas, metric{"p50 ms", "%.0f"}, ms(percentile(ds, 50)))
		rep.add("latency", cas, metric{"p99 ms", "%.0f"}, ms(percentile(ds, 99)))
	}
	add(fmt.Sprintf("poll every %v", o.latInterval), pollLat)
	add("webhook (+ reconcile poll)", hookLat)
	answer, refused := jira.WebhookAnswers()
	if refused > 0 {
		return fmt.Errorf("latency: the receiver refused %d of the fake's deliveries", refused)
	}
	rep.add("latency", "webhook answer", metric{"p50 ms", "%.0f"}, ms(percentile(answer, 50)))
	rep.add("latency", "webhook answer", metric{"p99 ms", "%.0f"}, ms(percentile(answer, 99)))
	rep.note("latency", fmt.Sprintf("Latency: %d changes to a fake Jira Cloud ticket → ticket.updated on the bus; one poller (poller.Run, default config) and the webhook receiver "+
		"(webhooks.Run) in the bench process; two connectors on the same tickets, one without a webhook (polled every %v), one with (the fake sends Jira's signed "+
		"delivery right after the change). \"webhook answer\" is the receiver's HTTP answer time.", o.latChanges, o.latInterval))
	progress("latency: poll p50 %v p99 %v; webhook p50 %v p99 %v", percentile(pollLat, 50), percentile(pollLat, 99), percentile(hookLat, 50), percentile(hookLat, 99))
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
