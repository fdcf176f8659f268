package trackers

import (
	"errors"
	"time"
)

// Errors the frameworks act on, for errors.Is.
var (
	// ErrTicketNotFound: the ticket does not exist or is not visible.
	ErrTicketNotFound = errors.New("ticket not found")
	// ErrUnknownStatus: no transition or status label matches the requested status.
	ErrUnknownStatus = errors.New("no such status")
	// ErrMalformedResponse: the tracker answered with a body that does not parse
	// or lacks required fields. It is reported on the connector, never a crash.
	ErrMalformedResponse = errors.New("malformed tracker response")
	// ErrUnauthorized: the credential was rejected (401/403). Retrying will not help.
	ErrUnauthorized = errors.New("tracker rejected the credential")
	// ErrTransient: a 5xx answer, a timeout or a dropped connection. The
	// frameworks retry it with exponential backoff and jitter.
	ErrTransient = errors.New("transient tracker failure")
)

// RateLimitError says the tracker asked us to wait (429, or 403 with
// X-RateLimit-Remaining: 0, or a secondary limit). The poller defers the
// connector until RetryAfter has passed instead of retrying at once.
type RateLimitError struct {
	RetryAfter time.Duration
	// Reason is the tracker's reason when it gives one (Jira's RateLimit-Reason,
	// GitHub "secondary rate limit").
	Reason string
}

func (e *RateLimitError) Error() string {
	msg := "tracker rate limit: retry after " + e.RetryAfter.String()
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// User is an account on a tracker.
type User struct {
	ID          string // Jira accountId, GitHub/GitLab numeric id
	Login       string // user name: DC/GitHub/GitLab mentions
	DisplayName string
	Email       string
}

// TicketLink names a related ticket (parent, sub-task).
type TicketLink struct {
	Key, URL, Summary, Status string
}

// Comment is one comment on a ticket.
type Comment struct {
	ID       string
	Author   User
	Markdown string
	Created  time.Time
}

// Attachment is the metadata of one attachment (never its content).
type Attachment struct {
	ID, Filename, MediaType, URL string
	Size                         int64
}

// Ticket is a tracker issue as the frameworks see it, the same for every system.
type Ticket struct {
	// Key: "PROJ-12" on Jira, "12" (the issue number) on GitHub and GitLab.
	Key                 string
	URL                 string
	Summary             string
	DescriptionText     string
	DescriptionMarkdown string
	Status              string
	Priority            string
	Labels              []string
	Reporter            User
	Assignee            User
	Created, Updated    time.Time
	Parent              *TicketLink
	Subtasks            []TicketLink
	// Siblings are the parent's other sub-tasks, when the ticket is a sub-task.
	Siblings    []TicketLink
	Components  []string
	Comments    []Comment
	Attachments []Attachment
}

// Link points at something a writeback step created or changed.
type Link struct {
	Kind string // "status", "comment", "subtask", "pull_request"
	URL  string
	Key  string
}
