package jira

import (
	"errors"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

func TestNormalizeKeyAcceptsWhatAUserTypes(t *testing.T) {
	t.Parallel()
	c := connector.Connector{System: connector.Jira, Project: "PROJ", BaseURL: "https://acme.atlassian.net"}
	anyProject := connector.Connector{System: connector.Jira, BaseURL: "https://jira.example.com"}
	for _, tc := range []struct {
		name, in string
		c        connector.Connector
		want     string
	}{
		{"key", "PROJ-12", c, "PROJ-12"},
		{"lower-case key", "proj-12", c, "PROJ-12"},
		{"bare number", "12", c, "PROJ-12"},
		{"hash number", "#12", c, "PROJ-12"},
		{"browse URL", "https://acme.atlassian.net/browse/PROJ-12", c, "PROJ-12"},
		{"browse URL with a comment", "https://acme.atlassian.net/browse/PROJ-12?focusedCommentId=10001", c, "PROJ-12"},
		{"Data Center browse URL under a context path", "https://jira.example.com/jira/browse/OPS-3", anyProject, "OPS-3"},
		{"any project without a configured one", "OPS_2-7", anyProject, "OPS_2-7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := New().NormalizeKey(tc.c, tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeKey(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNormalizeKeyRefusesWhatNamesNoIssueOfTheProject(t *testing.T) {
	t.Parallel()
	c := connector.Connector{System: connector.Jira, Project: "PROJ", BaseURL: "https://acme.atlassian.net"}
	byID := connector.Connector{System: connector.Jira, Project: "10000", BaseURL: "https://acme.atlassian.net"}
	for _, tc := range []struct {
		name, in string
		c        connector.Connector
		says     []string
	}{
		{"another project's key", "OPS-12", c, []string{"OPS", "PROJ"}},
		{"another project's browse URL", "https://acme.atlassian.net/browse/OPS-12", c, []string{"OPS", "PROJ"}},
		{"number without a project key", "12", byID, []string{"PROJ-12"}},
		{"zero", "PROJ-0", c, []string{`"PROJ-0"`}},
		{"GitHub key", "acme/widgets#12", c, []string{`"acme/widgets#12"`}},
		{"project only", "PROJ", c, []string{`"PROJ"`}},
		{"board URL", "https://acme.atlassian.net/jira/software/projects/PROJ/boards/1", c, []string{"browse"}},
		{"empty", "", c, []string{"no ticket"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := trackers.NormalizeKey(New(), tc.c, tc.in)
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
