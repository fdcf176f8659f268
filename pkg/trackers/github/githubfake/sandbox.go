package githubfake

import "time"

// The sandbox's account and repository (hub --sandbox): a connector with
// Project SandboxRepo, bearer token SandboxToken, and (optionally) assignee
// SandboxLogin discovers the seeded issues.
const (
	SandboxLogin = "sandbox-bot"
	SandboxToken = "ghp_sandbox0000000000000000000000000000"
	SandboxRepo  = "sandbox/widgets"
)

// NewSandbox returns a fake holding the sandbox account (a classic token with
// the repo scope, write access to SandboxRepo) and a few open issues
// assigned to it, plus one assigned to someone else and a pull request that
// discovery must skip.
func NewSandbox() *Server {
	s := New(Options{
		Users: []User{
			{ID: 41, Login: SandboxLogin, Name: "Sandbox Bot"},
			{ID: 42, Login: "rita", Name: "Rita Reporter"},
		},
		Tokens: []Token{{Value: SandboxToken, Login: SandboxLogin, Scopes: []string{"repo"}}},
		Repos: []Repo{{
			ID: 4242, Owner: "sandbox", Name: "widgets", Private: true,
			// Admin: the sandbox connector creates its repository hook.
			Collaborators: map[string]Role{SandboxLogin: Admin, "rita": Maintain},
		}},
	})
	SeedSandbox(s, time.Now())
	return s
}

// SeedSandbox files the sandbox issues in s (which must hold SandboxRepo),
// updated a few minutes before now, oldest first.
func SeedSandbox(s *Server, now time.Time) {
	at := func(minutesAgo int) time.Time { return now.Add(-time.Duration(minutesAgo) * time.Minute) }
	seeds := []Issue{
		{Title: "Widget export drops the last row", Body: "Exporting a widget table to CSV loses the **last row**.\n\nSteps:\n1. Create 3 rows\n2. Export", Labels: []string{"bug"}, Assignees: []string{SandboxLogin}, Author: "rita", Updated: at(30)},
		{Title: "Add a dark theme to the widget editor", Body: "Users ask for a dark theme. See the design notes in the wiki.", Labels: []string{"enhancement"}, Assignees: []string{SandboxLogin}, Author: "rita", Updated: at(20)},
		{Title: "Document the widget API rate limits", Body: "The README should say how many requests a client may send.", Labels: []string{"docs"}, Assignees: []string{SandboxLogin}, Author: "rita", Updated: at(10)},
		{Title: "Someone else's widget task", Body: "Not for the bot.", Assignees: []string{"rita"}, Author: "rita", Updated: at(5)},
		{Title: "Refactor widget storage", Body: "A pull request: discovery skips it.", Assignees: []string{SandboxLogin}, Author: "rita", Updated: at(3),
			PullRequest: &PullRequest{Head: "refactor-storage", Base: "main"}},
	}
	for _, is := range seeds {
		s.AddIssue(SandboxRepo, is)
	}
}
