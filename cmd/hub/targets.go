package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Services a hub process can run.
const (
	targetRegistry  = "registry"
	targetPoller    = "poller"
	targetWriteback = "writeback"
	targetKnowledge = "knowledge"
	targetWebhooks  = "webhooks"
)

var allTargets = []string{targetRegistry, targetPoller, targetWriteback, targetKnowledge, targetWebhooks}

// targets is the set of services this process runs.
type targets []string

// parseTargets reads "all" or a comma list of service names.
func parseTargets(s string) (targets, error) {
	if strings.TrimSpace(s) == "" || strings.TrimSpace(s) == "all" {
		return slices.Clone(allTargets), nil
	}
	var out targets
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(allTargets, t) {
			return nil, fmt.Errorf("--target: %q is not a service (all, or a comma list of %s)", t, strings.Join(allTargets, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (t targets) has(name string) bool { return slices.Contains(t, name) }

func (t targets) all() bool { return len(t) == len(allTargets) }

// hasWorker: the process holds decrypt rights (a worker service runs in it).
func (t targets) hasWorker() bool {
	return t.has(targetPoller) || t.has(targetWriteback) || t.has(targetKnowledge) || t.has(targetWebhooks)
}

// redactURL hides a password in a URL before it is printed.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
