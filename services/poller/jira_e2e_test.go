package poller

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/connectorhub/connectorhub/pkg/bus"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/testenv"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// TestJiraDiscoveryUpdateAndClose runs the poller with the real Jira tracker
// against the fake Jira (sandbox account in Pacific/Auckland, so the cursor
// must be formatted in the account's zone): the seeded tickets are
// discovered, an edit is an update, a resolution is a closure.
func TestJiraDiscoveryUpdateAndClose(t *testing.T) {
	t.Parallel()
	for _, d := range []connector.Deployment{connector.Cloud, connector.SelfHosted} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			jira := jirafake.NewSandbox(d)
			srv := httptest.NewServer(jira)
			t.Cleanup(srv.Close)
			e := newEnv(t, time.Second)
			c := connector.Connector{ID: "jira-e2e", System: connector.Jira, Deployment: d, BaseURL: srv.URL, Project: jirafake.SandboxProject,
				Enabled: true, PollInterval: 100 * time.Millisecond, IndexComments: true, Credential: connector.Credential{Ciphertext: jirafake.SandboxToken}}
			if d == connector.Cloud {
				c.AuthMode, c.Username = connector.AuthBasic, jirafake.SandboxEmail
			} else {
				c.AuthMode = connector.AuthBearer
			}
			c.ApplyDefaults(all.Registry())
			if _, err := e.store.Create(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			// The real tracker registry: no in-memory tracker here.
			e.mem = nil
			_, _ = e.startReal(t, "r1", func(cfg *Config) { cfg.ReconcileEvery = 2; cfg.Lookback = time.Minute })
			want := jira.Seed(jirafake.SandboxEmail, time.Now()) // a second batch, same shape as the sandbox's own
			testenv.Eventually(t, 10*time.Second, "every assigned ticket discovered", func() bool {
				d := e.events(t)["discovered"]
				for _, k := range want {
					if d[k] != 1 {
						return false
					}
				}
				return true
			})
			jira.SetStatus(want[0], "In Progress")
			testenv.Eventually(t, 10*time.Second, "an updated event", func() bool { return e.events(t)["updated"][want[0]] == 1 })
			var upd chv1.TicketUpdated
			e.lastPayload(t, "ticket.updated.jira.jira-e2e", want[0], &upd)
			if got := upd.GetChangedFields(); !slices.Equal(got, []string{"status"}) || upd.GetActor() != "" {
				t.Errorf("updated: changed_fields %v actor %q, want [status] and no actor", got, upd.GetActor())
			}
			// Each way of leaving the set, with the reason the tracker gives.
			jira.Resolve(want[1])
			jira.Assign(want[2], "rita") // reassigned to someone else
			jira.Delete(want[3])
			reasons := map[string]string{want[1]: "resolved", want[2]: "unassigned", want[3]: "deleted"}
			testenv.Eventually(t, 10*time.Second, "closed events", func() bool {
				for k := range reasons {
					if e.events(t)["closed"][k] != 1 {
						return false
					}
				}
				return true
			})
			for k, reason := range reasons {
				var ev chv1.TicketClosed
				src := e.lastPayload(t, "ticket.closed.jira.jira-e2e", k, &ev)
				if ev.GetReason() != reason || src != "connectorhub://poller/jira-e2e" {
					t.Errorf("closed %s: reason %q ce-source %q, want %q and connectorhub://poller/jira-e2e", k, ev.GetReason(), src, reason)
				}
			}
			for kind, keys := range e.events(t) {
				for key, n := range keys {
					if n != 1 {
						t.Errorf("%s %s published %d times", kind, key, n)
					}
				}
			}
		})
	}
}

// lastPayload decodes into v the last event on subject about ticket key and
// returns its ce-source.
func (e *env) lastPayload(t *testing.T, subject, key string, v proto.Message) string {
	t.Helper()
	msg, err := e.js.Stream(context.Background(), bus.StreamTickets)
	if err != nil {
		t.Fatal(err)
	}
	info, err := msg.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	source := ""
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := msg.GetMsg(context.Background(), seq)
		if err != nil || m.Subject != subject || m.Header.Get(bus.HeaderSubject) != key {
			continue
		}
		if err := protojson.Unmarshal(m.Data, v); err != nil {
			t.Fatal(err)
		}
		source = m.Header.Get(bus.HeaderSource)
	}
	if source == "" {
		t.Fatalf("no %s event about %s", subject, key)
	}
	return source
}
