package trackers

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// ErrInvalidTicketKey: what was given names no ticket of the connector: it is
// not a key, number or web URL of the connector's system, or it names a
// ticket of another project or repository. Retrying will not help.
var ErrInvalidTicketKey = errors.New("invalid ticket key")

// KeyNormalizer turns what a user types for a ticket of connector c (the
// full key, the bare number or "#12" within the connector's project, the
// ticket's web URL) into the key the ticket events carry, in the form the
// schema gives for the system (Ticket.key in events.proto). Anything else is
// an error wrapping ErrInvalidTicketKey that says what was expected; a key
// of another project or repository names both. It never calls the tracker.
//
// Every entry point that takes a ticket (writeback's ResultReady.ticket_key,
// the registry's NormalizeTicketKey and replay, the poller's upgrade of
// stored keys) goes through NormalizeKey, so the rule has one owner per
// system: its tracker package.
type KeyNormalizer interface {
	NormalizeKey(c connector.Connector, input string) (string, error)
}

// NormalizeKey normalises input with t's KeyNormalizer. A tracker without one
// takes its keys as they are (surrounding spaces trimmed); an empty input is
// refused either way.
func NormalizeKey(t Tracker, c connector.Connector, input string) (string, error) {
	in := strings.TrimSpace(input)
	if in == "" {
		return "", fmt.Errorf("%w: no ticket given", ErrInvalidTicketKey)
	}
	if kn, ok := t.(KeyNormalizer); ok {
		return kn.NormalizeKey(c, in)
	}
	return in, nil
}

// SplitNumberedKey splits a key of the form "<project>#<number>" (GitHub,
// GitLab) at its last '#'. ok is false when key has no such form.
func SplitNumberedKey(key string) (project string, number int64, ok bool) {
	i := strings.LastIndexByte(key, '#')
	if i < 0 {
		return "", 0, false
	}
	n, ok := ParseTicketNumber(key[i+1:])
	if !ok {
		return "", 0, false
	}
	return key[:i], n, true
}

// ParseTicketNumber parses an issue number: decimal digits only (no sign,
// no spaces), at least 1.
func ParseTicketNumber(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

// ParseWebURL parses input as an absolute http(s) URL, ok false when it is
// not one (then input is something other than a URL).
func ParseWebURL(input string) (*url.URL, bool) {
	if lower := strings.ToLower(input); !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return nil, false
	}
	u, err := url.Parse(input)
	if err != nil || u.Host == "" {
		return nil, false
	}
	return u, true
}
