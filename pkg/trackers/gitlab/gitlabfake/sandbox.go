package gitlabfake

import "time"

// Sandbox values: the account, token and project SandboxOptions seeds, for
// `hub --sandbox` and demos.
const (
	SandboxUser    = "agent"
	SandboxToken   = "glpat-sandbox-token"
	SandboxProject = "acme/platform/widgets"
)

// SandboxOptions seeds a small GitLab: the SandboxUser with an api token, a
// reporter, the SandboxProject (id 42) and a few issues, some assigned to the
// agent (one with a status label and a comment), one assigned to someone
// else and one closed.
func SandboxOptions() Options {
	now := time.Now().UTC()
	return Options{
		Users: []User{
			{ID: 1, Username: SandboxUser, Name: "Sandbox Agent", Email: "agent@example.com"},
			{ID: 2, Username: "rita", Name: "Rita Reporter", Email: "rita@example.com"},
		},
		Tokens: []Token{{ID: 1, Name: "connectorhub", Value: SandboxToken, Username: SandboxUser, Scopes: []string{"api"}, ExpiresAt: now.AddDate(0, 6, 0)}},
		Projects: []Project{{
			ID: 42, Path: SandboxProject, Name: "Widgets",
			// Maintainer: the sandbox connector creates its project hook.
			Members: map[string]int{SandboxUser: Maintainer, "rita": Reporter},
		}},
		Issues: []Issue{
			{Title: "Widget list crashes on empty input", Description: "Steps:\n\n1. Open `/widgets`\n2. Clear the filter\n\nThe page **crashes**.", Labels: []string{"bug", "agent"}, Author: "rita", Assignees: []string{SandboxUser}, Created: now.Add(-72 * time.Hour), Updated: now.Add(-3 * time.Hour)},
			{Title: "Add CSV export", Description: "Export the widget table as CSV.", Labels: []string{"feature", "agent", "In Progress"}, Author: "rita", Assignees: []string{SandboxUser}, Created: now.Add(-48 * time.Hour), Updated: now.Add(-2 * time.Hour)},
			{Title: "Document the widget API", Description: "A page per endpoint.", Labels: []string{"docs"}, Author: "rita", Assignees: []string{SandboxUser}, Created: now.Add(-24 * time.Hour), Updated: now.Add(-time.Hour)},
			{Title: "Rita's own task", Description: "Not for the agent.", Author: "rita", Assignees: []string{"rita"}, Created: now.Add(-24 * time.Hour)},
			{Title: "Old closed bug", Description: "Fixed long ago.", Author: "rita", Assignees: []string{SandboxUser}, State: "closed", Created: now.Add(-240 * time.Hour), Updated: now.Add(-200 * time.Hour)},
		},
	}
}

// NewSandbox returns a fake seeded with SandboxOptions, with a comment from
// the reporter on the first issue.
func NewSandbox() *Server {
	s := New(SandboxOptions())
	s.AddNote(1, "rita", "It also happens with a single space in the filter.")
	return s
}
