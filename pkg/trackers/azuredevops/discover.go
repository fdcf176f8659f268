package azuredevops

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// PageSize is how many work items one discovery page holds: WIQL's $top and
// the workitemsbatch call's limit (200 ids per batch).
const PageSize = 200

// wiqlResult is the answer of POST …/_apis/wit/wiql for a flat query: the
// work items' ids, decoded by decodeListing (call: listingDecoder; the
// answer also carries each item's API URL, columns and the query's echo,
// which are skipped).
type wiqlResult struct {
	QueryType string
	IDs       []int64
}

func (r *wiqlResult) decodeListing(body []byte) error {
	return trackerhttp.Decode(body, func(s *trackerhttp.Scanner) {
		s.Object("WIQL result", func(k []byte) {
			switch string(k) {
			case "queryType":
				r.QueryType = s.String("queryType")
			case "workItems":
				r.IDs = make([]int64, 0, PageSize)
				s.Array("workItems", func() {
					var id int64
					s.Object("workItems", func(k []byte) {
						if string(k) == "id" {
							id = s.Int64("workItems.id")
						} else {
							s.Skip()
						}
					})
					r.IDs = append(r.IDs, id)
				})
			default:
				s.Skip()
			}
		})
	})
}

// wiqlIDs runs a flat WIQL query in the connector's project with time
// precision and returns at most top ids.
func wiqlIDs(ctx context.Context, s *trackers.Session, query string, top int) ([]int64, error) {
	q := url.Values{"timePrecision": {"true"}, "$top": {strconv.Itoa(top)}}
	var res wiqlResult
	if err := call(ctx, s, http.MethodPost, apiPath(s, true, "_apis", "wit", "wiql"), q, map[string]string{"query": query}, "", &res, "WIQL query"); err != nil {
		return nil, err
	}
	for _, id := range res.IDs {
		if id <= 0 {
			return nil, fmt.Errorf("%w: WIQL result without an id", trackers.ErrMalformedResponse)
		}
	}
	return res.IDs, nil
}

