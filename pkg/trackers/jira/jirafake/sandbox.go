package jirafake

import (
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// The sandbox's account and project (hub --sandbox). On Cloud a connector
// authenticates with basic auth SandboxEmail + SandboxToken; on Data Center
// with the bearer PAT SandboxToken (username SandboxLogin). Project
// SandboxProject holds the seeded tickets.
const (
	SandboxAccountID = "5b10ac8d82e05b22cc7d4ef5"
	SandboxLogin     = "sandbox-bot"
	SandboxEmail     = "sandbox-bot@example.com"
	SandboxToken     = "sandbox-jira-token"
	SandboxProject   = "DEMO"
	// SandboxTimeZone is the sandbox account's zone: not UTC, so the
	// sandbox exercises the timezone-safe cursor.
	SandboxTimeZone = "Pacific/Auckland"
)

// NewSandbox returns a fake of the given deployment holding the sandbox
// account, a reporter, project SandboxProject, and the tickets Seed files.
func NewSandbox(d connector.Deployment) *Server {
	s := New(Options{
		Deployment: d,
		Users: []User{
			{AccountID: SandboxAccountID, Name: SandboxLogin, Email: SandboxEmail, DisplayName: "Sandbox Bot", APIToken: SandboxToken, TimeZone: SandboxTimeZone},
			{AccountID: "5b10a2844c20165700ede21g", Name: "rita", Email: "rita@example.com", DisplayName: "Rita Reporter", TimeZone: "Europe/Berlin"},
		},
		Projects: []Project{{ID: "10100", Key: SandboxProject, Name: "Sandbox demo"}},
	})
	s.Seed(SandboxEmail, time.Now())
	return s
}

// Seed files sample tickets in the first project: three assigned to
// assignee (a user reference), one of them with two sub-tasks (the first
// also assigned to assignee), plus one assigned to nobody and one already
// done, which discovery must skip. The reporter is the second user when
// there is one. It returns the keys of the open tickets assigned to
// assignee, in update order.
func (s *Server) Seed(assignee string, now time.Time) []string {
	s.lock()
	reporter := ""
	if len(s.users) > 1 {
		reporter = s.userRef(s.users[1])
	}
	s.mu.Unlock()
	at := func(minutesAgo int) time.Time { return now.Add(-time.Duration(minutesAgo) * time.Minute) }
	login := s.AddTicket(Ticket{
		Summary:     "Login page rejects passwords with a space",
		Description: "Users whose password contains a **space** cannot log in.\n\nSteps:\n\n1. Set a password with a space\n2. Log out and log in again\n\n```\nHTTP 400: invalid credentials\n```",
		Priority:    "High", Labels: []string{"bug", "agent"}, Components: []string{"authentication"}, Reporter: reporter, Assignee: assignee, Created: at(90), Updated: at(30),
	})
	export := s.AddTicket(Ticket{
		Summary:     "Export reports as CSV",
		Description: "Add a *CSV* export next to the PDF one. See the [reporting guide](https://example.com/guide).",
		Labels:      []string{"feature", "agent"}, Reporter: reporter, Assignee: assignee, Created: at(80), Updated: at(25),
	})
	writer := s.AddTicket(Ticket{Summary: "Write the CSV writer", Parent: export, Reporter: reporter, Assignee: assignee, Created: at(79), Updated: at(24)})
	s.AddTicket(Ticket{Summary: "Add the export button", Parent: export, Reporter: reporter, Created: at(78), Updated: at(23)})
	docs := s.AddTicket(Ticket{
		Summary:     "Document the API rate limits",
		Description: "The README should say how many requests a client may send and what a 429 means.",
		Priority:    "Low", Labels: []string{"docs"}, Reporter: reporter, Assignee: assignee, Created: at(60), Updated: at(10),
	})
	s.AddTicket(Ticket{Summary: "Nobody's ticket", Description: "Not for the bot.", Reporter: reporter, Created: at(50), Updated: at(5)})
	s.AddTicket(Ticket{Summary: "Already shipped", Status: "Done", Reporter: reporter, Assignee: assignee, Created: at(200), Updated: at(100)})
	return []string{login, export, writer, docs}
}
