package github_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/github"
)

func TestNormalizeKeyAcceptsWhatAUserTypes(t *testing.T) {
	t.Parallel()
	c := connector.Connector{System: connector.GitHub, Project: "acme/widgets", BaseURL: "https://api.github.com"}
	ghes := connector.Connector{System: connector.GitHub, Deployment: connector.SelfHosted, Project: "acme/widgets", BaseURL: "https://ghe.example.com/api/v3"}
	for _, tc := range []struct {
		name, in string
		c        connector.Connector
		want     string
	}{
		{"full key", "acme/widgets#12", c, "acme/widgets#12"},
		{"full key in another case", "Acme/Widgets#12", c, "acme/widgets#12"},
		{"bare number", "12", c, "acme/widgets#12"},
		{"hash number", "#12", c, "acme/widgets#12"},
		{"surrounding spaces", "  #12 ", c, "acme/widgets#12"},
		{"leading zeros", "012", c, "acme/widgets#12"},
		{"issue URL", "https://github.com/acme/widgets/issues/12", c, "acme/widgets#12"},
		{"issue URL with a trailing slash and fragment", "https://github.com/acme/widgets/issues/12/#issuecomment-1", c, "acme/widgets#12"},
		{"pull request URL", "https://github.com/acme/widgets/pull/12", c, "acme/widgets#12"},
		{"URL with an upper-case scheme", "HTTPS://github.com/acme/widgets/issues/12", c, "acme/widgets#12"},
		{"Enterprise Server URL", "https://ghe.example.com/acme/widgets/issues/7", ghes, "acme/widgets#7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := github.New().NormalizeKey(tc.c, tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeKey(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNormalizeKeyRefusesWhatNamesNoIssueOfTheRepository(t *testing.T) {
	t.Parallel()
	c := connector.Connector{System: connector.GitHub, Project: "acme/widgets", BaseURL: "https://api.github.com"}
	for _, tc := range []struct {
		name, in string
		// says are the words the error must hold.
		says []string
	}{
		{"another repository's key", "acme/gadgets#12", []string{"acme/gadgets", "acme/widgets"}},
		{"another owner's key", "other/widgets#12", []string{"other/widgets", "acme/widgets"}},
		{"another repository's URL", "https://github.com/acme/gadgets/issues/12", []string{"acme/gadgets", "acme/widgets"}},
		{"zero", "0", []string{`"0"`}},
		{"negative", "-3", []string{`"-3"`}},
		{"signed", "+3", []string{`"+3"`}},
		{"hash only", "#", []string{`"#"`}},
		{"a Jira key", "PROJ-12", []string{`"PROJ-12"`, "acme/widgets#12"}},
		{"key without number", "acme/widgets#", []string{`"acme/widgets#"`}},
		{"key with text after the number", "acme/widgets#12a", []string{`"acme/widgets#12a"`}},
		{"repository URL", "https://github.com/acme/widgets", []string{"not a GitHub issue"}},
		{"commit URL", "https://github.com/acme/widgets/commit/abc", []string{"not a GitHub issue"}},
		{"URL without number", "https://github.com/acme/widgets/issues/new", []string{"not a GitHub issue"}},
		{"empty", "", []string{"no ticket"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := trackers.NormalizeKey(github.New(), c, tc.in)
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
