// Package connector is the domain model of a configured tracker account, shared
// by the registry (which owns it) and the workers (which read it).
package connector

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// System is the kind of tracker a connector talks to.
type System string

const (
	Jira        System = "jira"
	GitHub      System = "github"
	GitLab      System = "gitlab"
	Confluence  System = "confluence"
	Bitbucket   System = "bitbucket" // Bitbucket Cloud
	PagerDuty   System = "pagerduty"
	AzureDevOps System = "azure-devops"
	// Context sources (read-only): what they watch is Connector.Watch.
	Jenkins   System = "jenkins"
	CircleCI  System = "circleci"
	SonarQube System = "sonarqube"
	ArgoCD    System = "argocd"
)

// Deployment says whether the tracker is the vendor's SaaS or self-hosted.
type Deployment string

const (
	Cloud      Deployment = "cloud"
	SelfHosted Deployment = "self_hosted" // Jira/Confluence Data Center, GitHub Enterprise Server, GitLab self-managed
)

// AuthMode is how the connector authenticates.
type AuthMode string

const (
	AuthBasic     AuthMode = "basic"     // user (email on Atlassian Cloud) + API token
	AuthBearer    AuthMode = "bearer"    // personal access token
	AuthAnonymous AuthMode = "anonymous" // public Jira only
	// AuthGitHubApp: a GitHub App installation. The credential is the app's
	// private key (PEM); AppID and InstallationID say which app and which
	// installation. Workers mint installation tokens from it on demand.
	AuthGitHubApp AuthMode = "github_app"
	// AuthOAuth2 is the OAuth 2.0 authorization code grant (Atlassian 3LO):
	// the credential is the app's client secret, OAuthClientID its id, and
	// its OAuthGrant (in its own bucket) the rotating refresh token workers
	// mint access tokens with.
	AuthOAuth2 AuthMode = "oauth2"
)

// ConflictPolicy decides whether a person's change or the agent's result wins.
type ConflictPolicy string

const (
	TrackerWins ConflictPolicy = "tracker_wins"
	AgentWins   ConflictPolicy = "agent_wins"
)

// Scope narrows the assigned tickets a connector discovers.
type Scope struct {
	Statuses    []string `json:"statuses,omitempty"`
	Labels      []string `json:"labels,omitempty"`
	MinPriority string   `json:"min_priority,omitempty"`
}

// StatusLabels are the label names used as status on label-based trackers.
type StatusLabels struct {
	InProgress string `json:"in_progress,omitempty"`
	InReview   string `json:"in_review,omitempty"`
	Done       string `json:"done,omitempty"`
}

// DefaultStatusLabels are used when a connector names none.
var DefaultStatusLabels = StatusLabels{InProgress: "In Progress", InReview: "In Review", Done: "Done"}

