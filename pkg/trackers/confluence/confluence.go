package confluence

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// Tracker talks to Confluence Cloud (REST v1 under /wiki, email +
// API token) and Confluence Data Center (REST under the context path, PAT
// bearer or user + password). Read-only.
//
// No Go library covers both Cloud and Data Center here (go-atlassian v2 is
// Cloud-only), so this is a small hand-written client over net/http.
type Tracker struct{}

var (
	_ trackers.Tracker         = Tracker{}
	_ trackers.IdentityChecker = Tracker{}
)

// New returns the Confluence tracker.
func New() Tracker { return Tracker{} }

// spaceKey is a global space key (letters and digits; underscores are kept
// for older sites) or a personal space: "~" and the user name (Data Center)
// or account id (Cloud, which may hold ':' and '-'). It also keeps CQL
// quoting trivial.
var spaceKey = regexp.MustCompile(`^(?:[A-Za-z0-9_]{1,255}|~[A-Za-z0-9_.@:-]{1,254})$`)

// Rules: Cloud takes an email and API token (basic); Data Center a PAT
// (bearer) or user and password. Every site has its own URL.
func (Tracker) Rules() connector.Rules {
	return connector.Rules{
		System:      connector.Confluence,
		Deployments: []connector.Deployment{connector.Cloud, connector.SelfHosted},
		AuthModes: map[connector.Deployment][]connector.AuthMode{
			connector.Cloud:      {connector.AuthBasic, connector.AuthOAuth2},
			connector.SelfHosted: {connector.AuthBearer, connector.AuthBasic},
		},
		EmailUsername: []connector.Deployment{connector.Cloud},
		SpaceKeys: &connector.KeyRule{
			Required: true,
			Pattern:  spaceKey,
			What:     "at least one space key",
			Invalid:  "must be a space key (letters and digits) or a personal space (~user)",
		},
		FullText: true,
		// Cloud OAuth 2.0 (3LO), the same grant as Jira's when one app asks
		// for both products' scopes.
		OAuthScopes: []string{"read:confluence-content.all", "read:confluence-space.summary", "search:confluence", "offline_access"},
	}
}

// confluenceAPI is the REST v1 prefix: Cloud serves it under /wiki (the user
// may or may not have typed /wiki in the base URL); Data Center under its
// context path.
func confluenceAPI(s *trackers.Session) string {
	if s.Connector.AuthMode == connector.AuthOAuth2 {
		// api.atlassian.com/ex/confluence/{cloudId}/wiki/rest/api, whatever the site URL says.
		return "wiki/rest/api"
	}
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

func (Tracker) CheckIdentity(ctx context.Context, s *trackers.Session, r *trackers.TestResult) {
	api := confluenceAPI(s)
	var me confluenceUser
	err := trackerhttp.GetJSON(ctx, s, api+"/user/current", nil, &me, confluenceMessages)
	switch {
	case s.TransportFailed():
		return
	case err != nil:
		r.Fail(trackers.CheckIdentity, "%s", trackerhttp.DescribeHTTPError(err, "current user"))
		return
	case me.Type == "anonymous":
		// Some instances answer a bad credential as the anonymous user.
		r.Fail(trackers.CheckIdentity, "credential not recognised: the request ran as the anonymous user")
		return
	}
	r.Identity = confluenceIdentity(me)
	if r.Identity == "" {
		r.Fail(trackers.CheckIdentity, "tracker sent a user without email, name or account id")
		return
	}
	r.Pass(trackers.CheckIdentity, "authenticated as %s", r.Identity)

	if len(s.Connector.SpaceKeys) == 0 {
		r.Pass(trackers.CheckSpace, "no space keys configured: search covers every space the account can see")
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
		err := trackerhttp.GetJSON(ctx, s, api+"/search", q, &page, confluenceMessages)
		switch {
		case s.TransportFailed():
			return
		case err != nil:
			r.Fail(trackers.CheckSpace, "%s", trackerhttp.DescribeHTTPError(err, "space "+key))
		case page.Size == nil:
			r.Fail(trackers.CheckSpace, "space %s: tracker sent a malformed response", key)
		case !hasSpace(page, key):
			r.Fail(trackers.CheckSpace, "space %s not found or not visible to you", key)
		default:
			r.Pass(trackers.CheckSpace, "space %s visible", key)
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

// confluenceMessages reads Confluence's error body {"statusCode":…,"message":…}.
func confluenceMessages(body []byte) []string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return nil
	}
	return []string{e.Message}
}
