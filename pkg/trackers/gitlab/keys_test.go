package gitlab_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/gitlab"
)

func TestNormalizeKeyAcceptsWhatAUserTypes(t *testing.T) {
	t.Parallel()
	c := connector.Connector{System: connector.GitLab, Project: "acme/platform/api", BaseURL: "https://gitlab.com"}
	rooted := connector.Connector{System: connector.GitLab, Deployment: connector.SelfHosted, Project: "acme/api", BaseURL: "https://git.example.com/gitlab/"}
	byID := connector.Connector{System: connector.GitLab, Project: "4711", BaseURL: "https://gitlab.com"}
	for _, tc := range []struct {
		name, in string
		c        connector.Connector
		want     string
	}{
		{"full key", "acme/platform/api#12", c, "acme/platform/api#12"},
		{"full key in another case", "ACME/Platform/API#12", c, "acme/platform/api#12"},
		{"bare number", "12", c, "acme/platform/api#12"},
		{"hash number", "#12", c, "acme/platform/api#12"},
		{"issue URL", "https://gitlab.com/acme/platform/api/-/issues/12", c, "acme/platform/api#12"},
		{"issue URL with a note anchor", "https://gitlab.com/acme/platform/api/-/issues/12#note_5", c, "acme/platform/api#12"},
		{"work item URL", "https://gitlab.com/acme/platform/api/-/work_items/12", c, "acme/platform/api#12"},
		{"URL under a relative root", "https://git.example.com/gitlab/acme/api/-/issues/3", rooted, "acme/api#3"},
		{"numeric project, bare number", "12", byID, "4711#12"},
		{"numeric project, full key", "4711#12", byID, "4711#12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := gitlab.New().NormalizeKey(tc.c, tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeKey(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNormalizeKeyRefusesWhatNamesNoIssueOfTheProject(t *testing.T) {
	t.Parallel()
	c := connector.Connector{System: connector.GitLab, Project: "acme/platform/api", BaseURL: "https://gitlab.com"}
	byID := connector.Connector{System: connector.GitLab, Project: "4711", BaseURL: "https://gitlab.com"}
	for _, tc := range []struct {
		name, in string
		c        connector.Connector
		says     []string
	}{
		{"another project's key", "acme/platform/web#12", c, []string{"acme/platform/web", "acme/platform/api"}},
		{"a parent group's key", "acme/platform#12", c, []string{"acme/platform", "acme/platform/api"}},
		{"another project's URL", "https://gitlab.com/acme/web/-/issues/12", c, []string{"acme/web", "acme/platform/api"}},
		{"merge request URL", "https://gitlab.com/acme/platform/api/-/merge_requests/12", c, []string{"not a GitLab issue URL"}},
		{"URL outside the relative root", "https://gitlab.com/other/acme/platform/api/-/issues/12", connector.Connector{System: connector.GitLab, Project: "acme/platform/api", BaseURL: "https://gitlab.com/gitlab"}, []string{"not a GitLab issue URL"}},
		{"project URL", "https://gitlab.com/acme/platform/api", c, []string{"not a GitLab issue URL"}},
		{"zero", "#0", c, []string{`"#0"`}},
		{"a Jira key", "API-12", c, []string{`"API-12"`}},
		{"numeric project, another id", "4712#12", byID, []string{"4712", "4711"}},
		{"numeric project, a URL", "https://gitlab.com/acme/api/-/issues/12", byID, []string{"by id 4711"}},
		{"empty", " ", c, []string{"no ticket"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := trackers.NormalizeKey(gitlab.New(), tc.c, tc.in)
			if !errors.Is(err, trackers.ErrInvalidTicketKey) {
				t.Fatalf("NormalizeKey(%q) = %q, %v; want ErrInvalidTicketKey", tc.in, got, err)
			}
			for _, w := range tc.says {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