// Credential is the stored, encrypted credential and what may be shown about it.
type Credential struct {
	// Ciphertext is self-describing ("vault:v1:…" or "local:v1:…"); never the clear value.
	Ciphertext  string    `json:"ciphertext,omitempty"`
	SetTime     time.Time `json:"set_time,omitzero"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	ExpireTime  time.Time `json:"expire_time,omitzero"`
	// Binding says what the ciphertext is bound to: BindingFields for
	// credentials stored since the binding was introduced, "" for older ones
	// (bound to the connector id only, until the credential is rotated).
	Binding string `json:"binding,omitempty"`
	// Kind is what the clear value is (CredentialKind*); PoolFingerprints
	// are a token pool's tokens' fingerprints, in pool order, comma-separated
	// (a string keeps Credential comparable).
	Kind             string `json:"kind,omitempty"`
	PoolFingerprints string `json:"pool_fingerprints,omitempty"`
}

// Pool lists a token pool's fingerprints (nil for one token).
func (c Credential) Pool() []string {
	if c.PoolFingerprints == "" {
		return nil
	}
	return strings.Split(c.PoolFingerprints, ",")
}

// Credential kinds.
const (
	CredentialKindToken     = "token"
	CredentialKindTokenPool = "token_pool"
	CredentialKindGitHubApp = "github_app_private_key"
)

// CredentialKindOf names what a clear credential of auth mode m is.
func CredentialKindOf(m AuthMode, s Secret) string {
	switch {
	case m == AuthGitHubApp:
		return CredentialKindGitHubApp
	case m == AuthBearer && len(PoolTokens(s)) > 1:
		return CredentialKindTokenPool
	default:
		return CredentialKindToken
	}
}

// BindingFields binds a ciphertext to the connector's id and every field
// that decides where and how the credential is sent.
const BindingFields = "fields-v1"

// CredentialContext is the key context (Vault transit's derivation context,
// the local keyring's associated data) a credential is encrypted under. With
// BindingFields it covers the id, system, deployment, base URL, auth mode,
// username, proxy and CA bundle, so a record changed outside the registry
// (say, base_url rewritten in the KV bucket) no longer decrypts and its
// token is never sent to the new endpoint.
func (c Connector) CredentialContext() string {
	if c.Credential.Binding != BindingFields {
		return c.ID
	}
	ca := sha256.Sum256([]byte(c.CABundlePEM))
	parts := []string{BindingFields, c.ID, string(c.System), string(c.Deployment), c.BaseURL,
		string(c.AuthMode), c.Username, c.HTTPProxyURL, hex.EncodeToString(ca[:])}
	if c.AuthMode == AuthOAuth2 {
		// Only OAuth connectors add the client id, so every ciphertext stored
		// before the mode existed keeps its context.
		parts = append(parts, c.OAuthClientID)
	}
	if c.AuthMode == AuthGitHubApp {
		// A GitHub App's private key has a context of its own (and the app
		// id in it): it can never be opened as a token of this connector,
		// nor as the key of another app.
		parts = append(parts, "github-app-key", strconv.FormatInt(c.AppID, 10))
	}
	return strings.Join(parts, "\x00")
}

// GrantOwner is the id of the connector whose grant c uses: its own, or
// OAuthGrantFrom's.
func (c Connector) GrantOwner() string {
	if c.OAuthGrantFrom != "" {
		return c.OAuthGrantFrom
	}
	return c.ID
}

// OAuthRefreshContext is the key context of the OAuth refresh token: the
// credential's (the client secret's), with a suffix, so neither ciphertext
// can be opened as the other.
func (c Connector) OAuthRefreshContext() string {
	return c.CredentialContext() + "\x00oauth-refresh"
}

// WebhookSecretContext is the key context of the webhook secret: the
// credential's, with a suffix, so one ciphertext can never be opened as the other.
func (c Connector) WebhookSecretContext() string {
	return c.CredentialContext() + "\x00webhook"
}

// Set reports whether a credential is stored.
func (c Credential) Set() bool { return c.Ciphertext != "" }

// Connector is one configured tracker account.
type Connector struct {
	ID               string         `json:"id"`
	System           System         `json:"system"`
	Deployment       Deployment     `json:"deployment"`
	DisplayName      string         `json:"display_name,omitempty"`
	BaseURL          string         `json:"base_url,omitempty"`
	AuthMode         AuthMode       `json:"auth_mode"`
	Username         string         `json:"username,omitempty"`
	Assignee         string         `json:"assignee,omitempty"`
	Project          string         `json:"project,omitempty"`
	SpaceKeys        []string       `json:"space_keys,omitempty"`
	Enabled          bool           `json:"enabled"`
	PollInterval     time.Duration  `json:"poll_interval"`
	Scope            Scope          `json:"scope,omitzero"`
	IndexComments    bool           `json:"index_comments,omitempty"`
	IndexAttachments bool           `json:"index_attachments,omitempty"`
	StatusLabels     StatusLabels   `json:"status_labels,omitzero"`
	ConflictPolicy   ConflictPolicy `json:"conflict_policy"`
	HTTPProxyURL     string         `json:"http_proxy_url,omitempty"`
	CABundlePEM      string         `json:"ca_bundle_pem,omitempty"`
	CloseOnDone      bool           `json:"close_on_done,omitempty"`
	// Zone is the edge site whose pollers and writeback serve the connector
	// (POLLER_ZONE, WRITEBACK_ZONE); "" is the central site.
	Zone     string `json:"zone,omitempty"`
	FullText bool   `json:"full_text,omitempty"`
	// ReviewPullRequests: discover pull requests where the account is a
	// reviewer, as review tickets (Bitbucket Cloud, Azure DevOps).
	ReviewPullRequests bool `json:"review_pull_requests,omitempty"`
	// Watch names what a context source reads (Jenkins job paths, a CircleCI
	// project slug, SonarQube project keys, Argo CD application names);
	// required for context sources, refused for every other system.
	Watch []string `json:"watch,omitempty"`
	// ContextConnectors names the context connectors (systems whose tracker
	// is a trackers.ContextReader) whose state the knowledge service adds to
	// this ticket connector's ticket.enriched events; the registry checks
	// each exists and is a context source.
	ContextConnectors []string `json:"context_connectors,omitempty"`

	// AppID and InstallationID: a GitHub App connector (AuthGitHubApp).
	// InstallationID 0: found from the repository (GET /repos/{o}/{r}/installation).
	AppID          int64 `json:"app_id,omitempty"`
	InstallationID int64 `json:"installation_id,omitempty"`

	Credential Credential `json:"credential,omitzero"`
	// Webhook: the tracker notifies services/webhooks of changes, and the
	// poll becomes a reconcile. WebhookSecret is the hook's secret,
	// encrypted like the credential under WebhookSecretContext.
	Webhook       bool       `json:"webhook,omitempty"`
	WebhookSecret Credential `json:"webhook_secret,omitzero"`
	// WebhookHook is how the hook was set up on the tracker (registry-owned).
	WebhookHook WebhookHook `json:"webhook_hook,omitzero"`
	// OAuthClientID and OAuthScopes are the OAuth 2.0 app (AuthOAuth2); the
	// client secret is Credential.
	OAuthClientID string   `json:"oauth_client_id,omitempty"`
	OAuthScopes   []string `json:"oauth_scopes,omitempty"`
	// OAuthGrantFrom names the Jira connector whose OAuth grant this
	// Confluence connector (AuthOAuth2) uses: one consent and one rotating
	// refresh token serve both products of a site (two copies of one grant
	// would retire each other's token on every refresh). The registry checks
	// the source exists, is a Jira oauth2 connector of the same site with the
	// same client id, and that its consent covers this connector's scopes;
	// workers refresh through the source's grant record, under the source's
	// key context. This connector's own credential stays the app's client
	// secret (the same app).
	OAuthGrantFrom string `json:"oauth_grant_from,omitempty"`
	// Grant is what the registry shows of the connector's OAuth grant,
	// read from the oauth_grants bucket (GrantStore) when it returns the
	// connector; never stored in the connector record, which workers do not
	// write.
	Grant OAuthGrant `json:"-"`
	// GrantUsers are the connectors whose OAuthGrantFrom names this one
	// (the registry fills it when it returns the connector; not stored).
	GrantUsers []string  `json:"-"`
	CreateTime time.Time `json:"create_time"`
	UpdateTime time.Time `json:"update_time"`
	// Revision is the store's revision of this record (KV revision); the etag derives from it.
	Revision uint64 `json:"-"`
}

// Webhook registration states (WebhookHook.State).
const (
	HookRegistered = "registered" // the registry created the hook on the tracker
	HookManual     = "manual"     // an admin creates it (hubctl connectors webhook ID)
	HookFailed     = "failed"     // creating it failed; the poll still runs
)

// WebhookHook records the connector's hook on the tracker.
type WebhookHook struct {
	State  string `json:"state,omitempty"`
	Reason string `json:"reason,omitempty"`
	// ID is the tracker's hook id when State is HookRegistered.
	ID string `json:"id,omitempty"`
	// URL is the receiver URL the hook sends to ("" when no public URL is set).
	URL string `json:"url,omitempty"`
	// SecretShown: the current secret was revealed once (GetWebhookSetup);
	// it is never revealed again, only rotated.
	SecretShown bool `json:"secret_shown,omitempty"`
}

// DefaultPollInterval applies when a connector names none.
const DefaultPollInterval = 60 * time.Second

// Secret is a credential in clear, in memory only. Its String and GoString
// never print the value, so a stray %v or slog attribute cannot leak it.
type Secret struct{ value string }

// NewSecret wraps a clear credential.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the clear value; call it only where the value goes on the wire.
func (s Secret) Reveal() string { return s.value }

// Empty reports whether no credential was given.
func (s Secret) Empty() bool { return s.value == "" }

func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// MarshalText keeps encoders (JSON, slog) from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
