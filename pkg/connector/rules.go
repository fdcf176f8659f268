package connector

import (
	"regexp"
	"slices"
)

// Rules are what one system accepts in a connector's configuration. Each
// tracker package declares its system's Rules once (trackers.Tracker.Rules);
// Validate, ApplyDefaults, the registry and the tracker's own session checks
// all read them, so a rule cannot drift between the API and the worker.
type Rules struct {
	System      System
	Deployments []Deployment
	// AuthModes per deployment; the first is the default when a connector names none.
	AuthModes map[Deployment][]AuthMode
	// DefaultBaseURLs per deployment; a deployment without one needs a base URL.
	DefaultBaseURLs map[Deployment]string
	// EmailUsername lists deployments where basic auth's username is the
	// account's email address (Atlassian Cloud).
	EmailUsername []Deployment
	// AnonymousNeedsAssignee: with anonymous access there is no authenticated
	// user, so the connector must name the assignee.
	AnonymousNeedsAssignee bool
	// Project is the rule for Connector.Project; nil when the system has no
	// project (the field must then be empty).
	Project *KeyRule
	// SpaceKeys is the rule for each of Connector.SpaceKeys; nil when the
	// system has no spaces.
	SpaceKeys *KeyRule
	// StatusLabels: status is kept as labels (InProgress/InReview/Done names apply).
	StatusLabels bool
	// FullText: the connector may ask for page bodies (knowledge sources).
	FullText bool
	// Watch is the rule for each of Connector.Watch; nil when the system is
	// not a context source (the field must then be empty). A context source
	// needs at least one entry.
	Watch *KeyRule
	// RequiredScopes are the token scopes the system needs; nil where tokens
	// carry no scopes.
	RequiredScopes []string
	// TokenPools: a bearer credential may be several comma-separated
	// tokens, spread over by discovery (GitHub, GitLab).
	TokenPools bool
	// OAuthScopes are the scopes asked for when an AuthOAuth2 connector is
	// authorized and names none (Connector.OAuthScopes).
	OAuthScopes []string
}

// KeyRule is the rule for a project, repository or space key.
type KeyRule struct {
	Required bool
	Pattern  *regexp.Regexp
	// What names the value in messages: "the repository as owner/repo".
	What string
	// Invalid explains a value that does not match Pattern.
	Invalid string
}

// Supports reports whether the system runs on deployment d.
func (r Rules) Supports(d Deployment) bool { return slices.Contains(r.Deployments, d) }

// AuthModesFor lists the auth modes accepted on deployment d.
func (r Rules) AuthModesFor(d Deployment) []AuthMode { return r.AuthModes[d] }

// AcceptsAuth reports whether auth mode m is accepted on deployment d.
func (r Rules) AcceptsAuth(d Deployment, m AuthMode) bool {
	return slices.Contains(r.AuthModes[d], m)
}

// DefaultBaseURL is the vendor's URL for deployment d, "" where the user must give one.
func (r Rules) DefaultBaseURL(d Deployment) string { return r.DefaultBaseURLs[d] }

// NeedsBaseURL reports whether the user must give a base URL (there is no vendor default).
func (r Rules) NeedsBaseURL(d Deployment) bool { return r.DefaultBaseURLs[d] == "" }

// ProjectError explains why project is not acceptable, "" when it is.
func (r Rules) ProjectError(project string) string {
	switch {
	case r.Project == nil && project != "":
		return "is not used by " + string(r.System)
	case r.Project == nil:
		return ""
	case project == "" && r.Project.Required:
		return "is required: " + r.Project.What
	case project != "" && (len(project) > MaxShortLen || !r.Project.Pattern.MatchString(project)):
		return r.Project.Invalid
	}
	return ""
}

// WatchError explains why a watched name is not acceptable, "" when it is.
func (r Rules) WatchError(name string) string {
	if r.Watch == nil {
		return "only context sources (jenkins, circleci, sonarqube, argocd) watch jobs, projects or applications"
	}
	if len(name) > MaxShortLen || !r.Watch.Pattern.MatchString(name) {
		return r.Watch.Invalid
	}
	return ""
}

// SpaceKeyError explains why a space key is not acceptable, "" when it is.
func (r Rules) SpaceKeyError(key string) string {
	if r.SpaceKeys == nil {
		return "only systems with spaces have space keys"
	}
	if len(key) > MaxShortLen || !r.SpaceKeys.Pattern.MatchString(key) {
		return r.SpaceKeys.Invalid
	}
	return ""
}
