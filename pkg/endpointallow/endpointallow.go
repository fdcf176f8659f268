// Package endpointallow reads HUB_ALLOW_ENDPOINTS, the one setting with which
// every service lets tracker endpoints into networks the endpoint policy
// refuses by default (link-local, metadata, unspecified, multicast).
// Loopback and private ranges need no entry: self-hosted trackers live there.
package endpointallow

import (
	"fmt"
	"net/netip"
	"strings"
)

// Env is the environment variable of the setting: CIDR prefixes, comma
// separated (e.g. "169.254.10.0/24").
const Env = "HUB_ALLOW_ENDPOINTS"

// Parse reads the setting's entries; blank ones are skipped. The error
// names the setting and the entry that is not a CIDR prefix.
func Parse(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range entries {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a CIDR prefix", Env, s)
		}
		out = append(out, p)
	}
	return out, nil
}
