package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/connectorhub/connectorhub/pkg/connector"
	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// fieldFlag maps one command-line flag onto one Connector field and its
// field-mask path, so add, test and update share one table and update's mask
// names exactly the flags that were given.
type fieldFlag struct {
	name  string
	path  string
	apply func(fs *pflag.FlagSet, c *pb.Connector) error
}

var fieldFlags = []fieldFlag{
	{"name", "display_name", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.DisplayName, err = fs.GetString("name")
		return err
	}},
	{"deployment", "deployment", func(fs *pflag.FlagSet, c *pb.Connector) error {
		v, _ := fs.GetString("deployment")
		d, err := parseDeployment(v)
		c.Deployment = d
		return err
	}},
	{"base-url", "base_url", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.BaseUrl, err = fs.GetString("base-url")
		return err
	}},
	{"auth", "auth_mode", func(fs *pflag.FlagSet, c *pb.Connector) error {
		v, _ := fs.GetString("auth")
		a, err := parseAuth(v)
		c.AuthMode = a
		return err
	}},
	{"username", "username", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.Username, err = fs.GetString("username")
		return err
	}},
	{"assignee", "assignee", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.Assignee, err = fs.GetString("assignee")
		return err
	}},
	{"project", "project", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.Project, err = fs.GetString("project")
		return err
	}},
	{"space", "space_keys", func(fs *pflag.FlagSet, c *pb.Connector) error {
		v, err := fs.GetStringSlice("space")
		c.SpaceKeys = nonEmpty(v)
		return err
	}},
	{"context", "context_connectors", func(fs *pflag.FlagSet, c *pb.Connector) error {
		v, err := fs.GetStringSlice("context")
		c.ContextConnectors = nonEmpty(v)
		return err
	}},
	{"poll-interval", "poll_interval", func(fs *pflag.FlagSet, c *pb.Connector) error {
		d, err := fs.GetDuration("poll-interval")
		if d < 0 {
			return fmt.Errorf("must not be negative")
		}
		c.PollInterval = durationpb.New(d)
		return err
	}},
	{"status", "scope.statuses", func(fs *pflag.FlagSet, c *pb.Connector) error {
		v, err := fs.GetStringSlice("status")
		scopeOf(c).Statuses = nonEmpty(v)
		return err
	}},
	{"label", "scope.labels", func(fs *pflag.FlagSet, c *pb.Connector) error {
		v, err := fs.GetStringSlice("label")
		scopeOf(c).Labels = nonEmpty(v)
		return err
	}},
	{"min-priority", "scope.min_priority", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		scopeOf(c).MinPriority, err = fs.GetString("min-priority")
		return err
	}},
	{"index-comments", "index_comments", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.IndexComments, err = fs.GetBool("index-comments")
		return err
	}},
	{"index-attachments", "index_attachments", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.IndexAttachments, err = fs.GetBool("index-attachments")
		return err
	}},
	{"in-progress-label", "status_labels.in_progress", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		labelsOf(c).InProgress, err = fs.GetString("in-progress-label")
		return err
	}},
	{"in-review-label", "status_labels.in_review", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		labelsOf(c).InReview, err = fs.GetString("in-review-label")
		return err
	}},
	{"done-label", "status_labels.done", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		labelsOf(c).Done, err = fs.GetString("done-label")
		return err
	}},
	{"full-text", "full_text", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.FullText, err = fs.GetBool("full-text")
		return err
	}},
	{"review-pull-requests", "review_pull_requests", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.ReviewPullRequests, err = fs.GetBool("review-pull-requests")
		return err
	}},
	{"webhook", "webhook", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.Webhook, err = fs.GetBool("webhook")
		return err
	}},
	{"watch", "watch", func(fs *pflag.FlagSet, c *pb.Connector) error {
		v, err := fs.GetStringSlice("watch")
		c.Watch = nonEmpty(v)
		return err
	}},
	{"oauth-client-id", "oauth_client_id", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.OauthClientId, err = fs.GetString("oauth-client-id")
		return err
	}},
	{"oauth-grant-from", "oauth_grant_from", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.OauthGrantFrom, err = fs.GetString("oauth-grant-from")
		return err
	}},
	{"oauth-scope", "oauth_scopes", func(fs *pflag.FlagSet, c *pb.Connector) error {
		v, err := fs.GetStringSlice("oauth-scope")
		c.OauthScopes = nonEmpty(v)
		return err
	}},
	{"close-on-done", "close_on_done", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.CloseOnDone, err = fs.GetBool("close-on-done")
		return err
	}},
	{"app-id", "app_id", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.AppId, err = fs.GetInt64("app-id")
		if c.AuthMode == pb.AuthMode_AUTH_MODE_UNSPECIFIED {
			c.AuthMode = pb.AuthMode_AUTH_MODE_GITHUB_APP // --app-id implies --auth github-app
		}
		return err
	}},
	{"installation-id", "installation_id", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.InstallationId, err = fs.GetInt64("installation-id")
		return err
	}},
	{"zone", "zone", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.Zone, err = fs.GetString("zone")
		return err
	}},
	{"conflict-policy", "conflict_policy", func(fs *pflag.FlagSet, c *pb.Connector) error {
		v, _ := fs.GetString("conflict-policy")
		p, err := parsePolicy(v)
		c.ConflictPolicy = p
		return err
	}},
	{"proxy", "http_proxy_url", func(fs *pflag.FlagSet, c *pb.Connector) (err error) {
		c.HttpProxyUrl, err = fs.GetString("proxy")
		return err
	}},
	{"ca-bundle", "ca_bundle_pem", func(fs *pflag.FlagSet, c *pb.Connector) error {
		path, _ := fs.GetString("ca-bundle")
		if path == "" {
			c.CaBundlePem = "" // --ca-bundle= clears it on update
			return nil
		}
		pem, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", path)
		}
		c.CaBundlePem = string(pem)
		return nil
	}},
}

