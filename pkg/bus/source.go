package bus

import (
	"fmt"
	"net/url"
	"strings"
)

// Producers named in ce-source. Every event on the bus names its producer
// and the connector it concerns the same way (Source).
const (
	ProducerPoller    = "poller"
	ProducerWriteback = "writeback"
	ProducerKnowledge = "knowledge"
	ProducerRegistry  = "registry"
	ProducerReplay    = "replay"
	ProducerHubctl    = "hubctl"
)

// SourceScheme is the URI scheme of every ce-source connectorhub writes.
const SourceScheme = "connectorhub"

// Source is the ce-source of an event: "connectorhub://<producer>/<connector-id>",
// or "connectorhub://<producer>" for an event about no connector.
//
// CloudEvents 1.0 makes source a URI-reference and recommends an absolute
// URI; (source, id) must be unique per event. One scheme for every producer
// lets a consumer filter by producer (the authority) or by connector (the
// path) without knowing which service wrote the event. The connector id is
// path-escaped, so any id gives a valid URI.
func Source(producer, connectorID string) string {
	// Names of letters, digits, '-' and '_' (every producer, and the ids the
	// registry accepts) need no escaping: one string instead of a URL built
	// per event (issue 9). TestSourceFastPathMatchesURL holds them equal.
	if producer != "" && plainName(producer) && plainName(connectorID) {
		if connectorID == "" {
			return SourceScheme + "://" + producer
		}
		return SourceScheme + "://" + producer + "/" + connectorID
	}
	u := url.URL{Scheme: SourceScheme, Host: producer}
	if connectorID != "" {
		u.Path = "/" + connectorID
		u.RawPath = "/" + url.PathEscape(connectorID)
	}
	return u.String()
}

// ParseSource splits a ce-source written by Source into its producer and
// connector id; an error when it is not of that form.
func ParseSource(source string) (producer, connectorID string, err error) {
	u, err := url.Parse(source)
	if err != nil || u.Scheme != SourceScheme || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", fmt.Errorf("%w: ce-source %q is not %s://<producer>/<connector-id>", ErrInvalidEvent, source, SourceScheme)
	}
	id := strings.TrimPrefix(u.Path, "/")
	if strings.Contains(id, "/") && u.RawPath == "" {
		return "", "", fmt.Errorf("%w: ce-source %q has more than one path segment", ErrInvalidEvent, source)
	}
	return u.Host, id, nil
}

// plainName reports whether s is empty or only ASCII letters, digits, '-'
// and '_', which neither a URL host nor a path escapes.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
