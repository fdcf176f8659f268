package atlassianfake

import (
	"net/http"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers/jira/jirafake"
)

// The sandbox's OAuth 2.0 (3LO) app and site: `hub --sandbox` registers a
// Jira Cloud oauth2 connector against them and stores a refresh token the
// fake issued (its consent step, automated for the sandbox only).
const (
	SandboxClientID     = "sandbox-oauth-app"
	SandboxClientSecret = "sandbox-oauth-client-secret"
	SandboxCloudID      = "5a3d0e0c-5a9d-4b7e-9d3e-5a9d0b0c5a9d"
)

// NewSandbox returns the fake with the sandbox app and one site at siteURL
// (the URL the fake itself is served on, which the connector names as its
// base URL) whose Jira is a sandbox Jira Cloud fake (project DEMO, tickets
// assigned to jirafake.SandboxEmail), consent given by that account.
func NewSandbox(siteURL string) *Server {
	return New(Options{
		Apps:    []App{{ClientID: SandboxClientID, ClientSecret: SandboxClientSecret}},
		Sites:   []Site{{ID: SandboxCloudID, Name: "sandbox", URL: siteURL, Jira: jirafake.NewSandbox(connector.Cloud)}},
		Consent: jirafake.SandboxEmail,
	})
}

// SandboxGrant is the refresh token the sandbox pastes for its connector:
// a grant of the sandbox app for the sandbox account.
func (s *Server) SandboxGrant() string { return s.Grant(SandboxClientID, jirafake.SandboxEmail) }

var _ http.Handler = (*Server)(nil)
