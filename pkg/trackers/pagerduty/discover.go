package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// PageSize is PagerDuty's largest incident page (limit).
const PageSize = 100

// listQuery is GET /incidents for one user's open incidents, one page at
// offset. date_range=all lifts the creation-time window (30 days by
// default, six months at most with since/until): an incident opened two
// years ago and still acknowledged is listed. Its values are in the shape
// (date_range: enum ["all"]), and PagerDuty documents that since and until
// are then ignored. The since/until filters are on creation time, so they
// could not narrow an incremental query anyway (an old incident may have
// just changed): the cursor is applied to updated_at here.
func listQuery(userID string, offset, limit int) url.Values {
	q := url.Values{}
	q.Set("user_ids[]", userID)
	q.Add("statuses[]", "triggered")
	q.Add("statuses[]", "acknowledged")
	q.Set("date_range", "all")
	q.Set("offset", strconv.Itoa(offset))
	q.Set("limit", strconv.Itoa(limit))
	q.Set("time_zone", "UTC")
	return q
}

// parseToken reads a page token: the offset of the next page. A token of
// the earlier windowed form ("anchor:window:offset", persisted by a poller
// mid-listing before an upgrade) restarts the listing at 0; event ids make
// the repeat harmless.
func parseToken(s string) (int, error) {
	if strings.Count(s, ":") == 2 {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: page token %q", trackers.ErrInvalidConfig, s)
	}
	return n, nil
}

// Discover lists the open (triggered, acknowledged) incidents assigned to
// the connector's user, one PagerDuty page per call.
func (t Tracker) Discover(ctx context.Context, s *trackers.Session, q trackers.DiscoveryQuery) (trackers.DiscoveryPage, error) {
	acc, err := accountOf(ctx, s)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	offset := 0
	if q.PageToken != "" {
		if offset, err = parseToken(q.PageToken); err != nil {
			return trackers.DiscoveryPage{}, err
		}
	}
	var page incidentList
	what := "incidents of user " + acc.userID
	if err := call(ctx, s, http.MethodGet, "incidents", listQuery(acc.userID, offset, PageSize), nil, &page, "", what); err != nil {
		return trackers.DiscoveryPage{}, err
	}
	keep := make([]incident, 0, len(page.Incidents))
	for _, in := range page.Incidents {
		if in.ID == "" {
			return trackers.DiscoveryPage{}, fmt.Errorf("%w: %s: an incident without id", trackers.ErrMalformedResponse, what)
		}
		if err := in.times(); err != nil {
			return trackers.DiscoveryPage{}, fmt.Errorf("%w: %s: %w", trackers.ErrMalformedResponse, what, err)
		}
		if !q.Since.IsZero() && in.UpdatedAt.Before(q.Since) {
			continue
		}
		keep = append(keep, in)
	}
	if q.Full {
		var err error
		if keep, err = t.withBodies(ctx, s, keep); err != nil {
			return trackers.DiscoveryPage{}, err
		}
	}
	var out trackers.DiscoveryPage
	if len(keep) > 0 { // sized once: a Ticket is large to copy on every growth
		out.Tickets = make([]trackers.Ticket, 0, len(keep))
	}
	for _, in := range keep {
		out.Tickets = append(out.Tickets, ticketOf(in))
	}
	if page.More && len(page.Incidents) > 0 {
		out.NextPageToken = strconv.Itoa(offset + len(page.Incidents))
	}
	return out, nil
}

// bodyReaders is how many incident bodies one page reads at once. The list
// has no body (include[] offers none), so a first listing reads each
// incident once: one at a time, a page of 100 waits on 100 round trips in
// a row; four in flight cut that wait about fourfold and stay far below
// PagerDuty's 960 requests a minute per key for a usual handful of open
// incidents.
const bodyReaders = 4

