package gitlab

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.KeyNormalizer = Tracker{}

// NormalizeKey accepts, for a connector of project group/subgroup/project,
// the key "group/subgroup/project#12" (the path compared case-insensitively,
// as GitLab routes it), the bare "12" or "#12", and the issue's web URL
// (<base URL>/group/subgroup/project/-/issues/12, or …/-/work_items/12). It
// returns "group/subgroup/project#12" with the path spelled as the connector
// spells it. A key or URL of another project is refused, naming both.
//
// A connector that names its project by numeric id has keys "<id>#12": the
// path is not known without asking GitLab, so its keys are the number (bare,
// "#12" or "<id>#12") and URLs are refused.
func (Tracker) NormalizeKey(c connector.Connector, input string) (string, error) {
	in := strings.TrimSpace(input)
	project := c.Project
	if !projectPath.MatchString(project) {
		return "", fmt.Errorf("%w: GitLab project must be a path such as group/project or a numeric id, got %q", trackers.ErrInvalidConfig, project)
	}
	numeric := !strings.Contains(project, "/")
	if n, ok := trackers.ParseTicketNumber(strings.TrimPrefix(in, "#")); ok {
		return gitlabKey(c, n), nil
	}
	if u, ok := trackers.ParseWebURL(in); ok {
		if numeric {
			return "", fmt.Errorf("%w: connector names its GitLab project by id %s, so an issue URL cannot be checked against it: give the issue number (12 or #12)", trackers.ErrInvalidTicketKey, project)
		}
		got, n, ok := gitlabIssueURL(c, u)
		if !ok {
			return "", fmt.Errorf("%w: %q is not a GitLab issue URL (%s/%s/-/issues/12)", trackers.ErrInvalidTicketKey, in, strings.TrimSuffix(c.BaseURL, "/"), project)
		}
		if !strings.EqualFold(got, project) {
			return "", gitlabOtherProject(in, got, project)
		}
		return gitlabKey(c, n), nil
	}
	if got, n, ok := trackers.SplitNumberedKey(in); ok && projectPath.MatchString(got) {
		if !strings.EqualFold(got, project) {
			return "", gitlabOtherProject(in, got, project)
		}
		return gitlabKey(c, n), nil
	}
	return "", fmt.Errorf("%w: %q is not a GitLab issue of %s: give %s#12, 12, #12 or the issue's URL", trackers.ErrInvalidTicketKey, in, project, project)
}

// gitlabIssueURL reads the project path and iid from an issue's web URL:
// the path after the instance's own (a self-managed GitLab may live under a
// relative URL root, which its base URL carries) up to "/-/issues/N".
func gitlabIssueURL(c connector.Connector, u *url.URL) (project string, iid int64, ok bool) {
	path := strings.TrimSuffix(u.Path, "/")
	if base, err := url.Parse(c.BaseURL); err == nil {
		root := strings.TrimSuffix(base.Path, "/")
		if !strings.HasPrefix(path, root+"/") {
			return "", 0, false
		}
		path = path[len(root):]
	}
	for _, kind := range []string{"/-/issues/", "/-/work_items/"} {
		i := strings.LastIndex(path, kind)
		if i <= 0 {
			continue
		}
		n, ok := trackers.ParseTicketNumber(path[i+len(kind):])
		if !ok {
			return "", 0, false
		}
		return strings.TrimPrefix(path[:i], "/"), n, true
	}
	return "", 0, false
}

func gitlabOtherProject(in, got, project string) error {
	return fmt.Errorf("%w: %q is an issue of project %s, but the connector's project is %s", trackers.ErrInvalidTicketKey, in, got, project)
}

// gitlabKey is the key of issue iid of the connector's project.
func gitlabKey(c connector.Connector, iid int64) string {
	var num [20]byte // formatted on the stack: one allocation, the key
	return c.Project + "#" + string(strconv.AppendInt(num[:0], iid, 10))
}

// gitlabIID parses a ticket key of the connector's project (any form
// NormalizeKey accepts) to its normal form and the issue iid the API takes.
func gitlabIID(c connector.Connector, key string) (string, int64, error) {
	norm, err := Tracker{}.NormalizeKey(c, key)
	if err != nil {
		return "", 0, err
	}
	_, iid, _ := trackers.SplitNumberedKey(norm)
	return norm, iid, nil
}