// wiqlString quotes a WIQL string literal.
func wiqlString(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// discoveryQuery is the WIQL of one discovery page: work items of the
// project assigned to the account, not in a closed state (closed: the
// Completed and Removed categories of the project's types), changed at or
// after since (with time precision), with ids above after. Pages are keyed
// by id rather than by offset, so each query returns at most PageSize ids
// and a listing never approaches WIQL's 20,000-result cap, however many
// work items match.
func discoveryQuery(assignee string, closed closedStates, since time.Time, after int64) string {
	var b strings.Builder
	b.WriteString("SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project AND [System.AssignedTo] = ")
	if assignee == "" {
		b.WriteString("@Me")
	} else {
		b.WriteString(wiqlString(assignee))
	}
	b.WriteString(closed.wiql())
	if !since.IsZero() {
		b.WriteString(" AND [System.ChangedDate] >= " + wiqlString(since.UTC().Format(time.RFC3339)))
	}
	if after > 0 {
		b.WriteString(" AND [System.Id] > " + strconv.FormatInt(after, 10))
	}
	b.WriteString(" ORDER BY [System.Id] ASC")
	return b.String()
}

// Discover lists one page of the assigned, open work items (the page token
// is the last id of the previous page), then, when the connector asks for
// it (ReviewPullRequests), the active pull requests of the project where
// the account is a reviewer ("p:<skip>" tokens).
func (t Tracker) Discover(ctx context.Context, s *trackers.Session, q trackers.DiscoveryQuery) (trackers.DiscoveryPage, error) {
	if rest, ok := strings.CutPrefix(q.PageToken, reviewsPhase); ok {
		skip := 0
		if rest != "" {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 {
				return trackers.DiscoveryPage{}, fmt.Errorf("%w: page token %q is not a pull request offset", trackers.ErrInvalidConfig, q.PageToken)
			}
			skip = n
		}
		return reviews(ctx, s, skip)
	}
	var after int64
	if q.PageToken != "" {
		n, err := strconv.ParseInt(q.PageToken, 10, 64)
		if err != nil || n < 0 {
			return trackers.DiscoveryPage{}, fmt.Errorf("%w: page token %q is not a work item id", trackers.ErrInvalidConfig, q.PageToken)
		}
		after = n
	}
	closed, err := t.states.closed(ctx, s)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	ids, err := wiqlIDs(ctx, s, discoveryQuery(s.Connector.Assignee, closed, q.Since, after), PageSize)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	items, err := batch(ctx, s, ids)
	if err != nil {
		return trackers.DiscoveryPage{}, err
	}
	page := trackers.DiscoveryPage{Tickets: make([]trackers.Ticket, 0, len(items))}
	ln := linksOf(s)
	ln.page = &pageBlocks{}
	for i := range items {
		page.Tickets = append(page.Tickets, items[i].ticket(ln))
	}
	slices.SortFunc(page.Tickets, func(a, b trackers.Ticket) int { return a.Updated.Compare(b.Updated) })
	switch {
	case len(ids) == PageSize:
		page.NextPageToken = strconv.FormatInt(ids[len(ids)-1], 10)
	case s.Connector.ReviewPullRequests:
		page.NextPageToken = reviewsPhase
	}
	return page, nil
}

// ticketFields are the fields discovery reads in a batch.
var ticketFields = []string{
	"System.Id", "System.Title", "System.Description", "System.State", "System.Tags", "System.WorkItemType",
	"System.AssignedTo", "System.CreatedBy", "System.CreatedDate", "System.ChangedDate", "System.Parent",
	"Microsoft.VSTS.Common.Priority",
}

// batch reads work items by id, at most PageSize per call (the
// workitemsbatch limit), in the order given.
//
// The decoded work items are kept where decodeBatch put them, the nulls
// filtered out in place: appending each to a growing result copied every
// work item (a large struct) once or more, and was a third of the bytes a
// discovery page allocated (BenchmarkAzureDevOpsDiscoverPage). A page is
// one call (len(ids) <= PageSize); only a longer list appends.
func batch(ctx context.Context, s *trackers.Session, ids []int64) ([]workItem, error) {
	var out []workItem
	for chunk := range slices.Chunk(ids, PageSize) {
		var res batchPage
		body := map[string]any{"ids": chunk, "fields": ticketFields, "errorPolicy": "omit"}
		if err := call(ctx, s, http.MethodPost, apiPath(s, true, "_apis", "wit", "workitemsbatch"), nil, body, "", &res, "work items batch"); err != nil {
			return nil, err
		}
		kept := res.Value[:0]
		for i := range res.Value {
			it := &res.Value[i]
			if it.ID == 0 { // errorPolicy=omit: a work item deleted since the query is null
				continue
			}
			if err := it.validate(); err != nil {
				return nil, err
			}
			kept = append(kept, *it)
		}
		if out == nil {
			out = kept
		} else {
			out = append(out, kept...)
		}
	}
	return out, nil
}

// batchPage is the answer of POST …/_apis/wit/workitemsbatch, decoded by
// decodeBatch (call: listingDecoder) rather than go-json.
type batchPage struct {
	Count int
	Value []workItem
}

func (p *batchPage) decodeListing(body []byte) error {
	var err error
	p.Count, p.Value, err = decodeBatch(body)
	return err
}

// decodeBatch decodes a workitemsbatch answer ({"count", "value": [work
// items, null for one deleted]}) with the shared listing scanner
// (trackerhttp.Scanner: one pass over the pooled buffer, only workItem's
// fields, strings and identities in per-page blocks), as go-json reads it
// into workItem (TestDecodeBatchAsGoJSON); a null entry reads as the zero
// work item, which batch skips. Keys match exactly, as Azure DevOps sends
// them (go-json would also match them ignoring case).
func decodeBatch(body []byte) (int, []workItem, error) {
	var (
		count      int
		items      []workItem
		identities []identityRef
	)
	identity := func(s *trackerhttp.Scanner, name string) *identityRef {
		if s.Null() {
			return nil
		}
		r := &append(trackerhttp.Slice(&identities, 1), identityRef{})[0]
		s.Object(name, func(k []byte) {
			switch string(k) {
			case "id":
				r.ID = s.String(name)
			case "displayName":
				r.DisplayName = s.String(name)
			case "uniqueName":
				r.UniqueName = s.String(name)
			default:
				s.Skip()
			}
		})
		return r
	}
	err := trackerhttp.Decode(body, func(s *trackerhttp.Scanner) {
		s.Object("batch", func(k []byte) {
			switch string(k) {
			case "count":
				count = int(s.Int64("count"))
			case "value":
				items = make([]workItem, 0, PageSize)
				s.Array("value", func() {
					items = append(items, workItem{})
					w := &items[len(items)-1]
					s.Object("work item", func(k []byte) {
						switch string(k) {
						case "id":
							w.ID = s.Int64("id")
						case "rev":
							w.Rev = int(s.Int64("rev"))
						case "url":
							w.URL = s.String("url")
						case "fields":
							f := &w.Fields
							s.Object("fields", func(k []byte) {
								switch string(k) {
								case "System.Title":
									f.Title = s.String("System.Title")
								case "System.Description":
									f.Description = s.String("System.Description")
								case "System.State":
									f.State = s.String("System.State")
								case "System.Tags":
									f.Tags = s.String("System.Tags")
								case "System.WorkItemType":
									f.Type = s.String("System.WorkItemType")
								case "System.AssignedTo":
									f.AssignedTo = identity(s, "System.AssignedTo")
								case "System.CreatedBy":
									f.CreatedBy = identity(s, "System.CreatedBy")
								case "System.CreatedDate":
									f.CreatedDate = s.Time("System.CreatedDate")
								case "System.ChangedDate":
									f.ChangedDate = s.Time("System.ChangedDate")
								case "System.Parent":
									f.Parent = s.Int64("System.Parent")
								case "Microsoft.VSTS.Common.Priority":
									if !s.Null() {
										f.Priority = json.Number(s.RawNumber("Microsoft.VSTS.Common.Priority"))
									}
								case "System.TeamProject":
									f.TeamProject = s.String("System.TeamProject")
								default:
									s.Skip()
								}
							})
						case "multilineFieldsFormat":
							s.Object("multilineFieldsFormat", func(k []byte) {
								if string(k) == "System.Description" {
									w.MultilineFieldsFormat.Description = s.String("multilineFieldsFormat")
								} else {
									s.Skip()
								}
							})
						case "relations":
							s.Array("relations", func() {
								var r relation
								s.Object("relations", func(k []byte) {
									switch string(k) {
									case "rel":
										r.Rel = s.String("rel")
									case "url":
										r.URL = s.String("url")
									default:
										s.Skip()
									}
								})
								w.Relations = append(w.Relations, r)
							})
						default:
							s.Skip()
						}
					})
				})
			default:
				s.Skip()
			}
		})
	})
	return count, items, err
}

// identityRef is an identity field (System.AssignedTo, System.CreatedBy).
type identityRef struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	UniqueName  string `json:"uniqueName"`
}

