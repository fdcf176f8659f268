package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/ticketver"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// edit changes a ticket of the in-memory tracker.
func (m *memTracker) edit(connectorID, key string, fn func(*trackers.Ticket)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn(&m.tickets[connectorID][key].tk)
}

func (e *env) versionsKV(t *testing.T) jetstream.KeyValue {
	t.Helper()
	kv, err := e.js.KeyValue(context.Background(), bus.BucketTicketVersions)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// storedMessages counts the messages the ticket_versions bucket holds.
func storedMessages(t *testing.T, kv jetstream.KeyValue) uint64 {
	t.Helper()
	st, err := kv.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Values()
}

// TestPublishedPagesWriteNoTicketVersionsMessage: a ticket's field hashes
// are kept in the poll state with its known version (issue 9: one stored
// message per ticket, its event), and its next version's changed_fields
// still come from them.
func TestPublishedPagesWriteNoTicketVersionsMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	const interval = 200 * time.Millisecond
	e.addConnector(t, "jira-vers", interval)
	base := time.Now().Add(-time.Hour).UTC()
	for i := range 7 { // three pages of the in-memory tracker
		e.mem.add("jira-vers", fmt.Sprintf("VERS-%d", i), base.Add(time.Duration(i)*time.Minute))
	}
	clock := newManualClock(time.Now())
	_, p := e.startOnClock(t, "r1", clock, func(c *Config) { c.LeaseTTL = 30 * time.Second })
	e.firstCycle(t, p, clock, "jira-vers")
	testenv.Eventually(t, 10*time.Second, "7 discovered events", func() bool { return len(e.events(t)["discovered"]) == 7 })
	versions := e.versionsKV(t)
	if n := storedMessages(t, versions); n != 0 {
		t.Fatalf("discovering 7 tickets stored %d ticket_versions messages, want none", n)
	}
	st := e.pollState(t, "jira-vers")
	for k := range st.Known {
		if _, ok := ticketver.Decode(st.KnownPrint(k)); !ok {
			t.Fatalf("%s is known without its field hashes (%q)", k, st.KnownPrint(k))
		}
	}

	e.mem.edit("jira-vers", "VERS-2", func(tk *trackers.Ticket) { tk.Summary, tk.Updated = "renamed", time.Now().UTC() })
	e.cycleAfter(t, p, clock, "jira-vers", interval)
	testenv.Eventually(t, 10*time.Second, "an updated event", func() bool { return e.events(t)["updated"]["VERS-2"] == 1 })
	var upd chv1.TicketUpdated
	e.lastPayload(t, "ticket.updated.jira.jira-vers", "VERS-2", &upd)
	if got := upd.GetChangedFields(); !slices.Equal(got, []string{"summary"}) {
		t.Fatalf("changed_fields = %v, want [summary]", got)
	}
	if n := storedMessages(t, versions); n != 0 {
		t.Fatalf("an update stored %d ticket_versions messages, want none", n)
	}
}

// TestUpgradeReadsTheOldFieldRecordOnce: a poll state written before the
// field hashes moved into it has none; the first update of a ticket then
// compares with the record the old poller left in ticket_versions, and the
// next one with what the state now holds.
func TestUpgradeReadsTheOldFieldRecordOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, 30*time.Second)
	const interval = 200 * time.Millisecond
	e.addConnector(t, "jira-up", interval)
	c, err := e.store.Get(ctx, "jira-up")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	e.mem.add("jira-up", "UP-1", base)
	e.mem.add("jira-up", "UP-2", base)
	// What the old poller left: the state knows both (no hashes in it), and
	// UP-1's hashes are in the old record (UP-2's expired).
	states, err := e.js.KeyValue(ctx, bus.BucketPollState)
	if err != nil {
		t.Fatal(err)
	}
	old := connector.PollState{Cursor: base, Cycles: 1}
	old.SetKnown("UP-1", base)
	old.SetKnown("UP-2", base)
	if _, err := connector.NewStateStore(states).Put(ctx, "jira-up", old); err != nil {
		t.Fatal(err)
	}
	tk, err := e.mem.GetTicket(ctx, &trackers.Session{Connector: c}, "UP-1")
	if err != nil {
		t.Fatal(err)
	}
	record, _ := json.Marshal(ticketver.Fingerprint(TicketToProto(c, tk)))
	versions := e.versionsKV(t)
	if _, err := versions.Put(ctx, ticketver.Key("jira-up", "f", "UP-1"), record); err != nil {
		t.Fatal(err)
	}

	clock := newManualClock(time.Now())
	_, p := e.startOnClock(t, "r1", clock, func(c *Config) { c.LeaseTTL = 30 * time.Second })
	for _, k := range []string{"UP-1", "UP-2"} {
		e.mem.edit("jira-up", k, func(tk *trackers.Ticket) { tk.Status, tk.Updated = "In Progress", base.Add(time.Minute) })
	}
	e.firstCycle(t, p, clock, "jira-up")
	testenv.Eventually(t, 10*time.Second, "two updated events", func() bool { return len(e.events(t)["updated"]) == 2 })
	var upd chv1.TicketUpdated
	e.lastPayload(t, "ticket.updated.jira.jira-up", "UP-1", &upd)
	if got := upd.GetChangedFields(); !slices.Equal(got, []string{"status"}) {
		t.Fatalf("UP-1 (old record): changed_fields = %v, want [status]", got)
	}
	e.lastPayload(t, "ticket.updated.jira.jira-up", "UP-2", &upd)
	if got := upd.GetChangedFields(); got != nil {
		t.Fatalf("UP-2 (no record at all): changed_fields = %v, want none (unknown)", got)
	}

	// The old record is no longer needed: the state holds the hashes now.
	if err := versions.Purge(ctx, ticketver.Key("jira-up", "f", "UP-1")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"UP-1", "UP-2"} {
		e.mem.edit("jira-up", k, func(tk *trackers.Ticket) { tk.Summary, tk.Updated = "renamed "+k, base.Add(2*time.Minute) })
	}
	e.cycleAfter(t, p, clock, "jira-up", interval)
	testenv.Eventually(t, 10*time.Second, "two more updated events", func() bool {
		ev := e.events(t)["updated"]
		return ev["UP-1"] == 2 && ev["UP-2"] == 2
	})
	for _, k := range []string{"UP-1", "UP-2"} {
		e.lastPayload(t, "ticket.updated.jira.jira-up", k, &upd)
		if got := upd.GetChangedFields(); !slices.Equal(got, []string{"summary"}) {
			t.Fatalf("%s after the upgrade: changed_fields = %v, want [summary]", k, got)
		}
	}
}
