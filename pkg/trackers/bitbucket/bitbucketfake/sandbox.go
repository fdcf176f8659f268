package bitbucketfake

import "time"

// Sandbox values: the account, token and repository SandboxOptions seeds, for
// `hub --sandbox` and demos. The API root is the fake's URL + "/2.0".
const (
	SandboxEmail = "agent@example.com"
	SandboxToken = "ATATT-sandbox-bitbucket-token"
	SandboxRepo  = "acme/widgets"
	SandboxUUID  = "{5a0d0e8a-0000-4000-8000-000000000001}"
)

// SandboxOptions seeds a small Bitbucket Cloud: the agent with an API
// token, a reporter, SandboxRepo with its issue tracker on, a few issues
// (two open and assigned to the agent, one someone else's, one resolved)
// and a pull request where the agent is a reviewer.
func SandboxOptions() Options {
	now := time.Now().UTC().Truncate(time.Second)
	const rita = "{5a0d0e8a-0000-4000-8000-000000000002}"
	return Options{
		Accounts: []Account{
			{UUID: SandboxUUID, Name: "Sandbox Agent", Nickname: "agent", Email: SandboxEmail, Token: SandboxToken, AccountID: "557058:sandbox-agent"},
			{UUID: rita, Name: "Rita Reporter", Nickname: "rita", Email: "rita@example.com", Token: "rita-token", AccountID: "557058:rita"},
		},
		Repos: []Repo{{FullName: SandboxRepo}},
		Issues: []Issue{
			{Repo: SandboxRepo, Title: "Widget search ignores accents", Content: "Searching `creme` does not find **Crème**.", Kind: "bug", Reporter: rita, Assignee: SandboxUUID, Created: now.Add(-48 * time.Hour), Updated: now.Add(-2 * time.Hour)},
			{Repo: SandboxRepo, Title: "Add a dark theme", Content: "Follow the design tokens.", Kind: "enhancement", State: "open", Reporter: rita, Assignee: SandboxUUID, Created: now.Add(-24 * time.Hour), Updated: now.Add(-time.Hour)},
			{Repo: SandboxRepo, Title: "Rita's own task", Content: "Not for the agent.", Reporter: rita, Assignee: rita, Created: now.Add(-time.Hour)},
			{Repo: SandboxRepo, Title: "Old resolved bug", Content: "Fixed long ago.", State: "resolved", Reporter: rita, Assignee: SandboxUUID, Created: now.Add(-240 * time.Hour), Updated: now.Add(-200 * time.Hour)},
		},
		PRs: []PullRequest{{Repo: SandboxRepo, Title: "Cache widget thumbnails", Source: "feature/thumbnails", Description: "Please review.", Author: rita, Reviewers: []string{SandboxUUID}, Created: now.Add(-3 * time.Hour), Updated: now.Add(-3 * time.Hour)}},
	}
}

// NewSandbox returns a fake seeded with SandboxOptions, with a comment from
// the reporter on the first issue.
func NewSandbox() *Server {
	s := New(SandboxOptions())
	s.AddComment(1, "{5a0d0e8a-0000-4000-8000-000000000002}", "Same with `über`.")
	return s
}
