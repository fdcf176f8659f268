package poller

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

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
			jira.Touch(want[0], time.Now())
			testenv.Eventually(t, 10*time.Second, "an updated event", func() bool { return e.events(t)["updated"][want[0]] == 1 })
			jira.Resolve(want[1])
			testenv.Eventually(t, 10*time.Second, "a closed event", func() bool { return e.events(t)["closed"][want[1]] == 1 })
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
