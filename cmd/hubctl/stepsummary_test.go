package main

import (
	"testing"

	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

func TestStepsSummaryGroupsStepsByOutcome(t *testing.T) {
	t.Parallel()
	steps := []*pb.WritebackStep{
		{Name: "status", Outcome: "failed", Reason: "unknown status"},
		{Name: "comment", Outcome: "applied"},
		{Name: "subtask-0", Outcome: "applied"},
		{Name: "pull_request", Outcome: "not_attempted"},
	}
	if got, want := stepsSummary(steps), "failed: status; applied: comment, subtask-0; not attempted: pull_request"; got != want {
		t.Errorf("stepsSummary = %q, want %q", got, want)
	}
	if got := stepsSummary(nil); got != "" {
		t.Errorf("no steps: %q", got)
	}
}
