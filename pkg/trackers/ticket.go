package trackers

import (
	"time"
)

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
	// Key: "PROJ-12" on Jira, "owner/repo#12" on GitHub, "group/project#12" on
	// GitLab (see KeyNormalizer).
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
