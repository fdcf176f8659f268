package jira

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

var (
	_ trackers.Discoverer   = Tracker{}
	_ trackers.TicketReader = Tracker{}
)

// jiraPageSize is the maxResults discovery asks for (Jira caps it at 100
// when fields are requested; the fake may cap it lower).
const jiraPageSize = 100

// Discover lists one page of the assigned, unresolved tickets in scope.
// Cloud: POST /rest/api/3/search/jql with nextPageToken (the old /search
// answers 410 there). Data Center: POST /rest/api/2/search with startAt, the
// page token being the next startAt. Both are ordered by updated, then key,
// so paging is stable.
func (Tracker) Discover(ctx context.Context, s *trackers.Session, q trackers.DiscoveryQuery) (trackers.DiscoveryPage, error) {
	c := newJiraClient(s)
	if s.Connector.AuthMode == connector.AuthAnonymous && s.Connector.Assignee == "" {
		return trackers.DiscoveryPage{}, fmt.Errorf("%w: anonymous jira discovery needs an assignee (currentUser() is nobody)", trackers.ErrInvalidConfig)
	}
	loc := anonymousJQLZone
	if !q.Since.IsZero() {
		var err error
		if loc, err = jiraQueryZone(ctx, s); err != nil {
			return trackers.DiscoveryPage{}, err
		}
	}
	jql, err := discoveryJQL(scopeOf(s.Connector), q.Since, loc)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	fields := jiraFieldsFor(s.Connector.IndexComments, s.Connector.IndexAttachments, q.Full)
	issues, next, err := c.search(ctx, jql, fields, nil, q.PageToken)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	page := trackers.DiscoveryPage{NextPageToken: next}
	// The converted tickets are the page's (appending copies of them to
	// a growing slice was a tenth of the bytes a page allocated, issue 9).
	if page.Tickets, err = c.ticketsOf(issues); err != nil {
		return trackers.DiscoveryPage{}, err
	}
	if len(page.Tickets) == 0 {
		page.Tickets = nil // as no append made it
	}
	for i, is := range issues {
		if q.Full && s.Connector.IndexComments && is.Fields.Comment != nil && is.Fields.Comment.Total > len(is.Fields.Comment.Comments) {
			// Search results carry the first comments only: read the rest.
			if page.Tickets[i].Comments, err = c.allComments(ctx, is.Key); err != nil {
				return trackers.DiscoveryPage{}, err
			}
		}
	}
	if q.Full {
		if err := c.fillSiblings(ctx, page.Tickets); err != nil {
			return trackers.DiscoveryPage{}, err
		}
	}
	return page, nil
}

// fillSiblings gives each sub-task its parent's other sub-tasks. A parent in
// the same page is used as listed; others are read once each (fields=subtasks).
func (c jiraClient) fillSiblings(ctx context.Context, tickets []trackers.Ticket) error {
	subtasksOf := map[string][]trackers.TicketLink{}
	for _, t := range tickets {
		subtasksOf[t.Key] = t.Subtasks
	}
	for i, t := range tickets {
		if t.Parent == nil {
			continue
		}
		subs, ok := subtasksOf[t.Parent.Key]
		if !ok {
			if err := checkIssueKey(t.Parent.Key); err != nil {
				return fmt.Errorf("%w: issue %s has parent %q", trackers.ErrMalformedResponse, t.Key, t.Parent.Key)
			}
			var parent jiraIssue
			q := url.Values{"fields": {"subtasks"}}
			if err := c.do(ctx, http.MethodGet, "issue/"+t.Parent.Key, q, nil, &parent); err != nil {
				if errors.Is(notFoundAs(err, t.Parent.Key), trackers.ErrTicketNotFound) {
					subtasksOf[t.Parent.Key] = nil // parent not visible: no siblings to show
					continue
				}
				return fmt.Errorf("parent %s of %s: %w", t.Parent.Key, t.Key, err)
			}
			for _, st := range parent.Fields.Subtasks {
				if st.Key != "" {
					subs = append(subs, *c.linkOf(st))
				}
			}
			subtasksOf[t.Parent.Key] = subs
		}
		for _, st := range subs {
			if st.Key != t.Key {
				tickets[i].Siblings = append(tickets[i].Siblings, st)
			}
		}
	}
	return nil
}

// search runs one page of a JQL search and returns the continuation token
// ("" on the last page).
func (c jiraClient) search(ctx context.Context, jql string, fields, properties []string, token string) ([]jiraIssue, string, error) {
	if c.cloud {
		req := map[string]any{"jql": jql, "fields": fields, "maxResults": jiraPageSize}
		if len(properties) > 0 {
			req["properties"] = properties
		}
		if token != "" {
			req["nextPageToken"] = token
		}
		var resp cloudSearchPage
		if err := c.do(ctx, http.MethodPost, "search/jql", nil, req, &resp); err != nil {
			return nil, "", searchError(err)
		}
		if resp.IsLast == nil && resp.NextPageToken == "" && resp.Issues == nil {
			return nil, "", fmt.Errorf("%w: jira search answer without issues or isLast", trackers.ErrMalformedResponse)
		}
		if resp.IsLast != nil && *resp.IsLast {
			return resp.Issues, "", nil
		}
		if token != "" && resp.NextPageToken == token {
			return nil, "", fmt.Errorf("%w: jira search returned the same page token again", trackers.ErrMalformedResponse)
		}
		return resp.Issues, resp.NextPageToken, nil
	}

	startAt := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 {
			return nil, "", fmt.Errorf("%w: bad page token %q", trackers.ErrInvalidConfig, token)
		}
		startAt = n
	}
	req := map[string]any{"jql": jql, "fields": fields, "startAt": startAt, "maxResults": jiraPageSize}
	if len(properties) > 0 {
		req["properties"] = properties
	}
	var resp dcSearchPage
	if err := c.do(ctx, http.MethodPost, "search", nil, req, &resp); err != nil {
		return nil, "", searchError(err)
	}
	if resp.Total == nil || resp.StartAt == nil {
		return nil, "", fmt.Errorf("%w: jira search answer without startAt or total", trackers.ErrMalformedResponse)
	}
	next := *resp.StartAt + len(resp.Issues)
	if len(resp.Issues) == 0 || next >= *resp.Total {
		return resp.Issues, "", nil
	}
	return resp.Issues, strconv.Itoa(next), nil
}