func (r *identityRef) user() trackers.User {
	if r == nil {
		return trackers.User{}
	}
	u := trackers.User{ID: r.ID, Login: r.UniqueName, DisplayName: r.DisplayName}
	if strings.Contains(r.UniqueName, "@") {
		u.Email = r.UniqueName
	}
	return u
}

// workItem is a work item as the REST API returns it.
type workItem struct {
	ID     int64  `json:"id"`
	Rev    int    `json:"rev"`
	URL    string `json:"url"` // the API URL (a child's parent relation)
	Fields struct {
		Title       string       `json:"System.Title"`
		Description string       `json:"System.Description"`
		State       string       `json:"System.State"`
		Tags        string       `json:"System.Tags"`
		Type        string       `json:"System.WorkItemType"`
		AssignedTo  *identityRef `json:"System.AssignedTo"`
		CreatedBy   *identityRef `json:"System.CreatedBy"`
		CreatedDate time.Time    `json:"System.CreatedDate"`
		ChangedDate time.Time    `json:"System.ChangedDate"`
		Parent      int64        `json:"System.Parent"`
		Priority    json.Number  `json:"Microsoft.VSTS.Common.Priority"`
		TeamProject string       `json:"System.TeamProject"`
	} `json:"fields"`
	// MultilineFieldsFormat says which long-text fields hold Markdown
	// ("markdown"); the others hold HTML. Only the description's is read:
	// a struct, not a map of every field's format per work item.
	MultilineFieldsFormat struct {
		Description string `json:"System.Description"`
	} `json:"multilineFieldsFormat"`
	Relations []relation `json:"relations"`
}

