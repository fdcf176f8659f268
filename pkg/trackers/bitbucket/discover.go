package bitbucket

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// PageLen is Bitbucket's largest page (pagelen) for issues and pull requests.
const PageLen = 100

// openStates are the issue states discovery lists (the rest are closed).
var openStates = []string{"new", "open", "on hold", "submitted"}

func urlValues(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// bbqlString quotes a BBQL string literal.
func bbqlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// issueQuery is the BBQL of the assigned open issues updated since.
func issueQuery(uuid string, since time.Time) string {
	states := make([]string, len(openStates))
	for i, st := range openStates {
		states[i] = bbqlString(st)
	}
	q := "assignee.uuid=" + bbqlString(uuid) + " AND state IN (" + strings.Join(states, ", ") + ")"
	if !since.IsZero() {
		q += " AND updated_on >= " + since.UTC().Format(time.RFC3339)
	}
	return q
}

func reviewQuery(uuid string, since time.Time) string {
	q := "reviewers.uuid=" + bbqlString(uuid) + ` AND state="OPEN"`
	if !since.IsZero() {
		q += " AND updated_on >= " + since.UTC().Format(time.RFC3339)
	}
	return q
}

// Page tokens: "i:<next URL>" continues the issues, "p:" starts the pull
// requests under review and "p:<next URL>" continues them.
const (
	issuesPhase  = "i:"
	reviewsPhase = "p:"
)

// Discover lists the assigned open issues (when the repository's issue
// tracker is on), then, when the connector asks for it or the issue tracker
// is off or gone, the open pull requests where the account is a reviewer.
func (t Tracker) Discover(ctx context.Context, s *trackers.Session, q trackers.DiscoveryQuery) (trackers.DiscoveryPage, error) {
	uuid, err := assignee(ctx, s)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	repo, err := repoInfo(ctx, s)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	reviews := s.Connector.ReviewPullRequests || !repo.HasIssues
	base := "repositories/" + s.Connector.Project
	switch tok := q.PageToken; {
	case tok == "" && repo.HasIssues, strings.HasPrefix(tok, issuesPhase):
		var pg issuePage
		path, query := base+"/issues", urlValues("q", issueQuery(uuid, q.Since), "sort", "updated_on", "pagelen", strconv.Itoa(PageLen))
		if next := strings.TrimPrefix(tok, issuesPhase); next != "" {
			path, query = next, nil
		}
		_, err := call(ctx, s, http.MethodGet, path, query, nil, &pg, "issues of "+s.Connector.Project)
		switch {
		case errors.Is(err, errGone), errors.Is(err, errNotFound) && tok == "":
			// The issue tracker went away since the repository was read.
			s.Logger.WarnContext(ctx, "bitbucket issue tracker gone; discovering pull requests under review", "repository", s.Connector.Project)
			return t.reviews(ctx, s, uuid, q, "")
		case err != nil:
			return trackers.DiscoveryPage{}, err
		}
		out := trackers.DiscoveryPage{}
		var keys trackerhttp.Keys
		for _, is := range pg.Values {
			if is.ID == 0 {
				return trackers.DiscoveryPage{}, fmt.Errorf("%w: issue without id", trackers.ErrMalformedResponse)
			}
			out.Tickets = append(out.Tickets, issueTicket(s, is, &keys))
		}
		switch {
		case pg.Next != "":
			out.NextPageToken = issuesPhase + pg.Next
		case reviews:
			out.NextPageToken = reviewsPhase
		}
		return out, nil
	case tok == "" || strings.HasPrefix(tok, reviewsPhase):
		return t.reviews(ctx, s, uuid, q, strings.TrimPrefix(tok, reviewsPhase))
	default:
		return trackers.DiscoveryPage{}, fmt.Errorf("%w: page token %q", trackers.ErrInvalidConfig, tok)
	}
}

func (Tracker) reviews(ctx context.Context, s *trackers.Session, uuid string, q trackers.DiscoveryQuery, next string) (trackers.DiscoveryPage, error) {
	var pg page[pullRequest]
	path, query := "repositories/"+s.Connector.Project+"/pullrequests", urlValues("q", reviewQuery(uuid, q.Since), "sort", "updated_on", "pagelen", "50")
	if next != "" {
		path, query = next, nil
	}
	if _, err := call(ctx, s, http.MethodGet, path, query, nil, &pg, "pull requests of "+s.Connector.Project); err != nil {
		return trackers.DiscoveryPage{}, err
	}
	out := trackers.DiscoveryPage{}
	for _, pr := range pg.Values {
		if pr.ID == 0 {
			return trackers.DiscoveryPage{}, fmt.Errorf("%w: pull request without id", trackers.ErrMalformedResponse)
		}
		out.Tickets = append(out.Tickets, prTicket(s, pr))
	}
	if pg.Next != "" {
		out.NextPageToken = reviewsPhase + pg.Next
	}
	return out, nil
}

func userOf(a *account) trackers.User {
	if a == nil {
		return trackers.User{}
	}
	// Login is the Atlassian account id, which Bitbucket's Markdown
	// mentions take (@{557058:…}); the nickname when the API leaves it out.
	login := a.AccountID
	if login == "" {
		login = a.Nickname
	}
	return trackers.User{ID: a.UUID, Login: login, DisplayName: a.DisplayName}
}

// issueTicket maps an issue. Bitbucket issues have no labels: the kind,
// priority and component stand in for them.
// keys builds the key (nil: its own allocation).
func issueTicket(s *trackers.Session, is issue, keys *trackerhttp.Keys) trackers.Ticket {
	tk := trackers.Ticket{
		Key:                 keys.Key(s.Connector.Project, is.ID),
		URL:                 is.Links.HTML.Href,
		Summary:             is.Title,
		DescriptionMarkdown: is.Content.Raw,
		DescriptionText:     is.Content.Raw,
		Status:              is.State,
		Priority:            is.Priority,
		Reporter:            userOf(is.Reporter),
		Assignee:            userOf(is.Assignee),
		Created:             is.CreatedOn,
		Updated:             is.UpdatedOn,
	}
	tk.Labels = make([]string, 0, 3) // kind, priority, component: one allocation, not one per append
	for _, l := range []string{is.Kind, is.Priority} {
		if l != "" {
			tk.Labels = append(tk.Labels, l)
		}
	}
	if is.Component != nil && is.Component.Name != "" {
		tk.Labels = append(tk.Labels, is.Component.Name)
		tk.Components = []string{is.Component.Name}
	}
	if len(tk.Labels) == 0 {
		tk.Labels = nil // as before: no labels is nil
	}
	return tk
}

// prTicket maps a pull request under review: a review ticket, labelled so.
func prTicket(s *trackers.Session, pr pullRequest) trackers.Ticket {
	desc := pr.Description
	if desc == "" {
		desc = pr.Summary.Raw
	}
	tk := trackers.Ticket{
		Key:                 s.Connector.Project + "!" + strconv.FormatInt(pr.ID, 10),
		URL:                 pr.Links.HTML.Href,
		Summary:             pr.Title,
		DescriptionMarkdown: desc,
		DescriptionText:     desc,
		Status:              pr.State,
		Labels:              []string{"review"},
		Reporter:            userOf(pr.Author),
		Created:             pr.CreatedOn,
		Updated:             pr.UpdatedOn,
	}
	return tk
}

// GetTicket reads an issue or a pull request.
func (Tracker) GetTicket(ctx context.Context, s *trackers.Session, key string) (trackers.Ticket, error) {
	n, isPR, err := splitKey(s, key)
	if err != nil {
		return trackers.Ticket{}, err
	}
	base := "repositories/" + s.Connector.Project
	id := strconv.FormatInt(n, 10)
	if isPR {
		var pr pullRequest
		_, err := call(ctx, s, http.MethodGet, base+"/pullrequests/"+id, nil, nil, &pr, "pull request "+key)
		if err != nil {
			return trackers.Ticket{}, notFound(err)
		}
		return prTicket(s, pr), nil
	}
	var is issue
	if _, err := call(ctx, s, http.MethodGet, base+"/issues/"+id, nil, nil, &is, "issue "+key); err != nil {
		return trackers.Ticket{}, notFound(err)
	}
	if is.ID == 0 {
		return trackers.Ticket{}, fmt.Errorf("%w: issue %s without id", trackers.ErrMalformedResponse, key)
	}
	return issueTicket(s, is, nil), nil
}

// notFound names a missing (or, with the issue tracker gone, unreachable)
// ticket as ErrTicketNotFound.
func notFound(err error) error {
	if errors.Is(err, errNotFound) || errors.Is(err, errGone) {
		return fmt.Errorf("%w: %w", trackers.ErrTicketNotFound, err)
	}
	return err
}
