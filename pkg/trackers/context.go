package trackers

import (
	"context"
	"time"
)

// Context sources (Jenkins, CircleCI, SonarQube, Argo CD) are read-only
// systems that describe the state around a ticket: the latest builds, the
// quality gate, the deployed application. A context connector names what it
// watches (jobs, a project slug, project keys, applications); the knowledge
// service reads each of them for the ticket connectors mapped to it and puts
// the reports in ticket.enriched's context section.

// ContextReader reads the current state of one watched scope (a Jenkins job,
// a CircleCI project slug, a SonarQube project key, an Argo CD application).
// An unknown scope is an error wrapping ErrTicketNotFound; a missing
// permission one wrapping ErrForbidden or ErrUnauthorized.
type ContextReader interface {
	ReadContext(ctx context.Context, s *Session, scope string) (ContextReport, error)
}

// ContextReport is one scope's state. A source fills the part it knows:
// CI systems Builds, SonarQube Quality, Argo CD Deployment.
type ContextReport struct {
	Scope      string // as named by the connector
	URL        string // the scope's page in the source's UI
	Builds     []Build
	Quality    *QualityGate
	Deployment *DeploymentState
}

// Build status values.
const (
	BuildSucceeded = "succeeded"
	BuildFailed    = "failed"
	BuildRunning   = "running"
	BuildCanceled  = "canceled"
	BuildUnknown   = "unknown"
)

// Build is one CI run (a Jenkins build, a CircleCI pipeline's workflow),
// newest first in ContextReport.Builds, on the default branch.
type Build struct {
	ID       string // build number or pipeline number
	Name     string // job or workflow name
	Status   string // one of the Build* values
	Branch   string
	Revision string // commit SHA
	URL      string
	Started  time.Time
	Finished time.Time // zero while running
	// FailingSteps names the failed jobs, stages or test cases, at most a few.
	FailingSteps []string
}

// Quality gate status values.
const (
	GateOK    = "ok"
	GateWarn  = "warn"
	GateError = "error"
	GateNone  = "none" // no gate computed yet
)

// QualityGate is a SonarQube project's gate and its new issues.
type QualityGate struct {
	Status string // one of the Gate* values
	// FailedConditions names the metrics that failed the gate.
	FailedConditions []string
	// NewIssues counts open issues in the new code period by severity
	// (blocker, critical, major, minor, info).
	NewIssues map[string]int
	// TopIssues are the few most severe new issues.
	TopIssues []QualityIssue
}

// QualityIssue is one code-quality finding.
type QualityIssue struct {
	Key       string
	Severity  string
	Type      string // bug, vulnerability, code_smell
	Message   string
	Component string // file path
	Line      int
	URL       string
}

// DeploymentState is an Argo CD application's state.
type DeploymentState struct {
	Health   string // Healthy, Progressing, Degraded, Suspended, Missing, Unknown
	Sync     string // Synced, OutOfSync, Unknown
	Revision string // last synced revision
	SyncedAt time.Time
	Message  string // the health or operation message, when there is one
}
