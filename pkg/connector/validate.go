package connector

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// FieldError names one invalid field and why it is invalid.
type FieldError struct {
	Field       string
	Description string
}

// ValidationError lists every invalid field of a connector, not only the first.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = f.Field + ": " + f.Description
	}
	return "invalid connector: " + strings.Join(parts, "; ")
}

// Limits on sizes, so a request cannot make the store or the trackers carry
// arbitrarily large values.
const (
	MaxShortLen      = 256       // names, users, keys
	MaxURLLen        = 2048      // base and proxy URLs
	MaxListLen       = 50        // entries in statuses, labels, space keys
	MaxCABundleBytes = 256 << 10 // PEM bundle
	MaxCredentialLen = 8 << 10   // a token, a token pool or a GitHub App's private key
	MaxPoolTokens    = 32        // tokens in one pool
	MinPollInterval  = 10 * time.Second
	MaxPollInterval  = 24 * time.Hour
)

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)

// Catalog says what each system accepts; trackers.Registry implements it from
// the Rules each tracker package declares.
type Catalog interface {
	Rules(System) (Rules, bool)
	Systems() []System
}

// ValidID reports whether id can name a connector (it is used in NATS subjects and KV keys).
func ValidID(id string) bool { return idPattern.MatchString(id) }

// ApplyDefaults fills the fields a user may leave empty: the poll interval,
// the conflict policy, and from the system's rules the auth mode (the first
// the deployment accepts) and the status label names.
func (c *Connector) ApplyDefaults(cat Catalog) {
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.ConflictPolicy == "" {
		c.ConflictPolicy = TrackerWins
	}
	r, ok := cat.Rules(c.System)
	if !ok {
		return
	}
	if modes := r.AuthModesFor(c.Deployment); c.AuthMode == "" && len(modes) > 0 {
		c.AuthMode = modes[0]
	}
	if c.AuthMode == AuthOAuth2 && len(c.OAuthScopes) == 0 {
		c.OAuthScopes = slices.Clone(r.OAuthScopes)
	}
	if r.StatusLabels {
		if c.StatusLabels.InProgress == "" {
			c.StatusLabels.InProgress = DefaultStatusLabels.InProgress
		}
		if c.StatusLabels.InReview == "" {
			c.StatusLabels.InReview = DefaultStatusLabels.InReview
		}
		if c.StatusLabels.Done == "" {
			c.StatusLabels.Done = DefaultStatusLabels.Done
		}
	}
}

