package argocdfake

import "time"

// Sandbox values for `hub --sandbox`: the token and the applications it
// seeds.
const (
	SandboxToken = "argocd-sandbox-token"
	// SandboxDegradedApp (deploys the sandbox GitHub repository
	// sandbox/widgets) is Degraded since a sync an hour ago.
	SandboxDegradedApp = "widgets"
	SandboxHealthyApp  = "storefront"
)

// SandboxOptions seeds a degraded and a healthy application.
func SandboxOptions() Options {
	now := time.Now().UTC().Truncate(time.Second)
	return Options{
		Tokens: []Token{{Value: SandboxToken, Username: "connectorhub"}},
		Apps: []App{
			{Name: SandboxDegradedApp, Health: "Degraded", HealthMessage: "Deployment widgets: 0/3 replicas available (CrashLoopBackOff)", Sync: "Synced", Revision: "9f3c2a1b7d4e5f60718293a4b5c6d7e8f9012345", SyncedAt: now.Add(-time.Hour)},
			{Name: SandboxHealthyApp, Health: "Healthy", Sync: "Synced", Revision: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", SyncedAt: now.Add(-26 * time.Hour)},
		},
	}
}

// NewSandbox returns a fake seeded with SandboxOptions.
func NewSandbox() *Server { return New(SandboxOptions()) }
