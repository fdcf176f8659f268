package circlecifake

import "time"

// Sandbox values for `hub --sandbox`.
const (
	SandboxToken = "CCIPAT_sandbox_circleci_token"
	// SandboxProject (the sandbox GitHub repository sandbox/widgets): its last
	// two pipelines on main failed in checkout_test.
	SandboxProject = "gh/sandbox/widgets"
)

// SeedFailingMain records, on slug, a green pipeline on main, then two
// red ones whose test workflow fails in checkout_test, and a green one on
// a feature branch.
func (s *Server) SeedFailingMain(slug string, now time.Time) {
	green := []Workflow{{Name: "build-and-test", Status: "success", Jobs: []Job{{Name: "build", Status: "success"}, {Name: "checkout_test", Status: "success"}}}}
	red := []Workflow{{Name: "build-and-test", Status: "failed", Jobs: []Job{{Name: "build", Status: "success"}, {Name: "checkout_test", Status: "failed"}, {Name: "deploy", Status: "blocked"}}}}
	s.AddPipeline(slug, Pipeline{Branch: "main", Revision: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", Created: now.Add(-72 * time.Hour), Workflows: green})
	s.AddPipeline(slug, Pipeline{Branch: "main", Revision: "9f3c2a1b7d4e5f60718293a4b5c6d7e8f9012345", Created: now.Add(-48 * time.Hour), Workflows: red})
	s.AddPipeline(slug, Pipeline{Branch: "main", Revision: "c0ffee1b7d4e5f60718293a4b5c6d7e8f9012345", Created: now.Add(-2 * time.Hour), Workflows: red})
	s.AddPipeline(slug, Pipeline{Branch: "feature/retry", Revision: "beef001b7d4e5f60718293a4b5c6d7e8f9012345", Created: now.Add(-time.Hour), Workflows: green})
}

// NewSandbox returns a fake with SandboxProject seeded by SeedFailingMain.
func NewSandbox() *Server {
	s := New(Options{Tokens: []Token{{Value: SandboxToken, Login: "connectorhub"}}})
	s.SeedFailingMain(SandboxProject, time.Now().UTC().Truncate(time.Second))
	return s
}
