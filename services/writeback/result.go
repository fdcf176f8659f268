package writeback

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// result is what an agent asks to write back to one ticket: the domain
// value of a result.ready event, which the step runner works on.
type result struct {
	ID          string
	ConnectorID string
	// System is the system the result names; "" when it names none (or
	// one this build does not know).
	System    connector.System
	TicketKey string
	// BaseTime is the ticket's update time the agent worked from; a later
	// change is a conflict. Zero: no conflict check.
	BaseTime        time.Time
	TargetStatus    string
	CommentMarkdown string
	MentionReporter bool
	Subtasks        []subtaskSpec
	PullRequest     *pullRequestSpec
	// Payload is the event as received (protobuf JSON), kept in the ledger
	// for replay and carried by writeback.failed.
	Payload []byte
}

type subtaskSpec struct {
	Summary             string
	DescriptionMarkdown string
}

type pullRequestSpec struct {
	HeadBranch   string
	BaseBranch   string
	Title        string
	BodyMarkdown string
}

// Step names, as the ledger records them and the writeback events list them.
const (
	stepStatus      = "status"
	stepComment     = "comment"
	stepSubtask     = "subtask-" // + the sub-task's index in the result
	stepPullRequest = "pull_request"
)

func subtaskStep(i int) string { return stepSubtask + strconv.Itoa(i) }

// stepNames lists the steps of r in the order they run (see work.run for
// what each depends on).
func (r result) stepNames() []string {
	var names []string
	if r.TargetStatus != "" {
		names = append(names, stepStatus)
	}
	if r.CommentMarkdown != "" || r.MentionReporter {
		names = append(names, stepComment)
	}
	for i := range r.Subtasks {
		names = append(names, subtaskStep(i))
	}
	if r.PullRequest != nil {
		names = append(names, stepPullRequest)
	}
	return names
}

// validate says why a result cannot be written back at all.
func (r result) validate() error {
	var missing []string
	if r.ID == "" {
		missing = append(missing, "result_id")
	}
	if r.ConnectorID == "" {
		missing = append(missing, "connector_id")
	}
	if r.TicketKey == "" {
		missing = append(missing, "ticket_key")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if r.TargetStatus == "" && r.CommentMarkdown == "" && len(r.Subtasks) == 0 && r.PullRequest == nil && !r.MentionReporter {
		return errors.New("nothing to write back (no status, comment, sub-task or pull request)")
	}
	if r.PullRequest != nil && r.PullRequest.HeadBranch == "" {
		return errors.New("pull_request.head_branch is required")
	}
	return nil
}
