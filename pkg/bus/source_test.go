package bus_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/bus"
)

func TestSourceIsOneURISchemeForEveryProducer(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		producer, connector, want string
	}{
		"poller":       {bus.ProducerPoller, "jira-pay", "connectorhub://poller/jira-pay"},
		"writeback":    {bus.ProducerWriteback, "gh-1", "connectorhub://writeback/gh-1"},
		"knowledge":    {bus.ProducerKnowledge, "conf", "connectorhub://knowledge/conf"},
		"hubctl":       {bus.ProducerHubctl, "c1", "connectorhub://hubctl/c1"},
		"no connector": {bus.ProducerRegistry, "", "connectorhub://registry"},
		"escaped id":   {bus.ProducerReplay, "a b/c", "connectorhub://replay/a%20b%2Fc"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := bus.Source(tc.producer, tc.connector)
			if got != tc.want {
				t.Fatalf("Source(%q, %q) = %q, want %q", tc.producer, tc.connector, got, tc.want)
			}
			p, c, err := bus.ParseSource(got)
			if err != nil || p != tc.producer || c != tc.connector {
				t.Fatalf("ParseSource(%q) = %q, %q, %v; want %q, %q", got, p, c, err, tc.producer, tc.connector)
			}
		})
	}
}

func TestParseSourceRefusesOtherForms(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"connectorhub/poller", "/knowledge", "/hubctl", "https://x/y", "connectorhub:///c", "connectorhub://p/c?q=1"} {
		if _, _, err := bus.ParseSource(s); !errors.Is(err, bus.ErrInvalidEvent) {
			t.Errorf("ParseSource(%q) = %v, want ErrInvalidEvent", s, err)
		}
	}
}

// Source's shortcut for plain names gives what the URL it stands for gives.
func TestSourceFastPathMatchesURL(t *testing.T) {
	t.Parallel()
	viaURL := func(producer, id string) string {
		u := url.URL{Scheme: bus.SourceScheme, Host: producer}
		if id != "" {
			u.Path, u.RawPath = "/"+id, "/"+url.PathEscape(id)
		}
		return u.String()
	}
	for _, p := range []string{bus.ProducerPoller, bus.ProducerHubctl, "Edge-1_b", ""} {
		for _, id := range []string{"", "bench-github", "C_2", "jira-PAY-9", "a b", "a/b", "é", "a%2F"} {
			if got, want := bus.Source(p, id), viaURL(p, id); got != want {
				t.Errorf("Source(%q, %q) = %q, want %q", p, id, got, want)
			}
		}
	}
}