// Validate checks every field and returns a ValidationError naming each bad one.
// It does not judge where base_url points: that is the endpoint policy's job.
func (c Connector) Validate(cat Catalog) error {
	var errs ValidationError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Description: fmt.Sprintf(format, args...)})
	}

	if !ValidID(c.ID) {
		add("id", "must be 2-63 characters of lowercase letters, digits and dashes, starting with a letter")
	}
	rules, known := cat.Rules(c.System)
	switch {
	case c.System == "":
		add("system", "is required (one of %s)", joinSystems(cat.Systems()))
	case !known:
		add("system", "unknown system %q (one of %s)", c.System, joinSystems(cat.Systems()))
	}
	switch c.Deployment {
	case "":
		add("deployment", "is required (cloud or self_hosted)")
	case Cloud, SelfHosted:
		if known && !rules.Supports(c.Deployment) {
			add("deployment", "%s does not run on %s", c.System, c.Deployment)
		}
	default:
		add("deployment", "unknown deployment %q (cloud or self_hosted)", c.Deployment)
	}
	checkText(add, "display_name", c.DisplayName, MaxShortLen)
	checkText(add, "username", c.Username, MaxShortLen)
	checkText(add, "assignee", c.Assignee, MaxShortLen)

	if c.BaseURL == "" {
		if known && rules.Supports(c.Deployment) && rules.NeedsBaseURL(c.Deployment) {
			add("base_url", "is required for %s %s", c.System, c.Deployment)
		}
	} else if msg := checkHTTPURL(c.BaseURL); msg != "" {
		add("base_url", "%s", msg)
	}
	if c.HTTPProxyURL != "" {
		if msg := checkHTTPURL(c.HTTPProxyURL); msg != "" {
			add("http_proxy_url", "%s", msg)
		}
	}
	if c.Zone != "" && !ValidZone(c.Zone) {
		add("zone", "must be 1-32 characters of lowercase letters, digits and dashes, starting with a letter")
	}

	if known && rules.Supports(c.Deployment) && !rules.AcceptsAuth(c.Deployment, c.AuthMode) {
		add("auth_mode", "%q is not accepted by %s %s (accepted: %s)", c.AuthMode, c.System, c.Deployment, joinModes(rules.AuthModesFor(c.Deployment)))
	}
	if c.AuthMode == AuthBasic {
		if c.Username == "" {
			add("username", "is required for basic auth")
		} else if known && slices.Contains(rules.EmailUsername, c.Deployment) && !strings.Contains(c.Username, "@") {
			add("username", "must be the account's email address on %s %s", c.System, c.Deployment)
		}
	}
	if c.AuthMode == AuthGitHubApp {
		if c.AppID <= 0 {
			add("app_id", "is required for a GitHub App (the app's numeric id)")
		}
		if c.InstallationID < 0 {
			add("installation_id", "must be a positive number, or 0 to find it from the repository")
		}
		if c.Assignee == "" {
			add("assignee", "is required with a GitHub App: an installation is no user whose tickets could be discovered")
		}
	} else {
		if c.AppID != 0 {
			add("app_id", "applies to auth mode %s only", AuthGitHubApp)
		}
		if c.InstallationID != 0 {
			add("installation_id", "applies to auth mode %s only", AuthGitHubApp)
		}
	}
	if c.AuthMode == AuthOAuth2 {
		if c.OAuthClientID == "" {
			add("oauth_client_id", "is required for oauth2 (the OAuth 2.0 app's client id)")
		}
		checkText(add, "oauth_client_id", c.OAuthClientID, MaxShortLen)
		checkList(add, "oauth_scopes", c.OAuthScopes, textRule)
	} else if c.OAuthClientID != "" || len(c.OAuthScopes) > 0 {
		add("oauth_client_id", "is only used with auth mode oauth2")
	}
	if c.OAuthGrantFrom != "" {
		switch {
		case c.System != Confluence || c.AuthMode != AuthOAuth2:
			add("oauth_grant_from", "only a Confluence connector with auth mode oauth2 uses another connector's grant (a Jira oauth2 connector's)")
		case !ValidID(c.OAuthGrantFrom):
			add("oauth_grant_from", "must be a connector id")
		case c.OAuthGrantFrom == c.ID:
			add("oauth_grant_from", "names the connector itself")
		}
	}
	if known {
		validateSystemFields(c, rules, add)
	}

	if c.PollInterval < MinPollInterval || c.PollInterval > MaxPollInterval {
		add("poll_interval", "must be between %s and %s", MinPollInterval, MaxPollInterval)
	}
	checkList(add, "scope.statuses", c.Scope.Statuses, textRule)
	checkList(add, "scope.labels", c.Scope.Labels, textRule)
	checkText(add, "scope.min_priority", c.Scope.MinPriority, MaxShortLen)
	checkText(add, "status_labels.in_progress", c.StatusLabels.InProgress, MaxShortLen)
	checkText(add, "status_labels.in_review", c.StatusLabels.InReview, MaxShortLen)
	checkText(add, "status_labels.done", c.StatusLabels.Done, MaxShortLen)

	switch c.ConflictPolicy {
	case TrackerWins, AgentWins:
	default:
		add("conflict_policy", "unknown policy %q (tracker_wins or agent_wins)", c.ConflictPolicy)
	}
	if c.CABundlePEM != "" {
		if msg := checkCABundle(c.CABundlePEM); msg != "" {
			add("ca_bundle_pem", "%s", msg)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// ValidateCredential checks a clear credential given for a connector's auth mode.
func ValidateCredential(mode AuthMode, s Secret) error {
	v := s.Reveal()
	if mode == AuthGitHubApp {
		if len(v) > MaxCredentialLen {
			return ValidationError{{Field: "credential", Description: fmt.Sprintf("is longer than %d bytes", MaxCredentialLen)}}
		}
		if _, err := ParseRSAPrivateKey([]byte(v)); err != nil {
			return ValidationError{{Field: "credential", Description: "must be the GitHub App's private key (PEM): " + err.Error()}}
		}
		return nil
	}
	if mode == AuthBearer && strings.Contains(v, ",") {
		// A token pool: comma-separated tokens (Airbyte's form).
		for t := range strings.SplitSeq(v, ",") {
			if t == "" {
				return ValidationError{{Field: "credential", Description: "a token pool (comma-separated tokens) has an empty token"}}
			}
		}
		if n := strings.Count(v, ",") + 1; n > MaxPoolTokens {
			return ValidationError{{Field: "credential", Description: fmt.Sprintf("a token pool holds at most %d tokens", MaxPoolTokens)}}
		}
	}
	switch {
	case mode == AuthAnonymous && v != "":
		return ValidationError{{Field: "credential", Description: "must be empty with anonymous access"}}
	case mode != AuthAnonymous && v == "":
		what := "the tracker's API token"
		if mode == AuthOAuth2 {
			what = "the OAuth 2.0 app's client secret"
		}
		return ValidationError{{Field: "credential", Description: "is required (" + what + ")"}}
	case len(v) > MaxCredentialLen:
		return ValidationError{{Field: "credential", Description: fmt.Sprintf("is longer than %d bytes", MaxCredentialLen)}}
	case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return ValidationError{{Field: "credential", Description: "contains white space or control characters (a copy-paste error?)"}}
	}
	return nil
}

func textRule(s string) string {
	if len(s) == 0 {
		return "must not be empty"
	}
	if len(s) > MaxShortLen {
		return fmt.Sprintf("is longer than %d bytes", MaxShortLen)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return "contains control characters"
	}
	return ""
}

func checkText(add func(string, string, ...any), field, v string, max int) {
	if len(v) > max {
		add(field, "is longer than %d bytes", max)
	} else if strings.ContainsFunc(v, unicode.IsControl) {
		add(field, "contains control characters")
	}
}

func checkList(add func(string, string, ...any), field string, list []string, rule func(string) string) {
	if len(list) > MaxListLen {
		add(field, "has %d entries; at most %d", len(list), MaxListLen)
		return
	}
	for i, v := range list {
		if msg := rule(v); msg != "" {
			add(fmt.Sprintf("%s[%d]", field, i), "%s", msg)
		}
	}
}

func checkHTTPURL(raw string) string {
	if len(raw) > MaxURLLen {
		return fmt.Sprintf("is longer than %d bytes", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URL"
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http or https URL"
	case u.Host == "" || u.Hostname() == "":
		return "must name a host"
	case u.User != nil:
		return "must not carry credentials; use the connector's credential"
	case u.RawQuery != "" || u.Fragment != "":
		return "must not have a query or fragment"
	}
	return ""
}

func checkCABundle(bundle string) string {
	if len(bundle) > MaxCABundleBytes {
		return fmt.Sprintf("is larger than %d bytes", MaxCABundleBytes)
	}
	rest := []byte(bundle)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Sprintf("holds a %q block; only certificates belong here", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return "holds a certificate that does not parse"
		}
		n++
	}
	if n == 0 {
		return "holds no PEM certificate"
	}
	return ""
}

// validateSystemFields checks the fields whose rules the system declares:
// project, space keys, the assignee under anonymous access, full text.
func validateSystemFields(c Connector, r Rules, add func(string, string, ...any)) {
	switch {
	case r.Project == nil && c.Project != "" && r.SpaceKeys != nil:
		add("project", "is not used by %s; use space_keys", c.System)
	default:
		if msg := r.ProjectError(c.Project); msg != "" {
			add("project", "%s", msg)
		}
	}
	if r.AnonymousNeedsAssignee && c.AuthMode == AuthAnonymous && c.Assignee == "" {
		add("assignee", "is required with anonymous access (there is no authenticated user to default to)")
	}
	switch {
	case r.SpaceKeys == nil && len(c.SpaceKeys) > 0:
		add("space_keys", "only knowledge sources (confluence) have space keys")
	case r.SpaceKeys != nil && r.SpaceKeys.Required && len(c.SpaceKeys) == 0:
		add("space_keys", "is required: %s", r.SpaceKeys.What)
	case r.SpaceKeys != nil:
		checkList(add, "space_keys", c.SpaceKeys, r.SpaceKeyError)
	}
	switch {
	case r.Watch == nil && len(c.Watch) > 0:
		add("watch", "only context sources (jenkins, circleci, sonarqube, argocd) watch jobs, projects or applications")
	case r.Watch != nil && len(c.Watch) == 0:
		add("watch", "is required: %s", r.Watch.What)
	case r.Watch != nil:
		checkList(add, "watch", c.Watch, r.WatchError)
	}
	if !r.FullText && c.FullText {
		add("full_text", "only knowledge sources (confluence) fetch page bodies")
	}
	// Whether each named connector exists and is a context source is the
	// registry's check (it needs the store); here only the form.
	switch {
	case r.Watch != nil && len(c.ContextConnectors) > 0:
		add("context_connectors", "a context source cannot name context connectors (only ticket connectors do)")
	default:
		seen := map[string]bool{}
		for _, id := range c.ContextConnectors {
			switch {
			case !ValidID(id):
				add("context_connectors", "%q is not a connector id", id)
			case id == c.ID:
				add("context_connectors", "%q is this connector", id)
			case seen[id]:
				add("context_connectors", "%q is named twice", id)
			}
			seen[id] = true
		}
	}
}

func joinSystems(systems []System) string {
	s := make([]string, len(systems))
	for i, sys := range systems {
		s[i] = string(sys)
	}
	return strings.Join(s, ", ")
}

func joinModes(modes []AuthMode) string {
	s := make([]string, len(modes))
	for i, m := range modes {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// ValidZone reports whether z can name an edge site: it is a token of
// KV keys and consumer names (POLLER_ZONE, WRITEBACK_ZONE), so no dots,
// wildcards or spaces.
func ValidZone(z string) bool {
	if z == "" || len(z) > 32 || z[0] < 'a' || z[0] > 'z' {
		return false
	}
	for _, r := range z {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
