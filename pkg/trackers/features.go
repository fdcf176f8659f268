package trackers

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// Feature interfaces. A tracker supports a feature iff its registered type
// implements the interface, so capabilities cannot claim what the code does
// not do. The poller framework (services/poller) drives Discoverer; the
// writeback framework (services/writeback) drives TicketReader, StatusWriter,
// Commenter, SubtaskCreator and PullRequestOpener. Every system implements
// them the same way, and the shared suite in trackertest checks them.

// IdentityChecker runs the connection test: who the credential is, whether it
// has the scopes it needs, and whether the configured project is reachable.
// It appends its checks to r and fills Identity, scopes and expiry.
type IdentityChecker interface {
	CheckIdentity(ctx context.Context, s *Session, r *TestResult)
}

// DiscoveryQuery asks for one page of the tickets that are assigned to the
// connector's account, open (unresolved), and inside the connector's scope.
type DiscoveryQuery struct {
	// Since limits the page to tickets updated at or after it. Zero asks for
	// the whole set: the poller reconciles with it (a known ticket missing
	// from a full listing has left the set and is published as closed).
	Since time.Time
	// PageToken continues a listing; "" asks for the first page.
	PageToken string
	// ETag is the validator the tracker returned for this same page of this
	// same query last time; trackers that support conditional requests send
	// it (If-None-Match) and report NotModified.
	ETag string
	// Full asks for everything the ticket events carry (description,
	// comments and attachments when the connector indexes them). When false,
	// Key, URL and Updated suffice (a reconcile listing); more is allowed.
	Full bool
}

// DiscoveryPage is one page of a discovery listing, ordered by update time
// ascending where the tracker allows it.
type DiscoveryPage struct {
	Tickets []Ticket
	// NextPageToken continues the listing; "" on the last page.
	NextPageToken string
	// ETag validates this page's response for a later conditional request.
	ETag string
	// NotModified means the tracker answered 304 to ETag: the page is what it
	// was, Tickets is empty and NextPageToken unknown (the poller remembers them).
	NotModified bool
}

// Discoverer lists assigned, open tickets page by page. Trackers that answer
// unchanged listings with 304 implement ConditionalLister.
type Discoverer interface {
	Discover(ctx context.Context, s *Session, q DiscoveryQuery) (DiscoveryPage, error)
}

// ConditionalLister is implemented by trackers whose listings honour
// DiscoveryQuery.ETag (GitHub: a 304 costs no rate limit). The poller then
// keeps each page's ETag, so an idle cycle is one request answered 304.
type ConditionalLister interface {
	ConditionalRequests() bool
}

// TicketReader reads one ticket as it is now (the writeback's conflict check
// and the reporter to mention). ErrTicketNotFound when it does not exist.
type TicketReader interface {
	GetTicket(ctx context.Context, s *Session, key string) (Ticket, error)
}

// Why a ticket left the discovered set: TicketClosed.reason.
const (
	LeftResolved   = "resolved"     // resolved or closed
	LeftUnassigned = "unassigned"   // no longer assigned to the connector's account
	LeftOutOfScope = "out_of_scope" // open and assigned, but outside the connector's scope (project, labels, statuses, priority)
	LeftDeleted    = "deleted"      // gone, or no longer readable with the connector's credential
)

// LeaveExplainer says why a ticket is no longer in the discovered set (one
// of the Left* reasons): one request for the ticket, and, when the ticket
// is open and assigned and the connector names no assignee, one for the
// account the credential authenticates as.
type LeaveExplainer interface {
	WhyLeft(ctx context.Context, s *Session, key string) (string, error)
}

// StatusWriter moves a ticket to a status by name: a Jira transition whose
// target status matches case-insensitively, or a status label (adding the
// target, removing the other status labels). An unknown status is an error
// wrapping ErrUnknownStatus that lists the statuses that are possible.
type StatusWriter interface {
	SetStatus(ctx context.Context, s *Session, key, status string) (Link, error)
}

// NewComment is a comment to post.
type NewComment struct {
	Markdown string
	// Mention, when set, is mentioned at the start of the comment (ADF
	// mention node, [~user], or @login).
	Mention *User
	// Marker identifies the comment for FindComment; the tracker stores it
	// with the comment (an entity property, or a hidden HTML comment).
	Marker string
}

// Commenter posts comments and finds one by its marker, so a writeback that
// crashed after posting but before recording it does not post it twice.
type Commenter interface {
	AddComment(ctx context.Context, s *Session, key string, c NewComment) (Link, error)
	FindComment(ctx context.Context, s *Session, key, marker string) (Link, bool, error)
}

// NewSubtask is a sub-task to create under a ticket.
type NewSubtask struct {
	Summary             string
	DescriptionMarkdown string
	Marker              string
	// AssignToConnector assigns the sub-task to the account discovery lists
	// tickets for (the connector's assignee, else the credential's own
	// account), so the next poll discovers it. Trackers that cannot assign
	// a sub-task this way create it unassigned.
	AssignToConnector bool
}

// SubtaskCreator creates sub-tasks (with the project's sub-task issue type)
// and finds one by its marker.
type SubtaskCreator interface {
	CreateSubtask(ctx context.Context, s *Session, parentKey string, st NewSubtask) (Link, error)
	FindSubtask(ctx context.Context, s *Session, parentKey, marker string) (Link, bool, error)
}

