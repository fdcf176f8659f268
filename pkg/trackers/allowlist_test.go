package trackers_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/trackers"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []string
		want    []netip.Prefix
		wantErr string
	}{
		{"unset", nil, nil, ""},
		{"blank entries are skipped, spaces trimmed", []string{" 169.254.10.0/24", "", "  ", "fd00::/8 "},
			[]netip.Prefix{netip.MustParsePrefix("169.254.10.0/24"), netip.MustParsePrefix("fd00::/8")}, ""},
		{"an address is not a prefix", []string{"169.254.10.0/24", "10.0.0.1"}, nil, `HUB_ALLOW_ENDPOINTS: "10.0.0.1" is not a CIDR prefix`},
		{"a name is not a prefix", []string{"jira.internal"}, nil, `HUB_ALLOW_ENDPOINTS: "jira.internal"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := trackers.ParseAllowList(tt.entries)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) = %v, %v; want an error with %q", tt.entries, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tt.entries, got, err, tt.want)
			}
		})
	}
}
