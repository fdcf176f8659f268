package azuredevopsfake

import "time"

// Sandbox values: the organization, project, PAT and account NewSandbox
// seeds, for `hub --sandbox` and demos.
const (
	SandboxOrganization = "acme"
	SandboxProject      = "Widgets"
	SandboxPAT          = "azdo-sandbox-pat"
	SandboxUser         = "agent@acme.example"
)

// SandboxOptions is a small organization with the SandboxUser, a reporter
// and the SandboxProject (whose repository's default branch is main).
func SandboxOptions() Options {
	return Options{
		Organization: SandboxOrganization, Project: SandboxProject, PAT: SandboxPAT, Me: SandboxUser,
		Users: []User{
			{ID: "6b1e0f4a-0000-4000-8000-000000000001", UniqueName: SandboxUser, DisplayName: "Sandbox Agent"},
			{ID: "6b1e0f4a-0000-4000-8000-000000000002", UniqueName: "rita@acme.example", DisplayName: "Rita Reporter"},
		},
	}
}

// NewSandbox returns a fake seeded with SandboxOptions and a few work items:
// three assigned to the agent (a Bug commented on just now, one Active), one
// assigned to the reporter and one Closed; and one active pull request by
// the reporter with the agent as reviewer.
func NewSandbox() *Server {
	s := New(SandboxOptions())
	now := time.Now().UTC().Truncate(time.Millisecond)
	first := s.AddWorkItem(WorkItem{Type: "Bug", Title: "Widget grid loses its sort order", Description: "Steps:\n\n1. Sort by name\n2. Reload\n\nThe order is **lost**.",
		Tags: []string{"agent", "bug"}, AssignedTo: SandboxUser, CreatedBy: "rita@acme.example", Created: now.Add(-72 * time.Hour), Changed: now.Add(-3 * time.Hour)})
	s.AddWorkItem(WorkItem{Title: "Add a dark theme", Description: "Follow the OS setting.", Tags: []string{"agent", "feature"}, State: "Active",
		AssignedTo: SandboxUser, CreatedBy: "rita@acme.example", Created: now.Add(-48 * time.Hour), Changed: now.Add(-2 * time.Hour)})
	s.AddWorkItem(WorkItem{Title: "Document the widget API", Description: "A page per endpoint.", Tags: []string{"docs"},
		AssignedTo: SandboxUser, CreatedBy: "rita@acme.example", Created: now.Add(-24 * time.Hour), Changed: now.Add(-time.Hour)})
	s.AddWorkItem(WorkItem{Title: "Rita's own task", Description: "Not for the agent.", AssignedTo: "rita@acme.example", CreatedBy: "rita@acme.example"})
	s.AddWorkItem(WorkItem{Title: "Old closed story", Description: "Done long ago.", State: "Closed", AssignedTo: SandboxUser,
		CreatedBy: "rita@acme.example", Created: now.Add(-240 * time.Hour), Changed: now.Add(-200 * time.Hour)})
	// A pull request the agent is asked to review (a review ticket when
	// the connector sets review_pull_requests).
	s.AddPullRequest(PullRequest{Source: "refs/heads/rita/sort-order", Title: "Keep the grid's sort order on reload",
		Description: "Stores the sort in the URL.", Reviewers: []string{SandboxUser}, CreatedBy: "rita@acme.example", Created: now.Add(-5 * time.Hour)})
	// A comment is a revision: the work item's System.ChangedDate moves to now.
	s.Edit(first, now, func(w *WorkItem) {
		w.Comments = append(w.Comments, Comment{ID: 1000, Text: "Also after a page change.", Format: "markdown", By: "rita@acme.example", At: now})
	})
	return s
}