// NewPullRequest is a pull or merge request to open for a ticket.
type NewPullRequest struct {
	Head string // work branch
	Base string // "" for the repository's default branch
	// Title and BodyMarkdown; the tracker adds a link to the ticket to the body.
	Title        string
	BodyMarkdown string
}

// PullRequestOpener opens a pull/merge request, reusing an open one for the
// same head branch instead of opening a duplicate (reused reports which).
type PullRequestOpener interface {
	OpenPullRequest(ctx context.Context, s *Session, key string, pr NewPullRequest) (link Link, reused bool, err error)
}

// Search errors, for errors.Is. Rate limits are *RateLimitError, a rejected
// credential ErrUnauthorized, an unparsable body ErrMalformedResponse.
var (
	// ErrInvalidSearch: the query cannot be sent (no terms, a malformed space
	// key) or Confluence refused it as invalid (HTTP 400).
	ErrInvalidSearch = errors.New("invalid search")
	// ErrSearchUnavailable: the knowledge base could not be reached, timed
	// out, or answered with a server error. Retrying later may succeed.
	ErrSearchUnavailable = errors.New("knowledge base unavailable")
	// ErrPageNotFound: the page does not exist or is not visible.
	ErrPageNotFound = errors.New("page not found")
)

// Search limits.
const (
	DefaultSearchLimit = 10
	MaxSearchLimit     = 100
)

// SearchQuery is one knowledge-base search.
type SearchQuery struct {
	// Terms are searched as quoted phrases (see confluence.SearchTerms); a page
	// matching more of them ranks higher.
	Terms []string
	// Spaces restricts the search to these space keys; empty means the
	// connector's SpaceKeys, or every space the account sees when it has none.
	Spaces []string
	// Limit is the number of hits wanted; DefaultSearchLimit when 0, at most
	// MaxSearchLimit.
	Limit int
}

// SearchHit is one page found.
type SearchHit struct {
	ID       string // page (content) id
	Title    string
	URL      string // absolute
	SpaceKey string
	Updated  time.Time
	// Excerpt is plain text: highlight markers and markup removed.
	Excerpt string
	// Score is the knowledge base's relevance, or 1/(rank+1) when it sends none.
	Score float64
}

// Searcher searches a knowledge base (Confluence) for pages.
type Searcher interface {
	Search(ctx context.Context, s *Session, q SearchQuery) ([]SearchHit, error)
}

// PageReader reads the body of one page as plain text, cut at maxBytes.
type PageReader interface {
	PageText(ctx context.Context, s *Session, id string, maxBytes int) (string, error)
}

// Feature names, in the order Capabilities lists them.
const (
	FeatureIdentity    = "identity"
	FeatureDiscovery   = "discovery"
	FeatureRead        = "read"
	FeatureStatus      = "status"
	FeatureComment     = "comment"
	FeatureSubtask     = "subtask"
	FeaturePullRequest = "pull_request"
	FeatureSearch      = "search"
	FeatureLeaveReason = "leave_reason"
	FeatureWebhook     = "webhook"
	// FeatureContext: a read-only context source (ContextReader).
	FeatureContext = "context"
)

// featureProbes says, for each feature, how to tell whether a tracker has it.
var featureProbes = []struct {
	name string
	has  func(Tracker) bool
}{
	{FeatureIdentity, implements[IdentityChecker]},
	{FeatureDiscovery, implements[Discoverer]},
	{FeatureRead, implements[TicketReader]},
	{FeatureStatus, implements[StatusWriter]},
	{FeatureComment, implements[Commenter]},
	{FeatureSubtask, implements[SubtaskCreator]},
	{FeaturePullRequest, implements[PullRequestOpener]},
	{FeatureSearch, implements[Searcher]},
	{FeatureLeaveReason, implements[LeaveExplainer]},
	{FeatureWebhook, implements[WebhookRegistrar]},
	{FeatureContext, implements[ContextReader]},
}

func implements[I any](t Tracker) bool {
	_, ok := t.(I)
	return ok
}

// Feature is one capability and whether a system has it.
type Feature struct {
	Name      string
	Supported bool
}

// Capabilities describes what a system supports, derived from its tracker type.
type Capabilities struct {
	System         connector.System
	Deployments    []connector.Deployment
	AuthModes      []connector.AuthMode
	Features       []Feature
	RequiredScopes []string
}

// Supports reports whether the named feature is supported.
func (c Capabilities) Supports(feature string) bool {
	for _, f := range c.Features {
		if f.Name == feature {
			return f.Supported
		}
	}
	return false
}

// CapabilitiesOf describes what a tracker supports, from its rules and the
// feature interfaces it implements.
func CapabilitiesOf(t Tracker) Capabilities {
	r := t.Rules()
	c := Capabilities{
		System:         r.System,
		Deployments:    slices.Clone(r.Deployments),
		RequiredScopes: slices.Clone(r.RequiredScopes),
	}
	for _, d := range c.Deployments {
		for _, m := range r.AuthModesFor(d) {
			if !slices.Contains(c.AuthModes, m) {
				c.AuthModes = append(c.AuthModes, m)
			}
		}
	}
	for _, p := range featureProbes {
		c.Features = append(c.Features, Feature{Name: p.name, Supported: p.has(t)})
	}
	return c
}
