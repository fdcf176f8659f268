package main

import (
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/connector/connectorpb"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/all"
	"github.com/connectorhub/connectorhub/pkg/trackers/trackertest"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// The sandbox's context sources are registered with connectors the rules
// accept, pass their connection test, and show the seeded trouble for the
// sandbox repository: a failing build (Jenkins, CircleCI), a red gate
// (SonarQube), a degraded application (Argo CD).
func TestSandboxContextSourcesShowTheSeededState(t *testing.T) {
	t.Parallel()
	reg := all.Registry()
	s := newSandbox(slog.New(slog.DiscardHandler))
	seen := 0
	for _, st := range s.trackers {
		sys, _ := connectorpb.SystemFromProto(st.connector("http://x").GetSystem())
		tr, _ := reg.Lookup(sys)
		rd, ok := tr.(trackers.ContextReader)
		if !ok {
			continue
		}
		seen++
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(st.handler)
			t.Cleanup(srv.Close)
			p := st.connector(srv.URL)
			c := connector.Connector{ID: "sandbox-" + st.name, System: sys, BaseURL: p.GetBaseUrl(), Username: p.GetUsername(), Watch: p.GetWatch(),
				Deployment: map[chv1.Deployment]connector.Deployment{chv1.Deployment_DEPLOYMENT_CLOUD: connector.Cloud, chv1.Deployment_DEPLOYMENT_SELF_HOSTED: connector.SelfHosted}[p.GetDeployment()],
				AuthMode:   map[chv1.AuthMode]connector.AuthMode{chv1.AuthMode_AUTH_MODE_BASIC: connector.AuthBasic, chv1.AuthMode_AUTH_MODE_BEARER: connector.AuthBearer}[p.GetAuthMode()],
				Enabled:    true, PollInterval: p.GetPollInterval().AsDuration()}
			c.ApplyDefaults(reg)
			if err := c.Validate(reg); err != nil {
				t.Fatalf("sandbox connector: %v", err)
			}
			opts := trackers.Options{Timeout: 10 * time.Second}
			res, err := trackers.Test(t.Context(), tr, c, connector.NewSecret(st.credential), opts)
			if err != nil || !res.OK {
				t.Fatalf("connection test: %v %+v", err, res.Checks)
			}
			sess, err := trackers.NewSession(tr, c, connector.NewSecret(st.credential), opts)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := rd.ReadContext(t.Context(), sess, c.Watch[0])
			if err != nil {
				t.Fatal(err)
			}
			if !trackertest.ShowsFailure(rep) {
				t.Errorf("%s shows no trouble: %+v", c.Watch[0], rep)
			}
		})
	}
	if seen != 4 {
		t.Errorf("%d context sources in the sandbox, want 4", seen)
	}
}

// The default sandbox ports step over the knowledge service's 7420, so
// `hub --sandbox` with defaults does not collide with its own listener.
func TestSandboxPortsStepOverTheHubsListeners(t *testing.T) {
	t.Parallel()
	got := sandboxPorts(7411, 11, []string{"127.0.0.1:7420", "127.0.0.1:7400", "127.0.0.1:7401", ""})
	want := []int{7411, 7412, 7413, 7414, 7415, 7416, 7417, 7418, 7419, 7421, 7422}
	if !slices.Equal(got, want) {
		t.Errorf("ports %v, want %v", got, want)
	}
	if got := sandboxPorts(0, 3, []string{"127.0.0.1:7420"}); !slices.Equal(got, []int{0, 0, 0}) {
		t.Errorf("free ports %v", got)
	}
}