// withBodies returns the incidents with their bodies, in order, leaving
// out those gone since the listing (ErrTicketNotFound). The first other
// error stops the reads and is returned.
//
// At most bodyReaders readers share the page's reads, each taking the next
// incident in turn until none is left; the calling goroutine is one of
// them. A goroutine per incident grew a fresh stack through the HTTP client
// for every one (runtime.copystack/adjustframe, about a tenth of a
// discovery window); a reader grows it once per page.
func (t Tracker) withBodies(ctx context.Context, s *trackers.Session, ins []incident) ([]incident, error) {
	todo := make([]int, 0, len(ins)) // indices of the incidents to read
	for i := range ins {
		if ins[i].Body == nil {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return ins, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gone := make([]bool, len(ins))
	errs := make([]error, len(ins))
	var next atomic.Int64
	read := func() {
		for {
			n := int(next.Add(1)) - 1
			if n >= len(todo) {
				return
			}
			i := todo[n]
			if ctx.Err() != nil { // another read failed: the rest are not sent
				errs[i] = ctx.Err()
				continue
			}
			err := t.withBody(ctx, s, &ins[i])
			switch {
			case errors.Is(err, trackers.ErrTicketNotFound):
				gone[i] = true // gone between the listing and the read
			case err != nil:
				errs[i] = err
				cancel()
			}
		}
	}
	var wg sync.WaitGroup
	for range min(bodyReaders, len(todo)) - 1 {
		wg.Go(read)
	}
	read()
	wg.Wait()
	// The error of the earliest incident that failed on its own (not by
	// the cancellation another failure caused).
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	kept := ins[:0]
	for i := range ins {
		if !gone[i] {
			kept = append(kept, ins[i])
		}
	}
	return kept, nil
}

// withBody gives *in its body: from the session's cache when the incident
// has not changed since it was read, else GET (the incident as read then
// replaces *in, as fresh as the listing or fresher).
func (t Tracker) withBody(ctx context.Context, s *trackers.Session, in *incident) error {
	c := connFor(s)
	c.mu.Lock()
	cb, ok := c.bodies[in.ID]
	c.mu.Unlock()
	// The instants are compared, not their text: formatting updated_at per
	// incident just to compare it cost an allocation and a Format each.
	if ok && cb.updated.Equal(in.UpdatedAt) {
		in.Body = &incidentBody{Details: cb.text}
		return nil
	}
	// The incident as read replaces the listed one in place (as fresh or
	// fresher); on an error it is dropped or the listing fails.
	if err := t.readIncident(ctx, s, in.ID, in); err != nil {
		return err
	}
	if in.Body != nil {
		c.mu.Lock()
		if c.bodies == nil || len(c.bodies) >= maxCachedBodies {
			c.bodies = map[string]cachedBody{}
		}
		// The text is kept, cloned: its strings may point into the whole
		// answer's bytes, which the cache should not hold on to.
		c.bodies[in.ID] = cachedBody{updated: in.UpdatedAt, text: strings.Clone(description(in.Body.Details))}
		c.mu.Unlock()
	}
	return nil
}

// GetTicket reads one incident (its body too).
func (t Tracker) GetTicket(ctx context.Context, s *trackers.Session, key string) (trackers.Ticket, error) {
	in, err := t.getIncident(ctx, s, key)
	if err != nil {
		return trackers.Ticket{}, err
	}
	return ticketOf(in), nil
}

func (t Tracker) getIncident(ctx context.Context, s *trackers.Session, id string) (incident, error) {
	var in incident
	err := t.readIncident(ctx, s, id, &in)
	return in, err
}

// readIncident reads one incident (its body too) into *dst.
func (Tracker) readIncident(ctx context.Context, s *trackers.Session, id string, dst *incident) error {
	if !incidentID.MatchString(id) {
		return fmt.Errorf("%w: %q is not a PagerDuty incident id", trackers.ErrTicketNotFound, id)
	}
	what := "incident " + id
	err := call(ctx, s, http.MethodGet, "incidents/"+id, nil, nil, incidentAnswer{dst}, "", what)
	switch {
	case errors.Is(err, errNotFound):
		return fmt.Errorf("%w: %w", trackers.ErrTicketNotFound, err)
	case err != nil:
		return err
	case dst.ID == "":
		return fmt.Errorf("%w: %s without id", trackers.ErrMalformedResponse, what)
	}
	if err := dst.times(); err != nil {
		return fmt.Errorf("%w: %w", trackers.ErrMalformedResponse, err)
	}
	return nil
}

// urgencyLabel is "urgency:" and the urgency, without a concatenation for
// PagerDuty's two urgencies.
func urgencyLabel(u string) string {
	switch u {
	case "high":
		return "urgency:high"
	case "low":
		return "urgency:low"
	}
	return "urgency:" + u
}

func userOf(r *reference) trackers.User {
	if r == nil {
		return trackers.User{}
	}
	name := r.Name
	if name == "" {
		name = r.Summary
	}
	return trackers.User{ID: r.ID, DisplayName: name, Email: r.Email}
}

// ticketOf maps an incident. PagerDuty has no labels: the service, the
// priority and the urgency stand in for them. The reporter is what
// triggered the incident when PagerDuty says so, else its service.
func ticketOf(in incident) trackers.Ticket {
	tk := trackers.Ticket{
		Key:     in.ID,
		URL:     in.HTMLURL,
		Summary: in.Title,
		Status:  in.Status,
		Created: in.CreatedAt,
		Updated: in.UpdatedAt,
	}
	if tk.Summary == "" {
		tk.Summary = in.Summary
	}
	tk.Labels = make([]string, 0, 3) // service, priority, urgency: one allocation, not one per append
	if in.Service.Summary != "" {
		tk.Labels = append(tk.Labels, in.Service.Summary)
		tk.Components = []string{in.Service.Summary}
	}
	if in.Priority.Summary != "" {
		tk.Priority = in.Priority.Summary
		tk.Labels = append(tk.Labels, in.Priority.Summary)
	}
	if in.Urgency != "" {
		tk.Labels = append(tk.Labels, urgencyLabel(in.Urgency))
		if tk.Priority == "" {
			tk.Priority = in.Urgency
		}
	}
	if len(in.Assignments) > 0 {
		tk.Assignee = userOf(&in.Assignments[0].Assignee)
	}
	if in.FirstTrigger.Agent != nil {
		tk.Reporter = userOf(in.FirstTrigger.Agent)
	} else {
		tk.Reporter = userOf(&in.Service)
	}
	if len(tk.Labels) == 0 {
		tk.Labels = nil // as before: no labels is nil
	}
	if in.Body != nil {
		tk.DescriptionMarkdown = description(in.Body.Details)
		tk.DescriptionText = tk.DescriptionMarkdown
	}
	return tk
}

// description renders body.details as decoded (incidentBody): a string,
// or an object holding only one text under a usual key, as the text;
// anything else as indented JSON; nothing (absent, null) as "". The text is
// the one rendered before from the raw bytes (details_internal_test.go).
func description(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case map[string]any:
		if len(v) == 1 {
			// A text under one of the usual keys is the description.
			for _, k := range []string{"description", "details", "summary"} {
				if s, ok := v[k].(string); ok {
					return s
				}
			}
		}
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
