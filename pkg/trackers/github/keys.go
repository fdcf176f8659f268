package github

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var _ trackers.KeyNormalizer = Tracker{}

// NormalizeKey accepts, for a connector of repository owner/repo, the key
// "owner/repo#12" (owner and repository compared case-insensitively, as
// GitHub does), the bare "12" or "#12", and the or pull request's web
// URL (https://github.com/owner/repo/issues/12, …/pull/12; on Enterprise
// Server its own host). It returns "owner/repo#12" with the repository
// spelled as the connector spells it. A key or URL of another repository is
// refused, naming both.
func (Tracker) NormalizeKey(c connector.Connector, input string) (string, error) {
	in := strings.TrimSpace(input)
	repo := c.Project
	if _, _, err := splitRepo(repo); err != nil {
		return "", err
	}
	key := func(n int64) string { return repo + "#" + strconv.FormatInt(n, 10) }
	if n, ok := trackers.ParseTicketNumber(strings.TrimPrefix(in, "#")); ok {
		return key(n), nil
	}
	if u, ok := trackers.ParseWebURL(in); ok {
		// /owner/repo/issues/12 or /owner/repo/pull/12. The host is not
		// compared: Enterprise Server serves its pages on its own host,
		// and the repository in the path is what decides.
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) == 4 && (parts[2] == "issues" || parts[2] == "pull") {
			if n, ok := trackers.ParseTicketNumber(parts[3]); ok {
				if got := parts[0] + "/" + parts[1]; !strings.EqualFold(got, repo) {
					return "", githubOtherRepo(in, got, repo)
				}
				return key(n), nil
			}
		}
		return "", fmt.Errorf("%w: %q is not a GitHub issue or pull request URL (https://github.com/%s/issues/12)", trackers.ErrInvalidTicketKey, in, repo)
	}
	if got, n, ok := trackers.SplitNumberedKey(in); ok && repoName.MatchString(got) {
		if !strings.EqualFold(got, repo) {
			return "", githubOtherRepo(in, got, repo)
		}
		return key(n), nil
	}
	return "", fmt.Errorf("%w: %q is not a GitHub issue of %s: give %s#12, 12, #12 or the issue's URL", trackers.ErrInvalidTicketKey, in, repo, repo)
}

func githubOtherRepo(in, got, repo string) error {
	return fmt.Errorf("%w: %q is an issue of repository %s, but the connector's repository is %s", trackers.ErrInvalidTicketKey, in, got, repo)
}

// githubNumber parses a ticket key of the connector's repository (any form
// NormalizeKey accepts) to the issue number the API calls take.
func githubNumber(c connector.Connector, key string) (int, error) {
	norm, err := Tracker{}.NormalizeKey(c, key)
	if err != nil {
		return 0, err
	}
	_, n, _ := trackers.SplitNumberedKey(norm)
	return int(n), nil
}
