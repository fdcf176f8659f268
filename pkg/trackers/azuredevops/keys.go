package azuredevops

import (
	"errors"
	"fmt"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

func isNotFound(err error) bool { return errors.Is(err, errNotFound) }

// NormalizeKey accepts "organization/project#12", "#12", "12" and the work
// item's web URL (…/organization/project/_workitems/edit/12) for the
// connector's project, and returns "organization/project#12"; for a pull
// request under review "organization/project!7", "!7" and its web URL
// (…/organization/project/_git/repo/pullrequest/7) give
// "organization/project!7". Work item ids
// are unique in an organization; the key keeps the project so a key names
// where the connector found it.
func (Tracker) NormalizeKey(c connector.Connector, input string) (string, error) {
	in := strings.TrimSpace(input)
	if u, ok := trackers.ParseWebURL(in); ok {
		path := strings.TrimSuffix(u.Path, "/")
		if i := strings.LastIndex(path, "/_git/"); i >= 0 {
			return prKeyFromURL(c, input, path[:i], path[i+len("/_git/"):])
		}
		i := strings.LastIndex(path, "/_workitems/edit/")
		if i < 0 {
			return "", fmt.Errorf("%w: %q is not a work item URL (…/_workitems/edit/<id>)", trackers.ErrInvalidTicketKey, input)
		}
		n, ok := trackers.ParseTicketNumber(path[i+len("/_workitems/edit/"):])
		if !ok {
			return "", fmt.Errorf("%w: %q has no work item id", trackers.ErrInvalidTicketKey, input)
		}
		prefix := strings.ToLower(path[:i])
		if !strings.HasSuffix(prefix, "/"+strings.ToLower(c.Project)) && !strings.HasSuffix(prefix, "/"+strings.ToLower(escapeSpaces(c.Project))) {
			return "", fmt.Errorf("%w: %q is not a work item of %s", trackers.ErrInvalidTicketKey, input, c.Project)
		}
		return fmt.Sprintf("%s#%d", c.Project, n), nil
	}
	if proj, n, ok := trackers.SplitNumberedKey(in); ok {
		if proj != "" && !strings.EqualFold(proj, c.Project) {
			return "", fmt.Errorf("%w: %q is a work item of %s, not of %s", trackers.ErrInvalidTicketKey, input, proj, c.Project)
		}
		return fmt.Sprintf("%s#%d", c.Project, n), nil
	}
	// After the "#" forms: a project name may hold "!".
	if i := strings.LastIndexByte(in, '!'); i >= 0 {
		n, ok := trackers.ParseTicketNumber(in[i+1:])
		switch {
		case !ok:
			return "", fmt.Errorf("%w: %q is not a pull request (organization/project!id or !id)", trackers.ErrInvalidTicketKey, input)
		case in[:i] != "" && !strings.EqualFold(in[:i], c.Project):
			return "", fmt.Errorf("%w: %q is a pull request of %s, not of %s", trackers.ErrInvalidTicketKey, input, in[:i], c.Project)
		}
		return fmt.Sprintf("%s!%d", c.Project, n), nil
	}
	if n, ok := trackers.ParseTicketNumber(in); ok {
		return fmt.Sprintf("%s#%d", c.Project, n), nil
	}
	return "", fmt.Errorf("%w: %q is not a work item (organization/project#id, #id, id or its URL) or pull request (organization/project!id, !id or its URL)", trackers.ErrInvalidTicketKey, input)
}

func escapeSpaces(s string) string { return strings.ReplaceAll(s, " ", "%20") }

// parseKey returns the work item id of a key of the session's project.
func parseKey(s *trackers.Session, key string) (int64, error) {
	if i := strings.LastIndexByte(key, '!'); i >= 0 && strings.EqualFold(key[:i], s.Connector.Project) {
		return 0, errReview(key, "only work items take this writeback step")
	}
	proj, n, ok := trackers.SplitNumberedKey(key)
	if !ok || !strings.EqualFold(proj, s.Connector.Project) {
		return 0, fmt.Errorf("%w: %q is not a work item of %s", trackers.ErrInvalidTicketKey, key, s.Connector.Project)
	}
	return n, nil
}

// prKeyFromURL reads a pull request's web URL: prefix is the path up to
// /_git/ (…/organization/project), rest is "repo/pullrequest/7".
func prKeyFromURL(c connector.Connector, input, prefix, rest string) (string, error) {
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || !strings.EqualFold(parts[1], "pullrequest") {
		return "", fmt.Errorf("%w: %q is not a pull request URL (…/_git/<repo>/pullrequest/<id>)", trackers.ErrInvalidTicketKey, input)
	}
	n, ok := trackers.ParseTicketNumber(parts[2])
	if !ok {
		return "", fmt.Errorf("%w: %q has no pull request id", trackers.ErrInvalidTicketKey, input)
	}
	prefix = strings.ToLower(prefix)
	if !strings.HasSuffix(prefix, "/"+strings.ToLower(c.Project)) && !strings.HasSuffix(prefix, "/"+strings.ToLower(escapeSpaces(c.Project))) {
		return "", fmt.Errorf("%w: %q is not a pull request of %s", trackers.ErrInvalidTicketKey, input, c.Project)
	}
	return fmt.Sprintf("%s!%d", c.Project, n), nil
}
