package connector

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"regexp"
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
	MaxCredentialLen = 8 << 10   // a token
	MinPollInterval  = 10 * time.Second
	MaxPollInterval  = 24 * time.Hour
)

var (
	idPattern          = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)
	jiraProjectPattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,254}$`)
	githubRepoPattern  = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)
	gitlabPathPattern  = regexp.MustCompile(`^(?:[0-9]+|[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+)$`)
	spaceKeyPattern    = regexp.MustCompile(`^~?[A-Za-z0-9_]{1,255}$`)
)

// ValidID reports whether id can name a connector (it is used in NATS subjects and KV keys).
func ValidID(id string) bool { return idPattern.MatchString(id) }

// ApplyDefaults fills the fields a user may leave empty.
func (c *Connector) ApplyDefaults() {
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.ConflictPolicy == "" {
		c.ConflictPolicy = TrackerWins
	}
	if c.AuthMode == "" {
		switch {
		case (c.System == Jira || c.System == Confluence) && c.Deployment == Cloud:
			c.AuthMode = AuthBasic
		case c.System != "":
			c.AuthMode = AuthBearer
		}
	}
	if c.System == GitHub || c.System == GitLab {
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

// AuthModes lists the authentication modes a system accepts on a deployment.
func AuthModes(s System, d Deployment) []AuthMode {
	switch s {
	case Jira:
		if d == Cloud {
			return []AuthMode{AuthBasic, AuthAnonymous}
		}
		return []AuthMode{AuthBearer, AuthBasic, AuthAnonymous}
	case Confluence:
		if d == Cloud {
			return []AuthMode{AuthBasic}
		}
		return []AuthMode{AuthBearer, AuthBasic}
	case GitHub, GitLab:
		return []AuthMode{AuthBearer}
	}
	return nil
}

// NeedsBaseURL reports whether the user must give a base URL (there is no vendor default).
func NeedsBaseURL(s System, d Deployment) bool {
	return s == Jira || s == Confluence || d == SelfHosted
}

// Validate checks every field and returns a ValidationError naming each bad one.
// It does not judge where base_url points: that is the endpoint policy's job.
func (c Connector) Validate() error {
	var errs ValidationError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Description: fmt.Sprintf(format, args...)})
	}

	if !ValidID(c.ID) {
		add("id", "must be 2-63 characters of lowercase letters, digits and dashes, starting with a letter")
	}
	switch c.System {
	case Jira, GitHub, GitLab, Confluence:
	case "":
		add("system", "is required (one of jira, github, gitlab, confluence)")
	default:
		add("system", "unknown system %q (one of jira, github, gitlab, confluence)", c.System)
	}
	switch c.Deployment {
	case Cloud, SelfHosted:
	case "":
		add("deployment", "is required (cloud or self_hosted)")
	default:
		add("deployment", "unknown deployment %q (cloud or self_hosted)", c.Deployment)
	}
	checkText(add, "display_name", c.DisplayName, MaxShortLen)
	checkText(add, "username", c.Username, MaxShortLen)
	checkText(add, "assignee", c.Assignee, MaxShortLen)

	if c.BaseURL == "" {
		if NeedsBaseURL(c.System, c.Deployment) {
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

	if modes := AuthModes(c.System, c.Deployment); len(modes) > 0 && c.Deployment != "" {
		ok := false
		for _, m := range modes {
			ok = ok || m == c.AuthMode
		}
		if !ok {
			add("auth_mode", "%q is not accepted by %s %s (accepted: %s)", c.AuthMode, c.System, c.Deployment, joinModes(modes))
		}
	}
	if c.AuthMode == AuthBasic {
		if c.Username == "" {
			add("username", "is required for basic auth")
		} else if (c.System == Jira || c.System == Confluence) && c.Deployment == Cloud && !strings.Contains(c.Username, "@") {
			add("username", "must be the account's email address on Atlassian Cloud")
		}
	}

	switch c.System {
	case Jira:
		if c.Project != "" && !jiraProjectPattern.MatchString(c.Project) {
			add("project", "must be a Jira project key such as PROJ (uppercase letters, digits, underscores)")
		}
		if c.AuthMode == AuthAnonymous && c.Assignee == "" {
			add("assignee", "is required with anonymous access (there is no authenticated user to default to)")
		}
	case GitHub:
		if c.Project == "" {
			add("project", "is required: the repository as owner/repo")
		} else if !githubRepoPattern.MatchString(c.Project) {
			add("project", "must be a repository as owner/repo")
		}
	case GitLab:
		if c.Project == "" {
			add("project", "is required: the project path (group/project) or numeric id")
		} else if len(c.Project) > MaxShortLen || !gitlabPathPattern.MatchString(c.Project) {
			add("project", "must be a project path such as group/project or a numeric project id")
		}
	case Confluence:
		if len(c.SpaceKeys) == 0 {
			add("space_keys", "at least one space key is required")
		}
		if c.Project != "" {
			add("project", "is not used by confluence; use space_keys")
		}
	}
	if c.System != Confluence && len(c.SpaceKeys) > 0 {
		add("space_keys", "only confluence connectors have space keys")
	}
	if c.System != Confluence && c.FullText {
		add("full_text", "only confluence connectors fetch page bodies")
	}
	checkList(add, "space_keys", c.SpaceKeys, func(k string) string {
		if !spaceKeyPattern.MatchString(k) {
			return "must be a space key of letters, digits and underscores"
		}
		return ""
	})

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
	switch {
	case mode == AuthAnonymous && v != "":
		return ValidationError{{Field: "credential", Description: "must be empty with anonymous access"}}
	case mode != AuthAnonymous && v == "":
		return ValidationError{{Field: "credential", Description: "is required (the tracker's API token)"}}
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

func joinModes(modes []AuthMode) string {
	s := make([]string, len(modes))
	for i, m := range modes {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}