// addFieldFlags declares the flags of fieldFlags on fs.
func addFieldFlags(fs *pflag.FlagSet) {
	fs.String("name", "", "display name")
	fs.String("deployment", "", "cloud or self-hosted (aliases: data-center, server, enterprise, self-managed)")
	fs.String("base-url", "", "tracker base URL (the API root for GitHub Enterprise Server and GitLab); --endpoint is the same flag (required for jenkins, sonarqube and argocd)")
	fs.String("auth", "", "basic, bearer, anonymous, oauth2 (Jira/Confluence Cloud; the token is then the app's client secret) or github-app (with --app-id) (default: basic for Jira/Confluence Cloud, else bearer)")
	fs.String("oauth-client-id", "", "oauth2: the OAuth 2.0 (3LO) app's client id; then run `hubctl connectors authorize ID`")
	fs.String("oauth-grant-from", "", "oauth2, Confluence Cloud: use the grant of this Jira oauth2 connector (same site and client id; one consent for both: authorize the Jira connector)")
	fs.StringSlice("oauth-scope", nil, "oauth2: a scope to ask for at authorization (repeatable; default: the system's, with offline_access)")
	fs.String("username", "", "user for basic auth (an email on Atlassian Cloud)")
	fs.String("assignee", "", "account whose tickets are discovered (default: the authenticated user)")
	fs.String("project", "", "Jira project key, GitHub owner/repo, GitLab project path or numeric id")
	fs.StringSlice("space", nil, "Confluence space key (repeatable)")
	fs.StringSlice("context", nil, "ticket connectors: the context connectors whose builds, quality gate and deployment enrich this connector's tickets (comma-separated ids)")
	fs.Duration("poll-interval", 0, fmt.Sprintf("how often the tracker is polled, e.g. 2m (between %s and %s; a connector without one is polled every %s)",
		shortDuration(connector.MinPollInterval), shortDuration(connector.MaxPollInterval), shortDuration(connector.DefaultPollInterval)))
	fs.StringSlice("status", nil, "only tickets in this status (repeatable)")
	fs.StringSlice("label", nil, "only tickets carrying this label (repeatable)")
	fs.String("min-priority", "", "only tickets at or above this priority name")
	fs.Bool("index-comments", false, "index ticket comments")
	fs.Bool("index-attachments", false, "index ticket attachments")
	fs.String("in-progress-label", "", "label used as status In Progress (label-based trackers)")
	fs.String("in-review-label", "", "label used as status In Review (label-based trackers)")
	fs.String("done-label", "", "label used as status Done (label-based trackers)")
	fs.Bool("close-on-done", false, "close the issue when status Done is written")
	fs.Bool("review-pull-requests", false, "bitbucket, azure-devops: also discover open pull requests where the account is a reviewer (review tickets)")
	fs.Bool("webhook", false, "github, gitlab, jira: the tracker notifies the hub of changes (a signed webhook; the registry creates the hook when it may, else see \"hubctl connectors webhook ID\"); --webhook=false removes it")
	fs.StringSlice("watch", nil, "context sources: what to read, comma-separated or repeated: Jenkins job paths (folder/job), a CircleCI project slug (gh/org/repo), SonarQube project keys, Argo CD application names")
	fs.Bool("full-text", false, "confluence: add each hit's page body as plain text to enrichments")
	fs.String("conflict-policy", "", "tracker-wins or agent-wins")
	fs.Int64("app-id", 0, "github: the GitHub App's id (auth github-app; the credential is its private key, --private-key-file)")
	fs.Int64("installation-id", 0, "github: the App installation's id (default: found from --project)")
	fs.String("zone", "", "edge site whose pollers (POLLER_ZONE) and writeback (WRITEBACK_ZONE) serve this connector; empty: the central site")
	fs.String("proxy", "", "HTTP(S) proxy URL for requests to the tracker")
	fs.String("ca-bundle", "", "PEM file of extra certificate authorities for a self-hosted tracker")
	// DevLake's configure connection calls the base URL --endpoint.
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "endpoint" {
			name = "base-url"
		}
		return pflag.NormalizedName(name)
	})
}

