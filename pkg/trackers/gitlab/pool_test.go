package gitlab_test

import (
	"context"
	"testing"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
)

// Discovery spreads over a pool by RateLimit-Remaining (the fake keeps a
// window per token), sets a revoked token aside and keeps working.
func TestGitLabTokenPoolSpreadsDiscoveryAndSetsAsideARevokedToken(t *testing.T) {
	fake := newGitLabFake(gitlabfake.Options{RateLimit: 1000})
	fake.AddToken(gitlabfake.Token{ID: 2, Name: "hub-2", Value: "glpat-second", Username: gitlabAgent, Scopes: []string{"api"}})
	fake.AddIssue(gitlabfake.Issue{Title: "pooled", Author: "rita", Assignees: []string{gitlabAgent}})
	base := fake.Start(t)
	c := connector.Connector{ID: "gl-pool", System: connector.GitLab, Deployment: connector.SelfHosted, BaseURL: base, AuthMode: connector.AuthBearer, Project: gitlabProject}
	s, err := trackers.NewSession(gitlab.New(), c, connector.NewSecret(gitlabToken+",glpat-revoked,glpat-second"), trackers.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		page, err := gitlab.New().Discover(context.Background(), s, trackers.DiscoveryQuery{})
		if err != nil {
			t.Fatalf("discover %d: %v", i, err)
		}
		if len(page.Tickets) != 1 {
			t.Fatalf("discover %d: %d tickets", i, len(page.Tickets))
		}
	}
	st := s.Pool.Status()
	if !st[1].SetAside || st[0].SetAside || st[2].SetAside {
		t.Fatalf("status %+v: only the revoked (second) token should be set aside", st)
	}
	if st[0].Remaining < 0 || st[2].Remaining < 0 || st[0].Remaining-st[2].Remaining > 2 || st[2].Remaining-st[0].Remaining > 2 {
		t.Errorf("remaining budgets %d and %d: not spread", st[0].Remaining, st[2].Remaining)
	}
}
