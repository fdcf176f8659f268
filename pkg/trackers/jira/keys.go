package jira

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.KeyNormalizer = Tracker{}

// issueKey is an issue key: a project key, '-', the issue number.
var issueKey = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_]*)-([0-9]+)$`)

// NormalizeKey accepts an issue key ("PROJ-12", any case: Jira's keys are
// upper case), the issue's browse URL (<site>/browse/PROJ-12, a query or
// fragment after it ignored), and, when the connector names a project by
// its key, the bare "12" or "#12". It returns "PROJ-12". When the connector
// names a project by its key, a key of another project is refused, naming
// both; a connector without a project (or with a numeric project id) takes
// a key of any project.
func (Tracker) NormalizeKey(c connector.Connector, input string) (string, error) {
	in := strings.TrimSpace(input)
	project := ""
	if projectKey.MatchString(c.Project) && c.Project[0] >= 'A' && c.Project[0] <= 'Z' { // a key, not a numeric id
		project = c.Project
	}
	if n, ok := trackers.ParseTicketNumber(strings.TrimPrefix(in, "#")); ok {
		if project == "" {
			return "", fmt.Errorf("%w: %q is only a number, and the connector names no project key: give the issue key (PROJ-12)", trackers.ErrInvalidTicketKey, in)
		}
		return fmt.Sprintf("%s-%d", project, n), nil
	}
	key := in
	if u, ok := trackers.ParseWebURL(in); ok {
		_, after, found := strings.Cut(u.Path, "/browse/")
		if !found {
			return "", fmt.Errorf("%w: %q is not a Jira issue URL (<site>/browse/PROJ-12)", trackers.ErrInvalidTicketKey, in)
		}
		key = strings.TrimSuffix(after, "/")
	}
	m := issueKey.FindStringSubmatch(key)
	if m == nil {
		return "", fmt.Errorf("%w: %q is not a Jira issue key: give PROJ-12 or the issue's browse URL", trackers.ErrInvalidTicketKey, in)
	}
	n, ok := trackers.ParseTicketNumber(m[2])
	if !ok {
		return "", fmt.Errorf("%w: %q is not a Jira issue key: the number must be at least 1", trackers.ErrInvalidTicketKey, in)
	}
	got := strings.ToUpper(m[1])
	if project != "" && got != project {
		return "", fmt.Errorf("%w: %q is an issue of project %s, but the connector's project is %s", trackers.ErrInvalidTicketKey, in, got, project)
	}
	return fmt.Sprintf("%s-%d", got, n), nil
}
