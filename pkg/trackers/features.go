package trackers

import (
	"context"
	"slices"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// Feature interfaces. A tracker supports a feature iff its registered type
// implements the interface, so capabilities cannot claim what the code does
// not do.
//
// Only IdentityChecker is implemented today. The others name the operations
// later issues add; their signatures are provisional and are settled by the
// issue that first implements each one (capabilities depend only on whether
// the method set is present).

// IdentityChecker runs the connection test: who the credential is, whether it
// has the scopes it needs, and whether the configured project is reachable.
// It appends its checks to r and fills Identity, scopes and expiry.
type IdentityChecker interface {
	CheckIdentity(ctx context.Context, s *Session, r *TestResult)
}

// TicketRef names a ticket on its tracker: a Jira key ("ABC-12") or an issue
// number within the connector's project ("42").
type TicketRef string

// Discoverer lists the tickets assigned to the connector's account.
type Discoverer interface {
	Discover(ctx context.Context, s *Session, since time.Time) ([]TicketRef, error)
}

// StatusWriter moves a ticket to a status (a transition or a label).
type StatusWriter interface {
	SetStatus(ctx context.Context, s *Session, t TicketRef, status string) error
}

// Commenter adds a comment to a ticket.
type Commenter interface {
	Comment(ctx context.Context, s *Session, t TicketRef, body string) error
}

// SubtaskCreator creates a sub-task under a ticket.
type SubtaskCreator interface {
	CreateSubtask(ctx context.Context, s *Session, parent TicketRef, title, body string) (TicketRef, error)
}

// PullRequestOpener opens a pull or merge request for a ticket.
type PullRequestOpener interface {
	OpenPullRequest(ctx context.Context, s *Session, t TicketRef, head, base, title, body string) (url string, err error)
}

// Searcher searches a knowledge base.
type Searcher interface {
	Search(ctx context.Context, s *Session, query string, limit int) ([]string, error)
}

// Feature names, in the order Capabilities lists them.
const (
	FeatureIdentity    = "identity"
	FeatureDiscovery   = "discovery"
	FeatureStatus      = "status"
	FeatureComment     = "comment"
	FeatureSubtask     = "subtask"
	FeaturePullRequest = "pull_request"
	FeatureSearch      = "search"
)

// featureProbes says, for each feature, how to tell whether a tracker has it.
var featureProbes = []struct {
	name string
	has  func(Tracker) bool
}{
	{FeatureIdentity, implements[IdentityChecker]},
	{FeatureDiscovery, implements[Discoverer]},
	{FeatureStatus, implements[StatusWriter]},
	{FeatureComment, implements[Commenter]},
	{FeatureSubtask, implements[SubtaskCreator]},
	{FeaturePullRequest, implements[PullRequestOpener]},
	{FeatureSearch, implements[Searcher]},
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

// CapabilitiesOf returns the capabilities of a registered system.
func CapabilitiesOf(system connector.System) (Capabilities, bool) {
	t, ok := registered[system]
	if !ok {
		return Capabilities{}, false
	}
	return capabilitiesOf(t), true
}

// AllCapabilities returns the capabilities of every system, in connector.Systems order.
func AllCapabilities() []Capabilities {
	out := make([]Capabilities, 0, len(registered))
	for _, sys := range connector.Systems {
		if t, ok := registered[sys]; ok {
			out = append(out, capabilitiesOf(t))
		}
	}
	return out
}

func capabilitiesOf(t Tracker) Capabilities {
	c := Capabilities{
		System:         t.System(),
		Deployments:    slices.Clone(t.Deployments()),
		RequiredScopes: slices.Clone(t.RequiredScopes()),
	}
	for _, d := range c.Deployments {
		for _, m := range t.AuthModes(d) {
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
