package gitlab_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab/gitlabfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
)

// GitLab's RateLimit-Remaining paces discovery (trackers.Pacer): a token
// allowed 20 requests a minute, polled flat out for five minutes, is never
// answered 429; its requests are spread within each window.
func TestGitLabPacedOnRateLimitRemaining(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := newGitLabFake(gitlabfake.Options{RateLimit: 20})
		fake.AddIssue(gitlabfake.Issue{Title: "paced", Author: "rita", Assignees: []string{gitlabAgent}})
		c := connector.Connector{ID: "gl-paced", System: connector.GitLab, Deployment: connector.SelfHosted, BaseURL: "http://127.0.0.1:8080",
			AuthMode: connector.AuthBearer, Project: gitlabProject}
		s, err := trackers.NewSession(gitlab.New(), c, connector.NewSecret(gitlabToken),
			trackers.Options{Timeout: 10 * time.Second, RoundTripper: fakehttp.InMemory(fake)})
		if err != nil {
			t.Fatal(err)
		}
		end := time.Now().Add(5 * time.Minute)
		polls, paced := 0, 0
		for time.Now().Before(end) {
			_, err := gitlab.New().Discover(context.Background(), s, trackers.DiscoveryQuery{})
			var rl *trackers.RateLimitError
			switch {
			case err == nil:
				polls++
			case errors.As(err, &rl) && strings.HasPrefix(rl.Reason, "paced: "):
				paced++
				time.Sleep(rl.RetryAfter)
			default:
				t.Fatalf("discover: %v (GitLab's limit was reached)", err)
			}
		}
		if paced == 0 || polls < 5*10 {
			t.Fatalf("%d polls in 5 minutes at 20 requests a minute, paced %d times", polls, paced)
		}
	})
}
