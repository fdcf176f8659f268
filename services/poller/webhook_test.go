package poller

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
)

// notify publishes a webhook notice the way services/webhooks does.
func (e *env) notify(t *testing.T, id, delivery string, keys ...string) {
	t.Helper()
	subject, err := bus.WebhookNoticeSubject(string(connector.Jira), id)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(bus.WebhookNotice{ConnectorID: id, DeliveryID: delivery, Keys: keys, Received: time.Now()})
	if _, err := e.js.Publish(context.Background(), subject, data, jetstream.WithMsgID(bus.WebhookNoticeMsgID(id, delivery))); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookNoticeThenPollPublishOnceAndReconcileRecoversALostDelivery
// runs on a manual clock, so no cycle falls due unless the test advances
// it: a cycle that happens without that was started by the notice.
func TestWebhookNoticeThenPollPublishOnceAndReconcileRecoversALostDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	const interval, reconcile = time.Minute, 5 * time.Minute
	e.addConnector(t, "jira-wh", interval)
	e.edit(t, "jira-wh", func(c *connector.Connector) { c.Webhook = true })
	base := time.Now().Add(-time.Hour).UTC()
	for _, k := range []string{"WH-1", "WH-2", "WH-3"} {
		e.mem.add("jira-wh", k, base)
	}
	clock := newManualClock(time.Now())
	_, p := e.startOnClock(t, "r1", clock, func(c *Config) { c.LeaseTTL = 30 * time.Second; c.WebhookReconcile = reconcile })
	e.firstCycle(t, p, clock, "jira-wh")
	testenv.Eventually(t, 20*time.Second, "3 discovered events", func() bool { return len(e.events(t)["discovered"]) == 3 })

	// A webhook: the change is published without the clock moving.
	calls := e.mem.callCount("jira-wh")
	e.mem.touch("jira-wh", "WH-1", time.Now().UTC())
	e.notify(t, "jira-wh", "d-1", "WH-1")
	testenv.Eventually(t, 20*time.Second, "WH-1 updated after the notice", func() bool { return e.events(t)["updated"]["WH-1"] == 1 })
	testenv.Eventually(t, 20*time.Second, "the notice's cycle to end", func() bool { return !p.isPolling("jira-wh") })
	if e.mem.callCount("jira-wh") == calls {
		t.Fatal("the notice did not start a cycle")
	}
	if st := e.pollState(t, "jira-wh").Status(); st.LastDelivery.IsZero() || st.PollOnlyChanges != 0 {
		t.Fatalf("status after the notice: last delivery %v, poll-only changes %d; want set, 0", st.LastDelivery, st.PollOnlyChanges)
	}

	// Webhooks healthy: the connector's own interval no longer polls...
	calls = e.mem.callCount("jira-wh")
	e.idleTicks(t, p, clock, "jira-wh", 2, interval)
	if got := e.mem.callCount("jira-wh"); got != calls {
		t.Fatalf("polled %d times within the reconcile interval", got-calls)
	}
	// ...the reconcile does, and sees WH-1's change again without
	// publishing it twice; a change whose delivery was lost (WH-2, no
	// notice) is found by it.
	e.mem.touch("jira-wh", "WH-2", time.Now().UTC())
	e.cycleAfter(t, p, clock, "jira-wh", reconcile)
	testenv.Eventually(t, 20*time.Second, "WH-2 recovered by the reconcile", func() bool { return e.events(t)["updated"]["WH-2"] == 1 })
	testenv.Eventually(t, 20*time.Second, "the reconcile counted as a change only the poll found", func() bool {
		return e.pollState(t, "jira-wh").PollOnlyChanges == 1 && !p.isPolling("jira-wh")
	})
	// The receiver reports refused deliveries in a batch; they are recorded
	// by the next cycle and start none themselves.
	calls = e.mem.callCount("jira-wh")
	e.reportRefused(t, "jira-wh", 3, "bad_signature")
	e.idleTicks(t, p, clock, "jira-wh", 1, time.Second)
	if got := e.mem.callCount("jira-wh"); got != calls {
		t.Fatalf("a refusal report started a poll (%d requests)", got-calls)
	}
	// A redelivered notice (same change) polls again and publishes nothing new.
	e.notify(t, "jira-wh", "d-2", "WH-1")
	testenv.Eventually(t, 20*time.Second, "the second notice's cycle", func() bool {
		return e.pollState(t, "jira-wh").LastPoll.Equal(clock.Now()) && !p.isPolling("jira-wh")
	})
	ev := e.events(t)
	if ev["updated"]["WH-1"] != 1 || ev["updated"]["WH-2"] != 1 || len(ev["updated"]) != 2 {
		t.Fatalf("updated events = %v; want WH-1 and WH-2 once each", ev["updated"])
	}
	st := e.pollState(t, "jira-wh").Status()
	if st.DeliveriesRefused != 3 || st.LastRefusal != "bad_signature" || st.PollOnlyChanges != 1 {
		t.Fatalf("status: refused %d (%q), poll-only %d; want 3 (bad_signature), 1", st.DeliveriesRefused, st.LastRefusal, st.PollOnlyChanges)
	}
}

// reportRefused publishes a refusal report the way services/webhooks does.
func (e *env) reportRefused(t *testing.T, id string, n int, reason string) {
	t.Helper()
	subject, err := bus.WebhookNoticeSubject(string(connector.Jira), id)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(bus.WebhookNotice{ConnectorID: id, Refused: n, Reason: reason, Received: time.Now()})
	if _, err := e.js.Publish(context.Background(), subject, data, jetstream.WithMsgID("webhook-refused:"+id+":"+reason)); err != nil {
		t.Fatal(err)
	}
}

// TestNoticeForAConnectorHeldElsewhereIsIgnored: only the lease holder acts.
func TestNoticeForAConnectorHeldElsewhereIsIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Second)
	_, p := e.start(t, "r1", nil)
	if p.sched.notice("not-held") {
		t.Fatal("a notice for a connector this replica does not hold was taken")
	}
}
