package trackers

import (
	"context"
	"fmt"
	"slices"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// Registry maps each system to its tracker. pkg/trackers/all builds the one
// every process uses; cmd/hub passes it to each service in its Deps, and
// tests build their own. A Registry is immutable and safe for concurrent use.
type Registry struct {
	byName  map[connector.System]Tracker
	systems []connector.System // in the order given to NewRegistry
}

// NewRegistry returns a registry of the given trackers. Two trackers for the
// same system, or a tracker whose rules name no system, are an error.
func NewRegistry(ts ...Tracker) (*Registry, error) {
	r := &Registry{byName: make(map[connector.System]Tracker, len(ts))}
	for _, t := range ts {
		sys := t.Rules().System
		if sys == "" {
			return nil, fmt.Errorf("trackers: %T declares no system", t)
		}
		if _, dup := r.byName[sys]; dup {
			return nil, fmt.Errorf("trackers: two trackers for %s", sys)
		}
		r.byName[sys] = t
		r.systems = append(r.systems, sys)
	}
	return r, nil
}

// Lookup returns the tracker of a system.
func (r *Registry) Lookup(system connector.System) (Tracker, bool) {
	t, ok := r.byName[system]
	return t, ok
}

// Systems lists the registered systems in registration order.
func (r *Registry) Systems() []connector.System { return slices.Clone(r.systems) }

// Rules returns what a system accepts in a connector (connector.Catalog).
func (r *Registry) Rules(system connector.System) (connector.Rules, bool) {
	t, ok := r.byName[system]
	if !ok {
		return connector.Rules{}, false
	}
	return t.Rules(), true
}

// SystemsWith lists the systems whose tracker implements feature interface I,
// e.g. SystemsWith[Discoverer](reg).
func SystemsWith[I any](r *Registry) []connector.System {
	var out []connector.System
	for _, sys := range r.systems {
		if _, ok := r.byName[sys].(I); ok {
			out = append(out, sys)
		}
	}
	return out
}

// Capabilities returns the capabilities of a registered system.
func (r *Registry) Capabilities(system connector.System) (Capabilities, bool) {
	t, ok := r.byName[system]
	if !ok {
		return Capabilities{}, false
	}
	return CapabilitiesOf(t), true
}

// AllCapabilities returns the capabilities of every system, in registration order.
func (r *Registry) AllCapabilities() []Capabilities {
	out := make([]Capabilities, 0, len(r.systems))
	for _, sys := range r.systems {
		out = append(out, CapabilitiesOf(r.byName[sys]))
	}
	return out
}

// DefaultBaseURL returns the vendor's URL for a deployment, or "" where the
// user must give one (Jira, Confluence, self-hosted, unknown systems).
func (r *Registry) DefaultBaseURL(system connector.System, d connector.Deployment) string {
	t, ok := r.byName[system]
	if !ok {
		return ""
	}
	return t.Rules().DefaultBaseURL(d)
}

// NewSession prepares a connector of any registered system for tracker calls
// (see NewSession); an unknown system wraps ErrUnknownSystem.
func (r *Registry) NewSession(c connector.Connector, secret connector.Secret, opts Options) (*Session, error) {
	t, ok := r.byName[c.System]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSystem, c.System)
	}
	return NewSession(t, c, secret, opts)
}

// Test runs the connection test of a connector of any registered system (see
// Test); an unknown system wraps ErrUnknownSystem.
func (r *Registry) Test(ctx context.Context, c connector.Connector, secret connector.Secret, opts Options) (TestResult, error) {
	t, ok := r.byName[c.System]
	if !ok {
		return TestResult{}, fmt.Errorf("%w: %q", ErrUnknownSystem, c.System)
	}
	return Test(ctx, t, c, secret, opts)
}
