package main

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/connectorhub/connectorhub/pkg/trackers/bitbucket/bitbucketfake"
	"github.com/connectorhub/connectorhub/pkg/trackers/pagerduty/pagerdutyfake"
	"github.com/connectorhub/connectorhub/services/registry/registrytest"
)

// `hubctl connectors add --system pagerduty|bitbucket` against a real
// registry: the required scopes are shown before the token prompt, missing
// flags are asked for on a terminal, the connection is tested before saving,
// and a failed test saves nothing.
func TestAddPagerDutyAndBitbucketAgainstARunningRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	pd := pagerdutyfake.New(pagerdutyfake.Options{
		Users: []pagerdutyfake.User{{ID: "PAGENT1", Name: "Agent", Email: "agent@example.com"}, {ID: "PRO0001", Name: "Observer", Email: "ro@example.com", Role: "observer"}},
		Keys:  []pagerdutyfake.Key{{Value: "u+e2e-pd-key", UserID: "PAGENT1"}, {Value: "u+e2e-ro-key", UserID: "PRO0001"}},
	})
	pdURL := pd.Start(t)
	bb := bitbucketfake.NewSandbox()
	bbURL := bb.Start(t) + "/2.0"
	reg := registrytest.Start(t)
	admin := func(term *fakeTerminal) *cli {
		c := newCLI(t, reg.Addr)
		c.vars["HUB_API_TOKEN"] = reg.AdminToken
		c.term = term
		return c
	}

	t.Run("pagerduty: scopes before the prompt, tested, saved", func(t *testing.T) {
		r := admin(&fakeTerminal{tty: true, passwords: []string{"u+e2e-pd-key"}}).run("connectors", "add", "--id", "pd", "--system", "pagerduty", "--base-url", pdURL)
		if r.err != nil {
			t.Fatalf("add: %v\n%s", r.err, r.stderr)
		}
		if !strings.Contains(r.stderr, "needs these scopes: incidents.read, incidents.write, users.read") || !strings.Contains(r.stderr, "connection test passed") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "u+e2e-pd-key") {
			t.Error("output shows the key")
		}
	})
	t.Run("pagerduty: a read-only role is refused with a hint, nothing saved", func(t *testing.T) {
		c := admin(&fakeTerminal{})
		c.vars["PAGERDUTY_TOKEN"] = "u+e2e-ro-key"
		r := c.run("connectors", "add", "--id", "pd-ro", "--system", "pagerduty", "--base-url", pdURL)
		if r.err == nil || !strings.Contains(r.stderr+r.err.Error(), "Responder") {
			t.Fatalf("err = %v\n%s", r.err, r.stderr)
		}
		if r := admin(&fakeTerminal{}).run("connectors", "get", "pd-ro"); status.Code(r.err) != codes.NotFound {
			t.Errorf("get after a refused add: %v", r.err)
		}
	})
	t.Run("bitbucket: project and username asked on a terminal, token from the environment", func(t *testing.T) {
		c := admin(&fakeTerminal{tty: true, lines: []string{bitbucketfake.SandboxRepo, bitbucketfake.SandboxEmail}})
		c.vars["BITBUCKET_TOKEN"] = bitbucketfake.SandboxToken
		r := c.run("connectors", "add", "--id", "bb", "--system", "bitbucket", "--base-url", bbURL, "--review-pull-requests")
		if r.err != nil {
			t.Fatalf("add: %v\n%s", r.err, r.stderr)
		}
		if !strings.Contains(r.stderr, "connection test passed") || !strings.Contains(r.stdout, bitbucketfake.SandboxRepo) {
			t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
	})
}
