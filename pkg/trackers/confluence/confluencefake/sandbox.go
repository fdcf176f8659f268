package confluencefake

import (
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// The sandbox's Confluence (hub --sandbox): a Cloud site whose space
// SandboxSpace holds pages that match the sandbox tickets of the fake Jira,
// GitHub and GitLab, so enrichment finds something.
const (
	SandboxEmail = "sandbox-bot@example.com"
	SandboxToken = "sandbox-confluence-token"
	SandboxSpace = "ENG"
)

// NewSandbox returns a fake Confluence Cloud with the sandbox account, space
// and pages.
func NewSandbox() *Server {
	updated := time.Now().Add(-72 * time.Hour).UTC().Truncate(time.Second)
	pages := []Page{
		{ID: 101, Title: "Login troubleshooting: passwords with spaces", Body: "<p>Passwords may contain a <strong>space</strong>. The login form must not trim them; the API returns <code>HTTP 400: invalid credentials</code> when it does.</p>"},
		{ID: 102, Title: "Reporting guide: CSV and PDF export", Body: "<h2>CSV export</h2><p>Exports stream every row; a missing last row means the writer was not flushed.</p>"},
		{ID: 103, Title: "Widget editor theming", Body: "<p>The widget editor reads its colours from theme tokens; a dark theme overrides the base palette.</p>"},
		{ID: 104, Title: "Widget API reference", Body: "<p>One section per endpoint of the widget API, with request and response examples.</p>"},
		{ID: 105, Title: "Widget list: empty filter handling", Body: "<p>An empty input filter must list every widget instead of crashing.</p>"},
	}
	for i := range pages {
		pages[i].SpaceKey, pages[i].Updated, pages[i].AuthorID = SandboxSpace, updated, "5b10ac8d82e05b22cc7d4ef6"
	}
	return New(Options{
		Deployment: connector.Cloud,
		Users:      []User{{AccountID: "5b10ac8d82e05b22cc7d4ef6", Email: SandboxEmail, DisplayName: "Sandbox Bot", APIToken: SandboxToken}},
		Spaces:     []Space{{ID: 1, Key: SandboxSpace, Name: "Engineering"}},
		Pages:      pages,
	})
}