// contextSystems are the read-only context sources; each needs --watch.
var contextSystems = map[pb.System]string{
	pb.System_SYSTEM_JENKINS:   "Jenkins jobs to watch (folder/job, comma-separated)",
	pb.System_SYSTEM_CIRCLECI:  "CircleCI project slug to watch (gh/org/repo)",
	pb.System_SYSTEM_SONARQUBE: "SonarQube project keys to watch (comma-separated)",
	pb.System_SYSTEM_ARGOCD:    "Argo CD applications to watch (comma-separated)",
}

// endpointRequired are the systems with no default base URL (DevLake's
// rule: --endpoint is required); they are self-hosted.
func endpointRequired(s pb.System) bool {
	return s == pb.System_SYSTEM_JENKINS || s == pb.System_SYSTEM_SONARQUBE || s == pb.System_SYSTEM_ARGOCD
}

// tokenOnly are the systems that authenticate with a token alone: a
// --username given to them is ignored, with a warning.
func tokenOnly(s pb.System) bool {
	switch s {
	case pb.System_SYSTEM_GITHUB, pb.System_SYSTEM_CIRCLECI, pb.System_SYSTEM_SONARQUBE, pb.System_SYSTEM_ARGOCD:
		return true
	}
	return false
}

// shortDuration prints d without trailing zero units: 1m, not 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// applyFieldFlags sets on c every field whose flag was given and returns the
// field-mask paths of exactly those fields, in table order.
func applyFieldFlags(fs *pflag.FlagSet, c *pb.Connector) ([]string, error) {
	var paths []string
	for _, f := range fieldFlags {
		if fs.Lookup(f.name) == nil || !fs.Changed(f.name) {
			continue
		}
		if err := f.apply(fs, c); err != nil {
			return nil, fmt.Errorf("--%s: %w", f.name, err)
		}
		paths = append(paths, f.path)
	}
	return paths, nil
}

func scopeOf(c *pb.Connector) *pb.Scope {
	if c.Scope == nil {
		c.Scope = &pb.Scope{}
	}
	return c.Scope
}

