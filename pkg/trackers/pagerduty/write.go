package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
	"github.com/connectorhub/connectorhub/pkg/trackers"
)

// incidentID is PagerDuty's object id form (PT4KHLK, Q02JTSNZWHSEKV).
var incidentID = regexp.MustCompile(`^[A-Z0-9]{6,20}$`)

// NormalizeKey takes an incident id or its web URL (…/incidents/PT4KHLK).
func (Tracker) NormalizeKey(_ connector.Connector, input string) (string, error) {
	in := strings.TrimSpace(input)
	if u, ok := trackers.ParseWebURL(in); ok {
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) >= 2 && parts[len(parts)-2] == "incidents" {
			in = parts[len(parts)-1]
		} else {
			return "", fmt.Errorf("%w: %q is not a PagerDuty incident URL (…/incidents/<id>)", trackers.ErrInvalidTicketKey, input)
		}
	}
	if !incidentID.MatchString(in) {
		return "", fmt.Errorf("%w: %q is not a PagerDuty incident id (such as PT4KHLK)", trackers.ErrInvalidTicketKey, input)
	}
	return in, nil
}

// statusAliases maps the names a result may carry onto PagerDuty's two
// writable statuses; anything else is ErrUnknownStatus.
var statusAliases = map[string]string{
	"acknowledged": "acknowledged", "acknowledge": "acknowledged", "in progress": "acknowledged", "in review": "acknowledged",
	"resolved": "resolved", "resolve": "resolved", "done": "resolved",
}

// SetStatus acknowledges or resolves an incident: PUT /incidents/{id} as
// the connector's user (From header).
func (t Tracker) SetStatus(ctx context.Context, s *trackers.Session, key, status string) (trackers.Link, error) {
	target, ok := statusAliases[strings.ToLower(strings.TrimSpace(status))]
	if !ok {
		return trackers.Link{}, fmt.Errorf("%w: %q: PagerDuty incidents can be acknowledged or resolved (or In Progress, In Review, Done)", trackers.ErrUnknownStatus, status)
	}
	acc, err := accountOf(ctx, s)
	if err != nil {
		return trackers.Link{}, err
	}
	body := map[string]any{"incident": map[string]any{"type": "incident_reference", "status": target}}
	var out struct {
		Incident incident `json:"incident"`
	}
	what := "incident " + key
	err = call(ctx, s, http.MethodPut, "incidents/"+key, nil, body, &out, acc.email, what)
	switch {
	case errors.Is(err, errNotFound):
		return trackers.Link{}, fmt.Errorf("%w: %w", trackers.ErrTicketNotFound, err)
	case err != nil:
		return trackers.Link{}, err
	}
	return trackers.Link{Kind: "status", URL: out.Incident.HTMLURL, Key: key}, nil
}

// markerLine is how a note carries its marker: notes are plain text, so the
// marker is a visible last line.
func markerLine(marker string) string { return "[" + marker + "]" }

// AddComment adds a note. Notes are plain text (PagerDuty renders no
// Markdown in them, so the Markdown is sent as written) and have no
// mentions: the reporter is named at the start.
func (t Tracker) AddComment(ctx context.Context, s *trackers.Session, key string, c trackers.NewComment) (trackers.Link, error) {
	acc, err := accountOf(ctx, s)
	if err != nil {
		return trackers.Link{}, err
	}
	content := c.Markdown
	if c.Mention != nil {
		name := c.Mention.DisplayName
		if name == "" {
			name = c.Mention.Login
		}
		if name != "" {
			content = "@" + name + " " + content
		}
	}
	if c.Marker != "" {
		content += "\n\n" + markerLine(c.Marker)
	}
	var out struct {
		Note note `json:"note"`
	}
	what := "notes of incident " + key
	err = call(ctx, s, http.MethodPost, "incidents/"+key+"/notes", nil, map[string]any{"note": map[string]any{"content": content}}, &out, acc.email, what)
	switch {
	case errors.Is(err, errNotFound):
		return trackers.Link{}, fmt.Errorf("%w: %w", trackers.ErrTicketNotFound, err)
	case err != nil:
		return trackers.Link{}, err
	case out.Note.ID == "":
		return trackers.Link{}, fmt.Errorf("%w: %s: note without id", trackers.ErrMalformedResponse, what)
	}
	return noteLink(s, key, out.Note.ID), nil
}

func noteLink(s *trackers.Session, key, id string) trackers.Link {
	return trackers.Link{Kind: "comment", Key: id, URL: s.BaseURL.JoinPath("incidents", key, "notes").String() + "#" + id}
}

// FindComment looks for a note carrying marker.
func (t Tracker) FindComment(ctx context.Context, s *trackers.Session, key, marker string) (trackers.Link, bool, error) {
	var out struct {
		Notes []note `json:"notes"`
	}
	what := "notes of incident " + key
	err := call(ctx, s, http.MethodGet, "incidents/"+key+"/notes", nil, nil, &out, "", what)
	switch {
	case errors.Is(err, errNotFound):
		return trackers.Link{}, false, fmt.Errorf("%w: %w", trackers.ErrTicketNotFound, err)
	case err != nil:
		return trackers.Link{}, false, err
	}
	line := markerLine(marker)
	for _, n := range out.Notes {
		if strings.Contains(n.Content, line) {
			return noteLink(s, key, n.ID), true, nil
		}
	}
	return trackers.Link{}, false, nil
}
