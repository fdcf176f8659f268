package poller

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"hash/fnv"
	"math/bits"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

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

// fnvPrint is a ticket's fingerprint as pollers before issue 9 req. 4
// recorded it: FNV-1a 32 per field of the deterministic protobuf encoding,
// the field set without ticketver's CRC-32C marker (bit 0).
func fnvPrint(t *testing.T, pt *chv1.Ticket) (print string, fields map[int32]uint32) {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(pt)
	if err != nil {
		t.Fatal(err)
	}
	hashes := map[int32]hash.Hash32{}
	for len(b) > 0 {
		num, _, n := protowire.ConsumeField(b)
		if n < 0 {
			t.Fatal("bad encoding")
		}
		if name := pt.ProtoReflect().Descriptor().Fields().ByNumber(num).Name(); !slices.Contains([]protoreflect.Name{"update_time", "connector_id", "system", "key"}, name) {
			if hashes[int32(num)] == nil {
				hashes[int32(num)] = fnv.New32a()
			}
			hashes[int32(num)].Write(b[:n])
		}
		b = b[n:]
	}
	fields = map[int32]uint32{}
	var mask uint64
	for num, h := range hashes {
		fields[num] = h.Sum32()
		mask |= 1 << num
	}
	raw := binary.AppendUvarint(nil, mask)
	for m := mask; m != 0; m &= m - 1 {
		raw = binary.BigEndian.AppendUint32(raw, fields[int32(bits.TrailingZeros64(m))])
	}
	return base64.RawStdEncoding.EncodeToString(raw), fields
}

// TestUpgradeFromFNVPrintsLeavesOneUpdateUnknown: a poll state written
// before issue 9 req. 4 holds FNV-1a prints (or, older, none, with the
// hashes in a ticket_versions record). Compared with CRC-32C hashes they
// would report every field changed, so the first update of each ticket
// after the upgrade says no changed fields (unknown, as for an expired
// record), and the next one compares with the print the state now holds.
func TestUpgradeFromFNVPrintsLeavesOneUpdateUnknown(t *testing.T) {
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
	// What the old pollers left: UP-1 known with an FNV print, UP-2 known
	// without one and its FNV hashes in the old ticket_versions record.
	states, err := e.js.KeyValue(ctx, bus.BucketPollState)
	if err != nil {
		t.Fatal(err)
	}
	old := connector.PollState{Cursor: base, Cycles: 1}
	versions := e.versionsKV(t)
	for _, k := range []string{"UP-1", "UP-2"} {
		tk, err := e.mem.GetTicket(ctx, &trackers.Session{Connector: c}, k)
		if err != nil {
			t.Fatal(err)
		}
		print, fields := fnvPrint(t, TicketToProto(c, tk))
		if k == "UP-1" {
			old.SetKnownVersion(k, base, print)
			continue
		}
		old.SetKnown(k, base)
		record, _ := json.Marshal(fields)
		if _, err := versions.Put(ctx, ticketver.Key("jira-up", "f", k), record); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := connector.NewStateStore(states).Put(ctx, "jira-up", old); err != nil {
		t.Fatal(err)
	}

	// The edits come before the poller starts: its first cycle may start
	// as soon as it does (the connector is due), and one that listed the
	// tickets before an edit would see no update (a busy machine showed it).
	for _, k := range []string{"UP-1", "UP-2"} {
		e.mem.edit("jira-up", k, func(tk *trackers.Ticket) { tk.Status, tk.Updated = "In Progress", base.Add(time.Minute) })
	}
	clock := newManualClock(time.Now())
	_, p := e.startOnClock(t, "r1", clock, func(c *Config) { c.LeaseTTL = 30 * time.Second })
	e.firstCycle(t, p, clock, "jira-up")
	testenv.Eventually(t, 10*time.Second, "two updated events", func() bool { return len(e.events(t)["updated"]) == 2 })
	var upd chv1.TicketUpdated
	for _, k := range []string{"UP-1", "UP-2"} {
		e.lastPayload(t, "ticket.updated.jira.jira-up", k, &upd)
		if got := upd.GetChangedFields(); got != nil {
			t.Fatalf("%s (FNV hashes): changed_fields = %v, want none (unknown)", k, got)
		}
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
