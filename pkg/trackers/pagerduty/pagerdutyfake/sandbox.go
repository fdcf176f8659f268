package pagerdutyfake

import "time"

// Sandbox values: the user, key and email SandboxOptions seeds, for
// `hub --sandbox` and demos.
const (
	SandboxUserID = "PAGENT1"
	SandboxEmail  = "agent@example.com"
	SandboxKey    = "u+sandbox-pagerduty-key"
)

// SandboxOptions seeds a small PagerDuty: the agent with a user API key, a
// second responder, two services and a few incidents: two open ones
// assigned to the agent (one acknowledged), one assigned to someone else
// and one resolved.
func SandboxOptions() Options {
	now := time.Now().UTC().Truncate(time.Second)
	return Options{
		Users: []User{
			{ID: SandboxUserID, Name: "Sandbox Agent", Email: SandboxEmail},
			{ID: "PRITA01", Name: "Rita Responder", Email: "rita@example.com"},
		},
		Keys:     []Key{{Value: SandboxKey, UserID: SandboxUserID}},
		Services: []Service{{ID: "PSVC001", Name: "Checkout API"}, {ID: "PSVC002", Name: "Widget Store"}},
		Incidents: []Incident{
			{Title: "Checkout API p99 latency above 2s", Details: "Alert: p99 latency 2.4s for 10 minutes on checkout-api.", ServiceID: "PSVC001", Assignees: []string{SandboxUserID}, Created: now.Add(-3 * time.Hour), Updated: now.Add(-2 * time.Hour)},
			{Title: "Widget Store 5xx rate 4%", Details: "Error budget burn: 5xx above 2% for 15 minutes.", ServiceID: "PSVC002", Assignees: []string{SandboxUserID}, Status: "acknowledged", Created: now.Add(-5 * time.Hour), Updated: now.Add(-time.Hour)},
			{Title: "Rita's page", Details: "Not for the agent.", ServiceID: "PSVC002", Assignees: []string{"PRITA01"}, Created: now.Add(-time.Hour)},
			{Title: "Old resolved incident", Details: "Fixed long ago.", ServiceID: "PSVC001", Assignees: []string{SandboxUserID}, Status: "resolved", Created: now.Add(-240 * time.Hour), Updated: now.Add(-200 * time.Hour)},
		},
	}
}

// NewSandbox returns a fake seeded with SandboxOptions, with a note from
// the other responder on the first incident.
func NewSandbox() *Server {
	s := New(SandboxOptions())
	s.AddNote("PINC0001", "PRITA01", "Started after the 14:00 deploy.")
	return s
}
