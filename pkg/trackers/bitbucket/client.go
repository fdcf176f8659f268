package bitbucket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// Why a hand-written client: Atlassian publishes no Go client for Bitbucket
// Cloud, and the community ones (ktrysmt/go-bitbucket) decode into
// map[string]interface{}, build BBQL by string concatenation without the
// quoting rules, and hide the response headers a 429 carries. The calls
// used here are a JSON request over the session's client (basic auth: the
// Atlassian account email and an API token).

// HourlyLimit is Bitbucket Cloud's limit for authenticated API requests: 1,000
// per hour per user (rolling).
const HourlyLimit = 1000

// budget spaces one account's requests so that a connector never spends
// more than HourlyLimit in an hour: a token bucket of HourlyLimit refilled
// continuously. When it is empty the call returns a *RateLimitError with the
// wait until the next token, so the poller defers the connector instead of
// Bitbucket answering 429. It is shared by every session of one username.
type budget struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

var budgets sync.Map // host and username → *budget

func budgetFor(host, user string) *budget {
	b, _ := budgets.LoadOrStore(host+"\x00"+strings.ToLower(user), &budget{tokens: HourlyLimit})
	return b.(*budget)
}

// take spends one request, or says how long until one is available.
func (b *budget) take(now time.Time) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rate := float64(HourlyLimit) / time.Hour.Seconds()
	if !b.last.IsZero() {
		b.tokens = min(HourlyLimit, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / rate * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

// defaultRetryAfter applies when a 429 names no wait (Bitbucket usually
// sends none; its window is an hour, rolling).
const defaultRetryAfter = 5 * time.Minute

// call sends one request (path relative to the base URL, or an absolute
// next-page URL on the same host) and decodes a 2xx JSON answer into out.
func call(ctx context.Context, s *trackers.Session, method, path string, q url.Values, in, out any, what string) (http.Header, error) {
	if wait, ok := budgetFor(s.BaseURL.Host, s.Connector.Username).take(time.Now()); !ok {
		return nil, &trackers.RateLimitError{RetryAfter: max(wait, time.Second), Reason: "connectorhub budget: Bitbucket allows 1,000 requests per hour"}
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		body = bytes.NewReader(b)
	}
	var req *http.Request
	var err error
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		// A "next" link: only ever on the connector's own host, so the
		// credential is never sent elsewhere.
		u, perr := url.Parse(path)
		if perr != nil || u.Host != s.BaseURL.Host || u.Scheme != s.BaseURL.Scheme {
			return nil, fmt.Errorf("%w: %s: next page link points at another host", trackers.ErrMalformedResponse, what)
		}
		req, err = http.NewRequestWithContext(ctx, method, u.String(), body)
		if err == nil {
			req.SetBasicAuth(s.Connector.Username, s.Secret.Reveal())
		}
	} else {
		req, err = s.NewRequest(ctx, method, path, q, body)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// The answer is read into a pooled buffer: go-json's Unmarshal copies
	// its input, so nothing refers to the buffer once call returns.
	resp, raw, release, err := s.ExchangeBuffered(ctx, req, what)
	defer release()
	if err != nil {
		if resp != nil {
			return resp.Header, err
		}
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Header, statusError(resp.StatusCode, resp.Header, raw, what)
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return resp.Header, nil
	}
	if d, ok := out.(listingDecoder); ok {
		err = d.decodeListing(raw)
	} else {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		return resp.Header, fmt.Errorf("%w: %s: %s", trackers.ErrMalformedResponse, what, trackerhttp.Innermost(err, nil))
	}
	return resp.Header, nil
}

// listingDecoder is an answer decoded by hand from the pooled buffer
// (trackerhttp.Scanner), as discovery's issue pages are.
type listingDecoder interface {
	decodeListing(body []byte) error
}

type bbError struct {
	Error struct {
		Message string `json:"message"`
		Detail  string `json:"detail"`
	} `json:"error"`
}

func messages(raw []byte) []string {
	var e bbError
	if json.Unmarshal(raw, &e) != nil || e.Error.Message == "" {
		return nil
	}
	if e.Error.Detail != "" {
		return []string{e.Error.Message, e.Error.Detail}
	}
	return []string{e.Error.Message}
}

var (
	// errNotFound is a 404; callers name what was missing.
	errNotFound = errors.New("not found")
	// errGone is a 410: the repository's issue tracker is off (or gone).
	errGone = errors.New("issue tracker gone")
)

func statusError(code int, h http.Header, raw []byte, what string) error {
	se := &trackerhttp.StatusError{Code: code, Header: h, Messages: messages(raw)}
	desc := trackerhttp.DescribeStatus(code, h, what)
	if len(se.Messages) > 0 && code != http.StatusUnauthorized {
		desc += ": " + strings.Join(se.Messages, "; ")
	}
	switch {
	case code == http.StatusTooManyRequests:
		wait := defaultRetryAfter
		if d, ok := trackerhttp.ParseRetryAfter(h.Get("Retry-After"), time.Now()); ok {
			wait = max(d, time.Second)
		}
		return &trackers.RateLimitError{RetryAfter: wait, Reason: "Bitbucket API rate limit (1,000 requests per hour)"}
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return fmt.Errorf("%w: %s", trackers.ErrUnauthorized, desc)
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %s", errNotFound, desc)
	case code == http.StatusGone:
		return fmt.Errorf("%w: %s", errGone, desc)
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusConflict:
		return fmt.Errorf("%w: %s", trackers.ErrTransient, desc)
	}
	return fmt.Errorf("%w: %s", trackers.ErrRejected, desc)
}

type link struct {
	Href string `json:"href"`
}

type account struct {
	Type        string `json:"type"`
	UUID        string `json:"uuid"`
	DisplayName string `json:"display_name"`
	AccountID   string `json:"account_id"`
	Nickname    string `json:"nickname"`
}

type content struct {
	Raw    string `json:"raw"`
	Markup string `json:"markup,omitempty"`
}

type issue struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	State     string    `json:"state"`
	Kind      string    `json:"kind"`
	Priority  string    `json:"priority"`
	Reporter  *account  `json:"reporter"`
	Assignee  *account  `json:"assignee"`
	CreatedOn time.Time `json:"created_on"`
	UpdatedOn time.Time `json:"updated_on"`
	Content   content   `json:"content"`
	Component *struct {
		Name string `json:"name"`
	} `json:"component"`
	Links struct {
		HTML link `json:"html"`
	} `json:"links"`
}

type pullRequest struct {
	ID          int64     `json:"id"`
	Title       string    `json:"title"`
	State       string    `json:"state"`
	Description string    `json:"description"`
	Summary     content   `json:"summary"`
	Author      *account  `json:"author"`
	Reviewers   []account `json:"reviewers"`
	CreatedOn   time.Time `json:"created_on"`
	UpdatedOn   time.Time `json:"updated_on"`
	Source      struct {
		Branch struct {
			Name string `json:"name"`
		} `json:"branch"`
	} `json:"source"`
	Links struct {
		HTML link `json:"html"`
	} `json:"links"`
}

type page[T any] struct {
	Values []T    `json:"values"`
	Next   string `json:"next"`
}

// issuePage is a page of the issue listing, decoded by decodeIssuePage
// (call: listingDecoder) rather than go-json.
type issuePage page[issue]

func (p *issuePage) decodeListing(body []byte) error { return decodeIssuePage(body, p) }

// decodeIssuePage decodes a page of GET /repositories/{w}/{r}/issues with
// the shared listing scanner (trackerhttp.Scanner: one pass over the
// pooled buffer, only issue's fields, strings and accounts in per-page
// blocks), as go-json reads it into page[issue]
// (TestDecodeIssuePageAsGoJSON); a null entry reads as the zero issue
// (which Discover refuses, as before).
func decodeIssuePage(body []byte, p *issuePage) error {
	var accounts []account
	acct := func(s *trackerhttp.Scanner, name string) *account {
		if s.Null() {
			return nil
		}
		a := &append(trackerhttp.Slice(&accounts, 1), account{})[0]
		s.Object(name, func(k []byte) {
			switch string(k) {
			case "type":
				a.Type = s.String(name)
			case "uuid":
				a.UUID = s.String(name)
			case "display_name":
				a.DisplayName = s.String(name)
			case "account_id":
				a.AccountID = s.String(name)
			case "nickname":
				a.Nickname = s.String(name)
			default:
				s.Skip()
			}
		})
		return a
	}
	return trackerhttp.Decode(body, func(s *trackerhttp.Scanner) {
		s.Object("page", func(k []byte) {
			switch string(k) {
			case "next":
				p.Next = s.String("next")
			case "values":
				p.Values = make([]issue, 0, PageLen)
				s.Array("values", func() {
					p.Values = append(p.Values, issue{})
					is := &p.Values[len(p.Values)-1]
					s.Object("issue", func(k []byte) {
						switch string(k) {
						case "id":
							is.ID = s.Int64("id")
						case "title":
							is.Title = s.String("title")
						case "state":
							is.State = s.String("state")
						case "kind":
							is.Kind = s.String("kind")
						case "priority":
							is.Priority = s.String("priority")
						case "reporter":
							is.Reporter = acct(s, "reporter")
						case "assignee":
							is.Assignee = acct(s, "assignee")
						case "created_on":
							is.CreatedOn = s.Time("created_on")
						case "updated_on":
							is.UpdatedOn = s.Time("updated_on")
						case "content":
							s.Object("content", func(k []byte) {
								switch string(k) {
								case "raw":
									is.Content.Raw = s.String("content.raw")
								case "markup":
									is.Content.Markup = s.String("content.markup")
								default:
									s.Skip()
								}
							})
						case "component":
							if !s.Null() {
								is.Component = &struct {
									Name string `json:"name"`
								}{}
								s.Object("component", func(k []byte) {
									if string(k) == "name" {
										is.Component.Name = s.String("component.name")
									} else {
										s.Skip()
									}
								})
							}
						case "links":
							s.Object("links", func(k []byte) {
								if string(k) != "html" {
									s.Skip()
									return
								}
								s.Object("links.html", func(k []byte) {
									if string(k) == "href" {
										is.Links.HTML.Href = s.String("links.html.href")
									} else {
										s.Skip()
									}
								})
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
}

type comment struct {
	ID      int64   `json:"id"`
	Content content `json:"content"`
	User    account `json:"user"`
	Links   struct {
		HTML link `json:"html"`
	} `json:"links"`
}

type repository struct {
	FullName   string `json:"full_name"`
	HasIssues  bool   `json:"has_issues"`
	IsPrivate  bool   `json:"is_private"`
	Mainbranch *struct {
		Name string `json:"name"`
	} `json:"mainbranch"`
	Links struct {
		HTML link `json:"html"`
	} `json:"links"`
}
