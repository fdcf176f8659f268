package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
	"github.com/connectorhub/connectorhub/services/writeback"
)

// Writeback: n results (status + comment with a mention of the reporter),
// spread over -writeback-connectors Jira Cloud connectors on one fake Jira,
// are published to RESULTS first; then one writeback (writeback.Run with its
// default config, in this process, ledger on) is started and timed until
// WRITEBACK holds an outcome for each.

func runWriteback(ctx context.Context, o options, rep *report, progress func(string, ...any)) error {
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
	const ticketsPerConnector = 5
	now := time.Now()
	keys := make([][]string, o.wbConnects)
	for i := range o.wbConnects {
		c := connector.Connector{ID: fmt.Sprintf("bench-wb-%03d", i), System: connector.Jira, Deployment: connector.Cloud, BaseURL: ts.URL,
			AuthMode: connector.AuthBasic, Username: jirafake.SandboxEmail, Project: jirafake.SandboxProject, Enabled: true,
			Credential: connector.Credential{Ciphertext: jirafake.SandboxToken}}
		c.ApplyDefaults(all.Registry())
		if _, err := store.Create(ctx, c); err != nil {
			return err
		}
		for j := range ticketsPerConnector {
			keys[i] = append(keys[i], jira.AddTicket(jirafake.Ticket{Summary: fmt.Sprintf("Writeback bench %d/%d", i, j), Description: benchDescription,
				Assignee: jirafake.SandboxEmail, Created: now.Add(-time.Hour), Updated: now.Add(-time.Hour)}))
		}
	}
	// Publish every result first, so the timing is the writeback's alone.
	var futures []jetstream.PubAckFuture
	for k := range o.results {
		i := k % o.wbConnects
		id := fmt.Sprintf("bench-result-%06d", k)
		r := &chv1.ResultReady{ResultId: id, ConnectorId: fmt.Sprintf("bench-wb-%03d", i), System: chv1.System_SYSTEM_JIRA,
			TicketKey: keys[i][(k/o.wbConnects)%ticketsPerConnector], BaseTime: timestamppb.New(time.Now()), TargetStatus: "In Progress",
			CommentMarkdown: "Picked up by the bench: **working on it**, see `main.go`.", MentionReporter: true}
		subject, err := bus.ResultSubject("jira", r.GetConnectorId())
		if err != nil {
			return err
		}
		msg, err := bus.NewMsg(ctx, subject, r, bus.WithID(id))
		if err != nil {
			return err
		}
		f, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(time.Minute))
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	out, err := js.Stream(ctx, bus.StreamWriteback)
	if err != nil {
		return err
	}

	cfg := writeback.DefaultConfig()
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- writeback.Run(wctx, cfg, writeback.Deps{JS: js, Decrypter: plain{}, Logger: slog.New(slog.DiscardHandler), Trackers: all.Registry()})
	}()
	defer func() { cancel(); <-done }()
	if err := waitEvents(ctx, out, uint64(o.results)); err != nil {
		return err
	}
	elapsed := time.Since(start)
	// Outcomes: completed vs failed.
	failed := 0
	if info, err := out.Info(ctx, jetstream.WithSubjectFilter("writeback.failed.>")); err == nil {
		for _, n := range info.State.Subjects {
			failed += int(n)
		}
	}
	if failed > 0 {
		for _, reason := range failedReasons(ctx, out, 3) {
			progress("writeback: dead-lettered: %s", reason)
		}
	}
	cas := fmt.Sprintf("%d results, %d connectors", o.results, o.wbConnects)
	rate := float64(o.results) / elapsed.Seconds()
	rep.add("writeback", cas, metric{"results/s", "%.0f"}, rate)
	rep.add("writeback", cas, metric{"failed", "%.0f"}, float64(failed))
	rep.note("writeback", "Writeback: results (status In Progress, a comment mentioning the reporter) published to RESULTS before writeback.Run starts "+
		"(default config, in the bench process, writeback_ledger on), timed until WRITEBACK holds an outcome for each; one fake Jira Cloud over loopback.")
	progress("writeback: %.0f results/s, %d failed", rate, failed)
	return nil
}

// failedReasons reads up to n writeback.failed events' reasons, so a bench
// run that lost results says why.
func failedReasons(ctx context.Context, out jetstream.Stream, n int) []string {
	cons, err := out.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"writeback.failed.>"}})
	if err != nil {
		return []string{err.Error()}
	}
	batch, err := cons.FetchNoWait(n)
	if err != nil {
		return []string{err.Error()}
	}
	var reasons []string
	for msg := range batch.Messages() {
		var ev chv1.WritebackFailed
		if err := protojson.Unmarshal(msg.Data(), &ev); err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		reasons = append(reasons, fmt.Sprintf("%s (%d attempts): %s", ev.GetResultId(), ev.GetAttempts(), ev.GetReason()))
	}
	return reasons
}
