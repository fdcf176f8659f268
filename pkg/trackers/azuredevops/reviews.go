package azuredevops

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// ReviewPageSize is how many pull requests one page of the review listing
// holds ($top; the service's default and cap is 1000, fewer keeps a page
// small).
const ReviewPageSize = 100

// reviewsPhase prefixes the page tokens of the pull requests under review:
// "p:<skip>". Work item pages keep their plain id tokens, so a token a poller
// stored before this phase existed still continues the work items.
const reviewsPhase = "p:"

// reviewPR is a pull request as the project-wide listing
// (GET …/_apis/git/pullrequests) returns it: GitPullRequest of the shape.
type reviewPR struct {
	PullRequestID int64        `json:"pullRequestId"`
	Status        string       `json:"status"`
	Title         string       `json:"title"`
	Description   string       `json:"description"`
	CreatedBy     *identityRef `json:"createdBy"`
	CreationDate  time.Time    `json:"creationDate"`
	IsDraft       bool         `json:"isDraft"`
	Repository    struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"repository"`
	Reviewers []identityRef `json:"reviewers"`
}

// accountID is the PAT's identity id (connectionData), which the pull
// request search takes as searchCriteria.reviewerId.
func accountID(ctx context.Context, s *trackers.Session) (string, error) {
	var cd connectionData
	if err := call(ctx, s, http.MethodGet, apiPath(s, false, "_apis", "connectionData"), nil, nil, "", &cd, "connection data"); err != nil {
		return "", err
	}
	if id := cd.AuthenticatedUser.ID; id != "" && id != anonymousID {
		return id, nil
	}
	return "", fmt.Errorf("%w: connection data: anonymous identity (PAT not accepted)", trackers.ErrUnauthorized)
}

// listPRs reads one page of the project's pull requests matching q.
func listPRs(ctx context.Context, s *trackers.Session, q url.Values, what string) ([]reviewPR, error) {
	var res struct {
		Count int        `json:"count"`
		Value []reviewPR `json:"value"`
	}
	if err := call(ctx, s, http.MethodGet, apiPath(s, true, "_apis", "git", "pullrequests"), q, nil, "", &res, what); err != nil {
		return nil, err
	}
	for _, p := range res.Value {
		if p.PullRequestID <= 0 || p.Repository.Name == "" {
			return nil, fmt.Errorf("%w: %s: pull request without id or repository", trackers.ErrMalformedResponse, what)
		}
	}
	return res.Value, nil
}

// reviews lists one page of the project's active pull requests where the
// account is a reviewer, skip pull requests in. The listing has no
// "updated since" criterion (minTime filters by creation or closing) and
// says nothing of when the account was added as a reviewer, so every page
// is the whole set, whatever the cursor: it is small (active reviews of one
// account) and the poller keeps only what changed.
func reviews(ctx context.Context, s *trackers.Session, skip int) (trackers.DiscoveryPage, error) {
	me, err := accountID(ctx, s)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	q := url.Values{
		"searchCriteria.reviewerId": {me},
		"searchCriteria.status":     {"active"},
		"$top":                      {strconv.Itoa(ReviewPageSize)},
		"$skip":                     {strconv.Itoa(skip)},
	}
	prs, err := listPRs(ctx, s, q, "pull requests under review")
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	page := trackers.DiscoveryPage{Tickets: make([]trackers.Ticket, 0, len(prs))}
	for _, p := range prs {
		page.Tickets = append(page.Tickets, p.ticket(s))
	}
	if len(prs) == ReviewPageSize {
		page.NextPageToken = reviewsPhase + strconv.Itoa(skip+len(prs))
	}
	return page, nil
}

// prTicketKey is "organization/project!id": pull request ids are unique in
// the organization (collection), like work item ids, and "!" keeps them
// apart from work items (as GitLab's merge requests and Bitbucket's pull
// requests).
func prTicketKey(s *trackers.Session, id int64) string {
	return s.Connector.Project + "!" + strconv.FormatInt(id, 10)
}

// ticket maps a pull request under review: a review ticket, labelled so.
// Descriptions of pull requests are Markdown.
func (p reviewPR) ticket(s *trackers.Session) trackers.Ticket {
	return trackers.Ticket{
		Key:                 prTicketKey(s, p.PullRequestID),
		URL:                 prURL(s, p.Repository.Name, p.PullRequestID),
		Summary:             p.Title,
		DescriptionMarkdown: p.Description,
		DescriptionText:     p.Description,
		Status:              p.Status,
		Labels:              []string{"review"},
		Reporter:            p.CreatedBy.user(),
		Created:             p.CreationDate.UTC(),
		// GitPullRequest has no update date: the creation date stands in.
		Updated: p.CreationDate.UTC(),
	}
}

// maxPRPages bounds getPR's walk through the project's pull requests.
const maxPRPages = 100

// getPR reads one pull request of the project by id. The shape has no
// route for one pull request by id (…/pullrequests/{id} is not in it), so
// this pages the project listing with status=all until it meets the id.
func getPR(ctx context.Context, s *trackers.Session, key string, id int64) (reviewPR, error) {
	for page := range maxPRPages {
		q := url.Values{
			"searchCriteria.status": {"all"},
			"$top":                  {strconv.Itoa(ReviewPageSize)},
			"$skip":                 {strconv.Itoa(page * ReviewPageSize)},
		}
		prs, err := listPRs(ctx, s, q, "pull request "+key)
		if err != nil {
			return reviewPR{}, err
		}
		for _, p := range prs {
			if p.PullRequestID == id {
				return p, nil
			}
		}
		if len(prs) < ReviewPageSize {
			break
		}
	}
	return reviewPR{}, fmt.Errorf("%w: pull request %s", trackers.ErrTicketNotFound, key)
}

// splitKey reads a key of the session's project: the id, and whether it
// names a pull request under review ("organization/project!id").
func splitKey(s *trackers.Session, key string) (int64, bool, error) {
	if i := strings.LastIndexByte(key, '!'); i >= 0 && strings.EqualFold(key[:i], s.Connector.Project) {
		n, ok := trackers.ParseTicketNumber(key[i+1:])
		if !ok {
			return 0, false, fmt.Errorf("%w: %q is not a pull request of %s", trackers.ErrInvalidTicketKey, key, s.Connector.Project)
		}
		return n, true, nil
	}
	n, err := parseKey(s, key)
	return n, false, err
}

// errReview refuses a writeback step on a pull request under review.
func errReview(key, what string) error {
	return fmt.Errorf("%w: %s is a pull request under review: %s", trackers.ErrRejected, key, what)
}

// prThread is a pull request comment thread (GitPullRequestCommentThread).
type prThread struct {
	ID       int64 `json:"id"`
	Comments []struct {
		ID      int64  `json:"id"`
		Content string `json:"content"`
	} `json:"comments"`
}

// threadsPath is the threads of a pull request in its repository.
func threadsPath(s *trackers.Session, repo string, prID int64) string {
	return apiPath(s, true, "_apis", "git", "repositories", url.PathEscape(repo), "pullRequests", strconv.FormatInt(prID, 10), "threads")
}

// threadLink is a thread's web link (the pull request page opened on it).
func threadLink(s *trackers.Session, repo string, prID, threadID int64) trackers.Link {
	return trackers.Link{Kind: "comment", Key: strconv.FormatInt(threadID, 10),
		URL: prURL(s, repo, prID) + "?discussionId=" + strconv.FormatInt(threadID, 10)}
}

// prComment starts an active thread with one Markdown comment (pull request
// comments are Markdown) on a pull request under review
// (POST …/repositories/{repo}/pullRequests/{id}/threads). The repository
// comes from the pull request, read first.
func prComment(ctx context.Context, s *trackers.Session, key string, prID int64, text string) (trackers.Link, error) {
	p, err := getPR(ctx, s, key, prID)
	if err != nil {
		return trackers.Link{}, err
	}
	body := map[string]any{
		"comments": []map[string]any{{"parentCommentId": 0, "content": text, "commentType": "text"}},
		"status":   "active",
	}
	var got prThread
	if err := call(ctx, s, http.MethodPost, threadsPath(s, p.Repository.Name, prID), nil, body, "", &got, "comment on "+key); err != nil {
		if isNotFound(err) {
			return trackers.Link{}, fmt.Errorf("%w: %w", trackers.ErrTicketNotFound, err)
		}
		return trackers.Link{}, err
	}
	if got.ID == 0 {
		return trackers.Link{}, fmt.Errorf("%w: thread without an id", trackers.ErrMalformedResponse)
	}
	return threadLink(s, p.Repository.Name, prID, got.ID), nil
}

// findPRComment looks through the pull request's threads (the API answers
// them all at once) for a comment holding tag.
func findPRComment(ctx context.Context, s *trackers.Session, key string, prID int64, tag string) (trackers.Link, bool, error) {
	p, err := getPR(ctx, s, key, prID)
	if err != nil {
		return trackers.Link{}, false, err
	}
	var res struct {
		Value []prThread `json:"value"`
	}
	if err := call(ctx, s, http.MethodGet, threadsPath(s, p.Repository.Name, prID), nil, nil, "", &res, "threads of "+key); err != nil {
		if isNotFound(err) {
			return trackers.Link{}, false, fmt.Errorf("%w: %w", trackers.ErrTicketNotFound, err)
		}
		return trackers.Link{}, false, err
	}
	for _, t := range res.Value {
		for _, c := range t.Comments {
			if strings.Contains(c.Content, tag) {
				return threadLink(s, p.Repository.Name, prID, t.ID), true, nil
			}
		}
	}
	return trackers.Link{}, false, nil
}
