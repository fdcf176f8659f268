package trackers

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// confluenceTracker talks to Confluence Cloud (REST v1 under /wiki, email +
// API token) and Confluence Data Center (REST under the context path, PAT
// bearer or user + password). Read-only.
//
// No Go library covers both Cloud and Data Center here (go-atlassian v2 is
// Cloud-only), so this is a small hand-written client over net/http.
type confluenceTracker struct{}

var _ IdentityChecker = confluenceTracker{}

func (confluenceTracker) System() connector.System { return connector.Confluence }

func (confluenceTracker) Deployments() []connector.Deployment {
	return []connector.Deployment{connector.Cloud, connector.SelfHosted}
}

func (confluenceTracker) AuthModes(d connector.Deployment) []connector.AuthMode {
	if d == connector.Cloud {
		return []connector.AuthMode{connector.AuthBasic}
	}
	return []connector.AuthMode{connector.AuthBearer, connector.AuthBasic}
}

func (confluenceTracker) DefaultBaseURL(connector.Deployment) string { return "" }

func (confluenceTracker) RequiredScopes() []string { return nil }

// confluenceSpaceKey allows global keys and personal spaces ("~user"); it also
// keeps CQL quoting trivial.
var confluenceSpaceKey = regexp.MustCompile(`^~?[A-Za-z0-9_.@-]+$`)

func (confluenceTracker) ValidateConfig(c connector.Connector) error {
	for _, k := range c.SpaceKeys {
		if !confluenceSpaceKey.MatchString(k) {
			return fmt.Errorf("%w: %q is not a Confluence space key", ErrInvalidConfig, k)
		}
	}
	return nil
}

// confluenceAPI is the REST v1 prefix: Cloud serves it under /wiki (the user
// may or may not have typed /wiki in the base URL); Data Center under its
// context path.
func confluenceAPI(s *Session) string {
	if s.Connector.Deployment == connector.Cloud && !strings.HasSuffix(strings.TrimSuffix(s.BaseURL.Path, "/"), "/wiki") {
		return "wiki/rest/api"
	}
	return "rest/api"
}

// confluenceUser is the part of GET /rest/api/user/current the test reads.
type confluenceUser struct {
	Type        string `json:"type"` // known, anonymous, unknown, user
	AccountID   string `json:"accountId"`
	Email       string `json:"email"`
	PublicName  string `json:"publicName"`
	Username    string `json:"username"` // Data Center
	DisplayName string `json:"displayName"`
}

// confluenceSearch is the part of a CQL search page the test reads.
type confluenceSearch struct {
	Results []struct {
		EntityType string `json:"entityType"`
		Title      string `json:"title"`
		Space      *struct {
			Key  string `json:"key"`
			Name string `json:"name"`
		} `json:"space"`
	} `json:"results"`
	Size *int `json:"size"`
}

func (confluenceTracker) CheckIdentity(ctx context.Context, s *Session, r *TestResult) {
	api := confluenceAPI(s)
	var me confluenceUser
	err := getJSON(ctx, s, api+"/user/current", nil, &me)
	switch {
	case s.transportFailed():
		return
	case err != nil:
		r.fail(CheckIdentity, "%s", describeHTTPError(err, "current user"))
		return
	case me.Type == "anonymous":
		// Some instances answer a bad credential as the anonymous user.
		r.fail(CheckIdentity, "credential not recognised: the request ran as the anonymous user")
		return
	}
	r.Identity = confluenceIdentity(me)
	if r.Identity == "" {
		r.fail(CheckIdentity, "tracker sent a user without email, name or account id")
		return
	}
	r.pass(CheckIdentity, "authenticated as %s", r.Identity)

	if len(s.Connector.SpaceKeys) == 0 {
		r.pass(CheckSpace, "no space keys configured: search covers every space the account can see")
		return
	}
	for _, key := range s.Connector.SpaceKeys {
		// CQL search is in both Cloud's and Data Center's v1 API (Cloud dropped
		// GET /space/{key}); a space the account cannot see has no result.
		q := url.Values{
			"cql":   {fmt.Sprintf(`type = space AND space = "%s"`, key)},
			"limit": {"1"},
		}
		var page confluenceSearch
		err := getJSON(ctx, s, api+"/search", q, &page)
		switch {
		case s.transportFailed():
			return
		case err != nil:
			r.fail(CheckSpace, "%s", describeHTTPError(err, "space "+key))
		case page.Size == nil:
			r.fail(CheckSpace, "space %s: tracker sent a malformed response", key)
		case !hasSpace(page, key):
			r.fail(CheckSpace, "space %s not found or not visible to you", key)
		default:
			r.pass(CheckSpace, "space %s visible", key)
		}
	}
}

func hasSpace(p confluenceSearch, key string) bool {
	for _, res := range p.Results {
		if res.Space != nil && strings.EqualFold(res.Space.Key, key) {
			return true
		}
	}
	return false
}

func confluenceIdentity(u confluenceUser) string {
	switch {
	case u.Email != "":
		return u.Email
	case u.Username != "":
		return u.Username
	case u.AccountID != "":
		name := u.DisplayName
		if name == "" {
			name = u.PublicName
		}
		if name == "" {
			return u.AccountID
		}
		return fmt.Sprintf("%s (%s)", name, u.AccountID)
	}
	return ""
}
