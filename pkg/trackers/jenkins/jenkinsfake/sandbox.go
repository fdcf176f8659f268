package jenkinsfake

import "time"

// Sandbox values for `hub --sandbox`.
const (
	SandboxUser  = "connectorhub"
	SandboxToken = "11sandboxjenkinsapitoken"
	// SandboxFailingJob (builds the sandbox GitHub repository
	// sandbox/widgets): its last two builds failed.
	SandboxFailingJob = "widgets/main"
	SandboxGreenJob   = "storefront/main"
)

// SeedFailingJob records on path a green build, then two failed ones.
func (s *Server) SeedFailingJob(path string, now time.Time) {
	s.AddBuild(path, Build{Result: "SUCCESS", Started: now.Add(-72 * time.Hour), Duration: 4 * time.Minute, Commit: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"})
	s.AddBuild(path, Build{Result: "FAILURE", Started: now.Add(-48 * time.Hour), Duration: 3 * time.Minute, Commit: "9f3c2a1b7d4e5f60718293a4b5c6d7e8f9012345"})
	s.AddBuild(path, Build{Result: "FAILURE", Started: now.Add(-2 * time.Hour), Duration: 3 * time.Minute, Commit: "c0ffee1b7d4e5f60718293a4b5c6d7e8f9012345"})
}

// NewSandbox returns a fake with a failing and a green job.
func NewSandbox() *Server {
	s := New(Options{Users: []User{{ID: SandboxUser, FullName: "connectorhub", Token: SandboxToken}}})
	now := time.Now().UTC().Truncate(time.Second)
	s.SeedFailingJob(SandboxFailingJob, now)
	s.AddBuild(SandboxGreenJob, Build{Result: "SUCCESS", Started: now.Add(-5 * time.Hour), Duration: 2 * time.Minute})
	return s
}