type relation struct {
	Rel string `json:"rel"`
	URL string `json:"url"`
}

func (w *workItem) validate() error {
	if w.ID <= 0 || w.Fields.ChangedDate.IsZero() {
		return fmt.Errorf("%w: work item without id or System.ChangedDate", trackers.ErrMalformedResponse)
	}
	return nil
}

// webURL is the work item's page.
func webURL(s *trackers.Session, id int64) string { return linksOf(s).web(id) }

// ticketKey is "organization/project#id".
func ticketKey(s *trackers.Session, id int64) string { return linksOf(s).key(id) }

// links names a project's work items: keys and web pages. The prefixes are
// built once per discovery page, not per work item (joining the base URL
// for each was a tenth of the allocations per ticket); the id is digits, so
// appending it gives what joining it as a last path element gives
// (TestWebURLIsTheBaseJoinedWithTheEditPath).
//
// A discovery page also gives links blocks (pageBlocks) that its tickets'
// keys, web URLs and label lists are carved from, as the scanner does the
// page's strings: those were two allocations a ticket.
type links struct {
	keyPrefix, webPrefix string
	page                 *pageBlocks // nil: each ticket allocates its own
}

// pageBlocks are the shared blocks of one discovery page's tickets. A
// block is only appended to within its capacity and never written where a
// string or slice already points (see trackerhttp.Slice).
type pageBlocks struct {
	text   []byte
	labels []string
}

// carve returns room for n bytes at the end of the text block (a new block
// when it has no room left), to be appended to and kept.
func (p *pageBlocks) carve(n int) []byte {
	if n > cap(p.text)-len(p.text) {
		p.text = make([]byte, 0, max(n, 8<<10))
	}
	return p.text[len(p.text):len(p.text):cap(p.text)]
}

func linksOf(s *trackers.Session) links {
	return links{keyPrefix: s.Connector.Project + "#", webPrefix: s.BaseURL.JoinPath(apiPath(s, true, "_workitems", "edit")).String() + "/"}
}

// keyAndWeb is key(id) and web(id) in one allocation (a discovered
// ticket has both): the two are substrings of one built string.
func (l links) keyAndWeb(id int64) (key, web string) {
	var num [20]byte
	n := strconv.AppendInt(num[:0], id, 10)
	if l.page != nil {
		size := len(l.keyPrefix) + len(l.webPrefix) + 2*len(n)
		b := l.page.carve(size)
		b = append(append(append(append(b, l.keyPrefix...), n...), l.webPrefix...), n...)
		l.page.text = l.page.text[:len(l.page.text)+size]
		both, k := unsafe.String(&b[0], size), len(l.keyPrefix)+len(n)
		return both[:k], both[k:]
	}
	var b strings.Builder
	b.Grow(len(l.keyPrefix) + len(l.webPrefix) + 2*len(n))
	b.WriteString(l.keyPrefix)
	b.Write(n)
	b.WriteString(l.webPrefix)
	b.Write(n)
	both, k := b.String(), len(l.keyPrefix)+len(n)
	return both[:k], both[k:]
}

// key and web format the id on the stack: strconv.FormatInt would allocate
// a string only to be copied into the result (two allocations a ticket).
func (l links) key(id int64) string {
	var num [20]byte
	return l.keyPrefix + string(strconv.AppendInt(num[:0], id, 10))
}

func (l links) web(id int64) string {
	var num [20]byte
	return l.webPrefix + string(strconv.AppendInt(num[:0], id, 10))
}

var (
	htmlTag   = regexp.MustCompile(`(?s)<[^>]*>`)
	htmlBreak = regexp.MustCompile(`(?i)<br\s*/?>|</(p|div|li|h[1-6])>`)
)

// htmlToText reduces a work item's HTML field to text: Azure DevOps stores
// long text as HTML unless the field is in Markdown, and no converter in the
// project reads HTML; block tags become line breaks, other tags go.
func htmlToText(h string) string {
	h = htmlBreak.ReplaceAllString(h, "\n") // compiled once, not per work item
	return strings.TrimSpace(html.UnescapeString(htmlTag.ReplaceAllString(h, "")))
}

