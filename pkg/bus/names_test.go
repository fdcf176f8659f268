package bus_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/bus"
)

func TestSubjectBuilders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		build   func() (string, error)
		want    string
		wantErr bool
	}{
		{"ticket discovered", func() (string, error) { return bus.TicketSubject(bus.TicketDiscovered, "jira", "c-1") }, "ticket.discovered.jira.c-1", false},
		{"ticket enriched", func() (string, error) { return bus.TicketSubject(bus.TicketEnriched, "github", "C_2") }, "ticket.enriched.github.C_2", false},
		{"unknown ticket kind", func() (string, error) { return bus.TicketSubject("deleted", "jira", "c") }, "", true},
		{"dot in connector id", func() (string, error) { return bus.TicketSubject(bus.TicketUpdated, "jira", "a.b") }, "", true},
		{"space in system", func() (string, error) { return bus.TicketSubject(bus.TicketClosed, "ji ra", "c") }, "", true},
		{"star wildcard", func() (string, error) { return bus.ResultSubject("jira", "*") }, "", true},
		{"gt wildcard inside token", func() (string, error) { return bus.ResultSubject("jira", "a>") }, "", true},
		{"empty connector", func() (string, error) { return bus.ResultSubject("jira", "") }, "", true},
		{"tab", func() (string, error) { return bus.ResultSubject("jira", "a\tb") }, "", true},
		{"non-ascii", func() (string, error) { return bus.ResultSubject("jira", "café") }, "", true},
		{"too long", func() (string, error) { return bus.ResultSubject("jira", strings.Repeat("x", 129)) }, "", true},
		{"result ready", func() (string, error) { return bus.ResultSubject("gitlab", "c1") }, "result.ready.gitlab.c1", false},
		{"writeback failed", func() (string, error) { return bus.WritebackSubject(bus.WritebackFailed, "jira", "c1") }, "writeback.failed.jira.c1", false},
		{"unknown writeback kind", func() (string, error) { return bus.WritebackSubject("partial", "jira", "c1") }, "", true},
		{"audit dotted action", func() (string, error) { return bus.AuditSubject("connector.create") }, "audit.connector.create", false},
		{"audit empty part", func() (string, error) { return bus.AuditSubject("connector..create") }, "", true},
		{"audit wildcard", func() (string, error) { return bus.AuditSubject("connector.>") }, "", true},
		{"audit empty", func() (string, error) { return bus.AuditSubject("") }, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.build()
			if tt.wantErr {
				if !errors.Is(err, bus.ErrInvalidToken) {
					t.Fatalf("got (%q, %v), want ErrInvalidToken", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got (%q, %v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestEventIDIsDeterministicAndUnambiguous(t *testing.T) {
	t.Parallel()
	a := bus.EventID("c1", "PROJ-1", "2026-01-02T03:04:05Z")
	if a != bus.EventID("c1", "PROJ-1", "2026-01-02T03:04:05Z") {
		t.Fatal("same parts gave different ids")
	}
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("id %q is not 32 lowercase hex characters", a)
	}
	for _, other := range [][]string{
		{"c1", "PROJ-1", "2026-01-02T03:04:06Z"},
		{"c1PROJ-1", "2026-01-02T03:04:05Z"}, // same concatenation
		{"c1", "PROJ-1", "2026-01-02T03:04:05Z", ""},
	} {
		if bus.EventID(other...) == a {
			t.Errorf("EventID(%q) collides with EventID(c1, PROJ-1, ...)", other)
		}
	}
}

// The ids of events already stored must not change: EventID is the
// length-prefixed SHA-256 of its parts, checked against that definition
// written plainly (a hash fed part by part) and against fixed values.
func TestEventIDIsStable(t *testing.T) {
	t.Parallel()
	reference := func(parts ...string) string {
		h := sha256.New()
		for _, p := range parts {
			h.Write(binary.AppendUvarint(nil, uint64(len(p))))
			h.Write([]byte(p))
		}
		return hex.EncodeToString(h.Sum(nil)[:16])
	}
	long := strings.Repeat("x", 300) // past the stack buffer
	for _, parts := range [][]string{
		{}, {""}, {"c1", "PROJ-1", "2026-01-02T03:04:05Z"}, {"c1", long, "t"}, {long, long},
	} {
		if got, want := bus.EventID(parts...), reference(parts...); got != want {
			t.Errorf("EventID(%q) = %s, want %s", parts, got, want)
		}
	}
	if got, want := bus.EventID("c1", "PROJ-1", "2026-01-02T03:04:05Z"), "1423ef185b88b6a8929e9036733742db"; got != want {
		t.Errorf("EventID(c1, PROJ-1, ...) = %s, want %s (the id of an event already stored)", got, want)
	}
}