func labelsOf(c *pb.Connector) *pb.StatusLabels {
	if c.StatusLabels == nil {
		c.StatusLabels = &pb.StatusLabels{}
	}
	return c.StatusLabels
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func norm(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
}

// systemAliases are short names accepted beside the system names.
var systemAliases = map[string]string{"gh": "github", "gl": "gitlab", "azdo": "azure-devops", "ado": "azure-devops", "azuredevops": "azure-devops"}

// systemNames lists the systems the schema defines (SYSTEM_JIRA → jira), in
// enum order. The numbers may have gaps (a value reserved by another
// branch), so every defined value is listed, not a run from 1.
func systemNames() []string {
	nums := make([]int32, 0, len(pb.System_name))
	for n := range pb.System_name {
		if n != 0 {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	names := make([]string, 0, len(nums))
	for _, n := range nums {
		names = append(names, norm(strings.TrimPrefix(pb.System_name[n], "SYSTEM_"))) // SYSTEM_AZURE_DEVOPS → azure-devops
	}
	return names
}

func parseSystem(s string) (pb.System, error) {
	name := norm(s)
	if alias, ok := systemAliases[name]; ok {
		name = alias
	}
	if v, ok := pb.System_value["SYSTEM_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))]; ok && v != 0 {
		return pb.System(v), nil
	}
	return pb.System_SYSTEM_UNSPECIFIED, fmt.Errorf("unknown system %q (want %s)", s, strings.Join(systemNames(), ", "))
}

func parseDeployment(s string) (pb.Deployment, error) {
	switch norm(s) {
	case "cloud", "saas":
		return pb.Deployment_DEPLOYMENT_CLOUD, nil
	case "self-hosted", "selfhosted", "data-center", "datacenter", "dc", "server", "enterprise", "enterprise-server", "ghes", "self-managed", "selfmanaged":
		return pb.Deployment_DEPLOYMENT_SELF_HOSTED, nil
	}
	return pb.Deployment_DEPLOYMENT_UNSPECIFIED, fmt.Errorf("unknown deployment %q (want cloud or self-hosted)", s)
}

func parseAuth(s string) (pb.AuthMode, error) {
	switch norm(s) {
	case "basic":
		return pb.AuthMode_AUTH_MODE_BASIC, nil
	case "bearer", "pat", "token":
		return pb.AuthMode_AUTH_MODE_BEARER, nil
	case "anonymous", "none":
		return pb.AuthMode_AUTH_MODE_ANONYMOUS, nil
	case "github-app", "app":
		return pb.AuthMode_AUTH_MODE_GITHUB_APP, nil
	case "oauth2", "oauth", "3lo":
		return pb.AuthMode_AUTH_MODE_OAUTH2, nil
	}
	return pb.AuthMode_AUTH_MODE_UNSPECIFIED, fmt.Errorf("unknown auth mode %q (want basic, bearer, anonymous, oauth2 or github-app)", s)
}

func parsePolicy(s string) (pb.ConflictPolicy, error) {
	switch norm(s) {
	case "tracker-wins", "tracker":
		return pb.ConflictPolicy_CONFLICT_POLICY_TRACKER_WINS, nil
	case "agent-wins", "agent":
		return pb.ConflictPolicy_CONFLICT_POLICY_AGENT_WINS, nil
	}
	return pb.ConflictPolicy_CONFLICT_POLICY_UNSPECIFIED, fmt.Errorf("unknown conflict policy %q (want tracker-wins or agent-wins)", s)
}

// applyAddDefaults fills what a new connector may leave out: cloud deployment
// and the usual auth mode for the system.
func applyAddDefaults(c *pb.Connector) {
	if c.Deployment == pb.Deployment_DEPLOYMENT_UNSPECIFIED {
		c.Deployment = pb.Deployment_DEPLOYMENT_CLOUD
		if endpointRequired(c.System) {
			c.Deployment = pb.Deployment_DEPLOYMENT_SELF_HOSTED
		}
	}
	if c.AuthMode == pb.AuthMode_AUTH_MODE_UNSPECIFIED && c.System != pb.System_SYSTEM_UNSPECIFIED {
		atlassian := c.System == pb.System_SYSTEM_JIRA || c.System == pb.System_SYSTEM_CONFLUENCE || c.System == pb.System_SYSTEM_BITBUCKET
		if atlassian && c.Deployment == pb.Deployment_DEPLOYMENT_CLOUD || c.System == pb.System_SYSTEM_JENKINS {
			c.AuthMode = pb.AuthMode_AUTH_MODE_BASIC
		} else {
			c.AuthMode = pb.AuthMode_AUTH_MODE_BEARER
		}
	}
}

// requiredField is a setting a new connector cannot do without, with the
// prompt hubctl asks on a terminal.
type requiredField struct {
	flag   string
	prompt string
	set    func(c *pb.Connector, v string) error
}

// missingFields lists what c still lacks, in the order hubctl asks for it.
// The registry validates everything again; this only decides what to ask.
func missingFields(c *pb.Connector) []requiredField {
	var out []requiredField
	if c.System == pb.System_SYSTEM_UNSPECIFIED {
		return append(out, requiredField{"system", "System (" + strings.Join(systemNames(), ", ") + ")", func(c *pb.Connector, v string) (err error) {
			c.System, err = parseSystem(v)
			return err
		}})
	}
	atlassian := c.System == pb.System_SYSTEM_JIRA || c.System == pb.System_SYSTEM_CONFLUENCE
	if c.BaseUrl == "" && (atlassian || c.Deployment == pb.Deployment_DEPLOYMENT_SELF_HOSTED || endpointRequired(c.System)) {
		prompt := "Base URL (e.g. https://example.atlassian.net)"
		if endpointRequired(c.System) {
			prompt = "Endpoint (the " + systemName(c.System) + " URL, e.g. https://" + systemName(c.System) + ".example.com)"
		}
		out = append(out, requiredField{"base-url", prompt, func(c *pb.Connector, v string) error {
			c.BaseUrl = v
			return nil
		}})
	}
	if c.Project == "" && (c.System == pb.System_SYSTEM_GITHUB || c.System == pb.System_SYSTEM_GITLAB || c.System == pb.System_SYSTEM_AZURE_DEVOPS || c.System == pb.System_SYSTEM_BITBUCKET) {
		hint := "owner/repo"
		switch c.System {
		case pb.System_SYSTEM_GITLAB:
			hint = "group/project or numeric id"
		case pb.System_SYSTEM_AZURE_DEVOPS:
			hint = "organization/project"
		case pb.System_SYSTEM_BITBUCKET:
			hint = "workspace/repo_slug"
		}
		out = append(out, requiredField{"project", "Project (" + hint + ")", func(c *pb.Connector, v string) error {
			c.Project = v
			return nil
		}})
	}
	if len(c.SpaceKeys) == 0 && c.System == pb.System_SYSTEM_CONFLUENCE {
		out = append(out, requiredField{"space", "Space keys (comma-separated)", func(c *pb.Connector, v string) error {
			c.SpaceKeys = nonEmpty(strings.Split(v, ","))
			return nil
		}})
	}
	if prompt, ok := contextSystems[c.System]; ok && len(c.Watch) == 0 {
		out = append(out, requiredField{"watch", prompt, func(c *pb.Connector, v string) error {
			c.Watch = nonEmpty(strings.Split(v, ","))
			return nil
		}})
	}
	if c.OauthClientId == "" && c.AuthMode == pb.AuthMode_AUTH_MODE_OAUTH2 {
		out = append(out, requiredField{"oauth-client-id", "OAuth 2.0 app client id (Atlassian developer console)", func(c *pb.Connector, v string) error {
			c.OauthClientId = v
			return nil
		}})
	}
	if c.Username == "" && c.AuthMode == pb.AuthMode_AUTH_MODE_BASIC {
		prompt := "Username (the account email on Atlassian Cloud)"
		if c.System == pb.System_SYSTEM_JENKINS {
			prompt = "Username (the Jenkins user id that owns the API token)"
		}
		out = append(out, requiredField{"username", prompt, func(c *pb.Connector, v string) error {
			c.Username = v
			return nil
		}})
	}
	return out
}
