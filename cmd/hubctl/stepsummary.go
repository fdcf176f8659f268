package main

import (
	"strings"

	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// stepsSummary groups a writeback event's steps by outcome, in step order:
// "applied: comment, subtask-0; failed: status". Empty when the event lists
// no steps (events from before steps were listed).
func stepsSummary(steps []*pb.WritebackStep) string {
	var order []string
	byOutcome := map[string][]string{}
	for _, s := range steps {
		o := strings.ReplaceAll(s.GetOutcome(), "_", " ")
		if _, seen := byOutcome[o]; !seen {
			order = append(order, o)
		}
		byOutcome[o] = append(byOutcome[o], s.GetName())
	}
	parts := make([]string, 0, len(order))
	for _, o := range order {
		parts = append(parts, o+": "+strings.Join(byOutcome[o], ", "))
	}
	return strings.Join(parts, "; ")
}
