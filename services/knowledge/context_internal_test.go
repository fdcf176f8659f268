package knowledge

import (
	"context"
	"log/slog"
	"regexp"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// memSource is a context source in memory whose scopes answer after a
// delay (or when the caller gives up), so the deadline logic runs under
// synctest's clock.
type memSource struct {
	delays map[string]time.Duration
	reads  *atomic.Int32
}

func (memSource) Rules() connector.Rules {
	return connector.Rules{
		System: connector.ArgoCD, Deployments: []connector.Deployment{connector.SelfHosted},
		AuthModes: map[connector.Deployment][]connector.AuthMode{connector.SelfHosted: {connector.AuthAnonymous}},
		Watch:     &connector.KeyRule{Pattern: regexp.MustCompile(`^[a-z-]+$`), What: "apps", Invalid: "bad"},
	}
}

func (m memSource) ReadContext(ctx context.Context, _ *trackers.Session, scope string) (trackers.ContextReport, error) {
	m.reads.Add(1)
	t := time.NewTimer(m.delays[scope])
	defer t.Stop()
	select {
	case <-t.C:
		return trackers.ContextReport{Scope: scope, Deployment: &trackers.DeploymentState{Health: "Healthy"}}, nil
	case <-ctx.Done():
		return trackers.ContextReport{}, ctx.Err()
	}
}

func newMemContexts(t *testing.T, src memSource, watch ...string) *contexts {
	t.Helper()
	reg, err := trackers.NewRegistry(src)
	if err != nil {
		t.Fatal(err)
	}
	cs := &connectorSet{byID: map[string]connector.Connector{}, others: map[string]connector.Connector{
		"cd": {ID: "cd", Revision: 1, System: connector.ArgoCD, Deployment: connector.SelfHosted, BaseURL: "http://127.0.0.1:1",
			AuthMode: connector.AuthAnonymous, Watch: watch, Enabled: true},
		"gh": {ID: "gh", Revision: 1, System: connector.GitHub, ContextConnectors: []string{"cd"}},
	}}
	cfg := DefaultConfig()
	cfg.ContextTimeout, cfg.ContextCacheTTL, cfg.ContextCacheSize = 2*time.Second, time.Minute, 8
	x, err := newContexts(cfg, slog.New(slog.DiscardHandler), time.Now, cs, reg, trackers.NewSessions(reg, nil, trackers.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func reasons(tc *chv1.TicketContext) map[string]string {
	out := map[string]string{}
	for _, s := range tc.GetSources() {
		out[s.GetScope()] = s.GetUnavailableReason()
	}
	return out
}

func TestContextWaitsTheDeadlineAtMost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reads := &atomic.Int32{}
		x := newMemContexts(t, memSource{reads: reads, delays: map[string]time.Duration{"fast": 300 * time.Millisecond, "slow": time.Hour}}, "fast", "slow")

		start := time.Now()
		tc := x.forTicketConnector(t.Context(), "gh")
		if took := time.Since(start); took != 2*time.Second {
			t.Errorf("took %s, want the deadline, 2s", took)
		}
		if r := reasons(tc); r["fast"] != "" || r["slow"] != "timed out after 2s" || len(r) != 2 {
			t.Errorf("reasons = %v", r)
		}

		// Within the TTL the fast scope is cached; the slow one is asked again.
		hits := 0
		x.hit = func(string, string) { hits++ }
		x.forTicketConnector(t.Context(), "gh")
		if hits != 1 || reads.Load() != 3 {
			t.Errorf("second read: %d cache hits, %d reads; want 1 and 3", hits, reads.Load())
		}
		// Past the TTL it is read again.
		time.Sleep(time.Minute)
		x.forTicketConnector(t.Context(), "gh")
		if hits != 1 || reads.Load() != 5 {
			t.Errorf("after the TTL: %d cache hits, %d reads; want 1 and 5", hits, reads.Load())
		}
	})
}

func TestContextDoesNotWaitForTheDeadlineWhenAllAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		x := newMemContexts(t, memSource{reads: &atomic.Int32{}, delays: map[string]time.Duration{"a": 100 * time.Millisecond, "b": 700 * time.Millisecond}}, "a", "b")
		start := time.Now()
		tc := x.forTicketConnector(t.Context(), "gh")
		if took := time.Since(start); took != 700*time.Millisecond {
			t.Errorf("took %s, want the slowest scope's 700ms", took)
		}
		if r := reasons(tc); r["a"] != "" || r["b"] != "" {
			t.Errorf("reasons = %v", r)
		}
		if tc := x.forTicketConnector(t.Context(), "nobody"); tc != nil {
			t.Errorf("a connector naming no context sources got %v", tc)
		}
	})
}

func TestContextReportsConnectorsItCannotRead(t *testing.T) {
	x := newMemContexts(t, memSource{reads: &atomic.Int32{}}, "a")
	x.conns.others["off"] = connector.Connector{ID: "off", System: connector.ArgoCD}
	x.conns.others["gl"] = connector.Connector{ID: "gl", System: connector.GitLab, Enabled: true}
	tc := x.read(t.Context(), []string{"missing", "off", "gl"}, nil)
	want := map[string]string{"missing": "connector not found", "off": "connector disabled", "gl": "no tracker for gitlab in this replica"}
	for _, s := range tc.GetSources() {
		if s.GetUnavailableReason() != want[s.GetConnectorId()] {
			t.Errorf("%s: reason %q, want %q", s.GetConnectorId(), s.GetUnavailableReason(), want[s.GetConnectorId()])
		}
	}
	if len(tc.GetSources()) != 3 {
		t.Errorf("sources = %v", tc.GetSources())
	}
}