func (w *workItem) ticket(ln links) trackers.Ticket {
	f := &w.Fields
	t := trackers.Ticket{
		Summary:  f.Title,
		Status:   f.State,
		Priority: f.Priority.String(),
		Reporter: f.CreatedBy.user(),
		Assignee: f.AssignedTo.user(),
		Created:  f.CreatedDate.UTC(),
		Updated:  f.ChangedDate.UTC(),
	}
	t.Key, t.URL = ln.keyAndWeb(w.ID)
	if strings.EqualFold(w.MultilineFieldsFormat.Description, "markdown") {
		t.DescriptionMarkdown = f.Description
		t.DescriptionText = stripMarker(f.Description)
	} else {
		t.DescriptionText = htmlToText(f.Description)
		t.DescriptionMarkdown = t.DescriptionText
	}
	if f.Tags != "" && ln.page != nil {
		t.Labels = trackerhttp.Slice(&ln.page.labels, strings.Count(f.Tags, ";")+1)
	}
	for tag := range strings.SplitSeq(f.Tags, ";") {
		if tag = strings.TrimSpace(tag); tag != "" {
			t.Labels = append(t.Labels, tag)
		}
	}
	if len(t.Labels) == 0 {
		t.Labels = nil // as without a block: no tags, no labels
	}
	if f.Parent > 0 {
		t.Parent = &trackers.TicketLink{Key: ln.key(f.Parent), URL: ln.web(f.Parent)}
	}
	for _, r := range w.Relations {
		if r.Rel == relChild {
			if id, ok := idFromURL(r.URL); ok {
				t.Subtasks = append(t.Subtasks, trackers.TicketLink{Key: ln.key(id), URL: ln.web(id)})
			}
		}
	}
	return t
}

// Link types of the work item hierarchy.
const (
	relChild  = "System.LinkTypes.Hierarchy-Forward"
	relParent = "System.LinkTypes.Hierarchy-Reverse"
)

// idFromURL reads the id at the end of a work item's API URL.
func idFromURL(u string) (int64, bool) {
	i := strings.LastIndexByte(u, '/')
	if i < 0 {
		return 0, false
	}
	return trackers.ParseTicketNumber(u[i+1:])
}

var markerComment = regexp.MustCompile(`\s*<!--\s*connectorhub:[^>]*-->\s*`)

// stripMarker removes connectorhub's marker comments. Most descriptions
// hold none: without "connectorhub:" the expression cannot match, and
// skipping it leaves the result the same (ReplaceAllString would return s)
// at none of its cost (7 % of the discovery bench's CPU).
func stripMarker(s string) string {
	if !strings.Contains(s, "connectorhub:") {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(markerComment.ReplaceAllString(s, "\n"))
}

// getWorkItem reads one work item with its relations.
func getWorkItem(ctx context.Context, s *trackers.Session, key string) (workItem, error) {
	id, err := parseKey(s, key)
	if err != nil {
		return workItem{}, err
	}
	var w workItem
	q := url.Values{"$expand": {"relations"}}
	err = call(ctx, s, http.MethodGet, apiPath(s, true, "_apis", "wit", "workitems", strconv.FormatInt(id, 10)), q, nil, "", &w, "work item "+key)
	if err != nil {
		if isNotFound(err) {
			return workItem{}, fmt.Errorf("%w: %w", trackers.ErrTicketNotFound, err)
		}
		return workItem{}, err
	}
	return w, w.validate()
}

// GetTicket reads one work item, or pull request under review, as it is now.
func (Tracker) GetTicket(ctx context.Context, s *trackers.Session, key string) (trackers.Ticket, error) {
	if id, isPR, err := splitKey(s, key); err == nil && isPR {
		p, err := getPR(ctx, s, key, id)
		if err != nil {
			return trackers.Ticket{}, err
		}
		return p.ticket(s), nil
	}
	w, err := getWorkItem(ctx, s, key)
	if err != nil {
		return trackers.Ticket{}, err
	}
	return w.ticket(linksOf(s)), nil
}
