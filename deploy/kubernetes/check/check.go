// Package check renders deploy/kubernetes and checks its invariants in its
// test. It is its own module, outside go.work, so the Kubernetes
// dependencies never enter the services' dependency graph.
package check