// searchError explains a refused query (HTTP 400) with Jira's own messages.
func searchError(err error) error {
	if jiraStatus(err) == http.StatusBadRequest {
		return fmt.Errorf("jira refused the discovery query: %w", err)
	}
	return err
}

// GetTicket reads a ticket as it is now, with what ticket events carry.
func (Tracker) GetTicket(ctx context.Context, s *trackers.Session, key string) (trackers.Ticket, error) {
	if err := checkIssueKey(key); err != nil {
		return trackers.Ticket{}, err
	}
	c := newJiraClient(s)
	fields := jiraFieldsFor(s.Connector.IndexComments, s.Connector.IndexAttachments, true)
	var is jiraIssue
	q := url.Values{"fields": {strings.Join(fields, ",")}}
	if err := c.do(ctx, http.MethodGet, "issue/"+key, q, nil, &is); err != nil {
		return trackers.Ticket{}, notFoundAs(err, key)
	}
	t, err := c.ticketOf(is)
	if err != nil {
		return trackers.Ticket{}, err
	}
	if s.Connector.IndexComments && is.Fields.Comment != nil && is.Fields.Comment.Total > len(is.Fields.Comment.Comments) {
		if t.Comments, err = c.allComments(ctx, is.Key); err != nil {
			return trackers.Ticket{}, err
		}
	}
	return t, nil
}

// commentPageSize is the maxResults comment listings ask for.
const commentPageSize = 100

// listComments pages through a ticket's comments (with their entity
// properties when withProps) and calls visit for each until it returns false.
func (c jiraClient) listComments(ctx context.Context, key, orderBy string, withProps bool, visit func(jiraComment) bool) error {
	startAt := 0
	for range 1000 {
		q := url.Values{"startAt": {strconv.Itoa(startAt)}, "maxResults": {strconv.Itoa(commentPageSize)}}
		if orderBy != "" {
			q.Set("orderBy", orderBy)
		}
		if withProps {
			q.Set("expand", "properties")
		}
		var page jiraCommentPage
		if err := c.do(ctx, http.MethodGet, "issue/"+key+"/comment", q, nil, &page); err != nil {
			return notFoundAs(err, key)
		}
		for _, cm := range page.Comments {
			if !visit(cm) {
				return nil
			}
		}
		startAt += len(page.Comments)
		if len(page.Comments) == 0 || startAt >= page.Total {
			return nil
		}
	}
	return fmt.Errorf("%w: jira comment listing of %s does not end", trackers.ErrMalformedResponse, key)
}

func (c jiraClient) allComments(ctx context.Context, key string) ([]trackers.Comment, error) {
	var out []trackers.Comment
	var convErr error
	err := c.listComments(ctx, key, "created", false, func(cm jiraComment) bool {
		conv, err := c.commentOf(cm)
		if err != nil {
			convErr = err
			return false
		}
		out = append(out, conv)
		return true
	})
	if err == nil {
		err = convErr
	}
	return out, err
}

// ticketsOf converts a page of issues. Rich text makes a conversion cost
// tens of microseconds, so a full page is split across the available cores:
// the next page is on its way meanwhile, and the listing waits for this one.
func (c jiraClient) ticketsOf(issues []jiraIssue) ([]trackers.Ticket, error) {
	c.browse = browsePrefix(c.s)
	urls := c.pageURLs(issues)
	out := make([]trackers.Ticket, len(issues))
	workers := min(runtime.GOMAXPROCS(0), len(issues)/16)
	if workers <= 1 {
		for i, is := range issues {
			t, err := c.ticketWithURL(is, urls[i])
			if err != nil {
				return nil, err
			}
			out[i] = t
		}
		return out, nil
	}
	errs := make([]error, len(issues))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(issues); i += workers {
				out[i], errs[i] = c.ticketWithURL(issues[i], urls[i])
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the first, as the loop above would return
		}
	}
	return out, nil
}

// pageURLs are the browse URLs of a page's issues (c.browseURL of each
// key), cut from one string: a string per ticket was an allocation each
// (issue 9). An issue whose key needs more than the prefix gets "", and
// ticketWithURL makes its URL on its own.
func (c jiraClient) pageURLs(issues []jiraIssue) []string {
	urls := make([]string, len(issues))
	if c.browse == "" {
		return urls
	}
	size := 0
	for _, is := range issues {
		if plainKey(is.Key) {
			size += len(c.browse) + len(is.Key)
		}
	}
	var b strings.Builder
	b.Grow(size)
	for _, is := range issues {
		if plainKey(is.Key) {
			b.WriteString(c.browse)
			b.WriteString(is.Key)
		}
	}
	all, at := b.String(), 0
	for i, is := range issues {
		if plainKey(is.Key) {
			n := len(c.browse) + len(is.Key)
			urls[i] = all[at : at+n]
			at += n
		}
	}
	return urls
}
