package sonarqubefake

// Sandbox values for `hub --sandbox`.
const (
	SandboxToken = "squ_sandboxSonarQubeToken"
	// SandboxRedProject (the sandbox GitHub repository sandbox/widgets) has a
	// red gate and three new bugs.
	SandboxRedProject   = "sandbox_widgets"
	SandboxGreenProject = "acme_storefront"
)

// RedGate is a failed gate with three new bugs (one blocker, two critical)
// and a new code smell, the state the sandbox seeds for SandboxRedProject.
func RedGate(key string) Project {
	return Project{
		Key: key, Gate: "ERROR",
		Conditions: []Condition{
			{Metric: "new_reliability_rating", Status: "ERROR", Comparator: "GT", Threshold: "1", Actual: "5"},
			{Metric: "new_coverage", Status: "ERROR", Comparator: "LT", Threshold: "80", Actual: "61.4"},
			{Metric: "new_duplicated_lines_density", Status: "OK", Comparator: "GT", Threshold: "3", Actual: "0.8"},
		},
		Issues: []Issue{
			{Key: "AY-checkout-1", Severity: "BLOCKER", Type: "BUG", Message: "Nil dereference of \"cart\" when the session expired", Path: "internal/checkout/handler.go", Line: 142, NewCode: true},
			{Key: "AY-checkout-2", Severity: "CRITICAL", Type: "BUG", Message: "Error returned by tx.Commit is not checked", Path: "internal/checkout/order.go", Line: 88, NewCode: true},
			{Key: "AY-checkout-3", Severity: "CRITICAL", Type: "BUG", Message: "Integer overflow converting the amount to cents", Path: "internal/checkout/money.go", Line: 23, NewCode: true},
			{Key: "AY-checkout-4", Severity: "MINOR", Type: "CODE_SMELL", Message: "Rename this local variable to match the regular expression", Path: "internal/checkout/handler.go", Line: 97, NewCode: true},
			{Key: "AY-checkout-5", Severity: "MAJOR", Type: "CODE_SMELL", Message: "Old issue outside the new code period", Path: "internal/legacy.go", Line: 10},
		},
	}
}

// SandboxOptions seeds a red and a green project.
func SandboxOptions() Options {
	return Options{
		Tokens: []Token{{Value: SandboxToken}},
		Projects: []Project{
			RedGate(SandboxRedProject),
			{Key: SandboxGreenProject, Gate: "OK", Conditions: []Condition{{Metric: "new_coverage", Status: "OK", Comparator: "LT", Threshold: "80", Actual: "91.0"}}},
		},
	}
}

// NewSandbox returns a fake seeded with SandboxOptions.
func NewSandbox() *Server { return New(SandboxOptions()) }
