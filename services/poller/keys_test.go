package poller

import (
	"context"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connectorhub/connectorhub/pkg/bus"
	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/github/githubfake"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// TestUpgradeFromBareNumberKeysRepublishesNothing runs the real GitHub
// tracker against the fake. After a first poll, the poll state is rewritten
// as a release that published bare issue numbers left it ("1", "2", "3"),
// and the old events gone from the stream, with a resync pending (a full listing, the worst case: every ticket is
// compared with the known set). The upgraded poller publishes no ticket
// again, closes none, keeps only owner/repo#N keys, and a later edit is an
// update under the new key.
func TestUpgradeFromBareNumberKeysRepublishesNothing(t *testing.T) {
	t.Parallel()
	fake := githubfake.NewSandbox()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	e := newEnv(t, time.Second)
	e.mem = nil
	c := connector.Connector{ID: "gh-upgrade", System: connector.GitHub, Deployment: connector.SelfHosted, BaseURL: srv.URL + "/api/v3/",
		AuthMode: connector.AuthBearer, Project: githubfake.SandboxRepo, Enabled: true, PollInterval: 100 * time.Millisecond,
		Credential: connector.Credential{Ciphertext: githubfake.SandboxToken}}
	c.ApplyDefaults(all.Registry())
	if _, err := e.store.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	want := []string{"sandbox/widgets#1", "sandbox/widgets#2", "sandbox/widgets#3"}
	cfg := func(cfg *Config) { cfg.ReconcileEvery = 2 }
	stop, _ := e.startReal(t, "r1", cfg)
	testenv.Eventually(t, 20*time.Second, "the sandbox issues discovered under owner/repo#N", func() bool {
		d := e.events(t)["discovered"]
		return d[want[0]] == 1 && d[want[1]] == 1 && d[want[2]] == 1
	})
	stop()

	kv, err := e.js.KeyValue(context.Background(), bus.BucketPollState)
	if err != nil {
		t.Fatal(err)
	}
	states := connector.NewStateStore(kv)
	st, err := states.Get(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	bare := func(k string) string { return k[strings.LastIndexByte(k, '#')+1:] }
	old := map[string]time.Time{}
	for k, at := range st.Known {
		old[bare(k)] = at
	}
	st.Known = old
	st.KeyForm = 0 // as the old release stored it: no key form recorded
	for _, pages := range [][]connector.PageCache{st.Pages, st.IncrementalPages} {
		for i := range pages {
			for j, k := range pages[i].Keys {
				pages[i].Keys[j] = bare(k)
			}
		}
	}
	for i := range st.Pages {
		// A whole-set page that changed since (any edit does): listed
		// again in full rather than answered 304.
		st.Pages[i].ETag = ""
	}
	st.Resync = true
	if st, err = states.Put(context.Background(), c.ID, st); err != nil {
		t.Fatal(err)
	}
	// The events of the old release had other ids (their keys were bare
	// numbers): none of them is in the way of a republished one.
	tickets, err := e.js.Stream(context.Background(), bus.StreamTickets)
	if err != nil {
		t.Fatal(err)
	}
	if err := tickets.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}

	_, _ = e.startReal(t, "r2", cfg)
	testenv.Eventually(t, 20*time.Second, "two cycles of the upgraded poller (a resync and a reconcile)", func() bool {
		now, err := states.Get(context.Background(), c.ID)
		return err == nil && now.Cycles >= st.Cycles+2 && !now.Resync
	})
	after, err := states.Get(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(after.Known)); !slices.Equal(got, want) || after.LastError != "" {
		t.Errorf("known tickets after the upgrade = %v (last error %q), want %v", got, after.LastError, want)
	}
	for _, pc := range slices.Concat(after.Pages, after.IncrementalPages) {
		for _, k := range pc.Keys {
			if !slices.Contains(want, k) {
				t.Errorf("page cache still holds key %q", k)
			}
		}
	}
	if got := e.events(t); len(got) > 0 {
		t.Fatalf("the upgrade published ticket events: %v", got)
	}

	fake.Touch(githubfake.SandboxRepo, 2, time.Now())
	testenv.Eventually(t, 20*time.Second, "an edit after the upgrade is an update under the new key", func() bool {
		return e.events(t)["updated"][want[1]] == 1
	})
	tickets, err = e.js.Stream(context.Background(), bus.StreamTickets)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tickets.GetLastMsgForSubject(context.Background(), "ticket.updated.github."+c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ev chv1.TicketUpdated
	if err := protojson.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if id := TicketEventID(c.ID, want[1], ev.GetTicket().GetUpdateTime().AsTime()); m.Header.Get(bus.HeaderID) != id || ev.GetTicket().GetKey() != want[1] {
		t.Errorf("update event: key %q, ce-id %q; want %s and the id derived from it (%s)", ev.GetTicket().GetKey(), m.Header.Get(bus.HeaderID), want[1], id)
	}
	for kind, keys := range e.events(t) {
		for key, n := range keys {
			if n != 1 || !slices.Contains(want, key) || kind == "closed" {
				t.Errorf("%s %s published %d times", kind, key, n)
			}
		}
	}
}
