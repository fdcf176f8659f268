// Package contract checks HTTP traffic against the vendors' OpenAPI shapes
// (pkg/trackers/<system>/testdata/*.shape.json, copied from the vendors' specs
// with the prose removed). Wrapped around a fake
// tracker, its Validator checks every request a client sends and every
// response the fake returns, so the fakes cannot drift from the real APIs and
// the clients cannot send what the real APIs would refuse.
//
// Operations the shapes do not describe (GitLab's personal_access_tokens/self,
// Confluence's user/current, ...) are recorded as unspecified rather than
// failing, and tests list them.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Shape names.
const (
	JiraV3             = "jira-v3"
	GitHub             = "github"
	GitHubApps         = "github-apps"
	GitLabV4           = "gitlab-v4"
	ConfluenceV1Search = "confluence-v1-search"
	ConfluenceV2Pages  = "confluence-v2-pages"
	AzureDevOps        = "azure-devops"
	PagerDuty          = "pagerduty"
	BitbucketCloud     = "bitbucket-cloud"
	// GitHubHooks and GitLabHooks are the repository / project hook
	// operations, extracted from the same vendor descriptions (the main
	// shapes do not carry them).
	GitHubHooks = "github-hooks"
	GitLabHooks = "gitlab-hooks"
	Jenkins     = "jenkins"
	CircleCI    = "circleci"
	SonarQube   = "sonarqube"
	ArgoCD      = "argocd"
)

// shapeSystems says which tracker package's testdata holds each shape: a
// system's shapes live beside its code (pkg/trackers/<system>/testdata).
var shapeSystems = map[string]string{
	JiraV3:             "jira",
	GitHub:             "github",
	GitHubApps:         "github",
	GitLabV4:           "gitlab",
	ConfluenceV1Search: "confluence",
	ConfluenceV2Pages:  "confluence",
	AzureDevOps:        "azuredevops",
	PagerDuty:          "pagerduty",
	BitbucketCloud:     "bitbucket",
	GitHubHooks:        "github",
	GitLabHooks:        "gitlab",
	Jenkins:            "jenkins",
	CircleCI:           "circleci",
	SonarQube:          "sonarqube",
	ArgoCD:             "argocd",
}

// shapePath finds a shape's file from this source file's directory
// (pkg/trackers/trackertest/contract): tests run from the source tree.
func shapePath(name string) (string, error) {
	sys, ok := shapeSystems[name]
	if !ok {
		return "", fmt.Errorf("contract: unknown shape %q", name)
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("contract: cannot locate the source tree")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", sys, "testdata", name+".shape.json"), nil
}

// Spec is a loaded vendor shape with a router over its paths.
type Spec struct {
	Name   string
	doc    *openapi3.T
	router routers.Router
}

// Load reads a shape by name (see the constants) and applies its Errata. The
// shapes keep paths, parameters and schemas but not the vendors' prose, so
// the document is not run through openapi3's own validation (which requires
// descriptions).
func Load(name string) (*Spec, error) {
	return load(name, nil)
}

// Erratum is a place where a vendor shape disagrees with what the live API
// sends (and what the vendor's own client library decodes). Each is patched
// narrowly so everything else in the schema is still checked.
type Erratum struct {
	Shape string
	What  string
	patch func(*openapi3.T)
}

// Errata lists the known shape errors that Load corrects.
var Errata = []Erratum{
	{
		Shape: GitLabV4,
		What: "project permissions: access_level and notification_level are integers (10..50, 0..6) in the API and in " +
			"client-go's AccessLevelValue, strings in the converted spec; project_access and group_access are null when the user has no such membership",
		patch: func(doc *openapi3.T) {
			for _, name := range []string{"API_Entities_ProjectAccess", "API_Entities_GroupAccess"} {
				sc := schema(doc, name)
				sc.Nullable = true
				for _, prop := range []string{"access_level", "notification_level"} {
					if p := sc.Properties[prop]; p != nil && p.Value != nil {
						p.Value.Type = &openapi3.Types{openapi3.TypeInteger}
					}
				}
			}
		},
	},
	{
		Shape: GitLabV4,
		What:  "avatar_url of projects and namespaces, and parent_id of top-level namespaces, are null when unset",
		patch: func(doc *openapi3.T) {
			nullable(schema(doc, "API_Entities_ProjectWithAccess"), "avatar_url")
			nullable(schema(doc, "API_Entities_NamespaceBasic"), "avatar_url", "parent_id")
		},
	},
	{
		Shape: GitLabHooks,
		What: "project hooks: id and project_id are integers in the API and in client-go's ProjectHook, strings in the converted spec; " +
			"disabled_until is null while the hook is not disabled",
		patch: func(doc *openapi3.T) {
			sc := schema(doc, "API_Entities_ProjectHook")
			for _, prop := range []string{"id", "project_id"} {
				if p := sc.Properties[prop]; p != nil && p.Value != nil {
					p.Value.Type = &openapi3.Types{openapi3.TypeInteger}
				}
			}
			nullable(sc, "disabled_until")
		},
	},
}

// azureDevOpsErrata are the places where Microsoft's REST 7.1 Swagger
// (vsts-rest-api-specs) disagrees with what Azure DevOps sends and accepts.
var azureDevOpsErrata = []Erratum{
	{
		Shape: AzureDevOps,
		What:  "WIQL: POST {organization}/{project}/_apis/wit/wiql (no {team}) is the same operation without the team scope",
		patch: func(doc *openapi3.T) {
			withTeam := doc.Paths.Value("/{organization}/{project}/{team}/_apis/wit/wiql")
			if withTeam == nil || withTeam.Post == nil {
				return
			}
			op := *withTeam.Post
			op.OperationID += "WithoutTeam"
			op.Parameters = slices.DeleteFunc(slices.Clone(op.Parameters), func(p *openapi3.ParameterRef) bool {
				return p != nil && p.Value != nil && p.Value.Name == "team"
			})
			doc.Paths.Set("/{organization}/{project}/_apis/wit/wiql", &openapi3.PathItem{Post: &op})
		},
	},
	{
		Shape: AzureDevOps,
		What: "create work item: the path's literal '$' before {type} (workitems/$Task) is written \"${type}\", which the router reads as " +
			"a template beside workitems/{id}; served as the POST of workitems/{id}, its type parameter read from that segment",
		patch: func(doc *openapi3.T) {
			const from, to = "/{organization}/{project}/_apis/wit/workitems/${type}", "/{organization}/{project}/_apis/wit/workitems/{id}"
			src, dst := doc.Paths.Value(from), doc.Paths.Value(to)
			if src == nil || src.Post == nil || dst == nil {
				return
			}
			op := *src.Post
			op.Parameters = slices.Clone(op.Parameters)
			for i, p := range op.Parameters {
				if p != nil && p.Value != nil && p.Value.Name == "type" && p.Value.In == "path" {
					renamed := *p.Value
					renamed.Name = "id"
					op.Parameters[i] = &openapi3.ParameterRef{Value: &renamed}
				}
			}
			dst.Post = &op
			doc.Paths.Delete(from)
		},
	},
	{
		Shape: AzureDevOps,
		What: "every operation lists only OAuth 2.0 scopes, but Azure DevOps takes a PAT as Basic auth with an empty user on all of them " +
			"(the document's global security, accessToken)",
		patch: func(doc *openapi3.T) {
			for _, item := range doc.Paths.Map() {
				for _, op := range item.Operations() {
					if op.Security != nil {
						*op.Security = append(*op.Security, openapi3.SecurityRequirement{"accessToken": {}})
					}
				}
			}
		},
	},
	{
		Shape: AzureDevOps,
		What: "list answers are typed as bare arrays; Azure DevOps wraps every collection as {\"count\": n, \"value\": [...]} " +
			"(workitemsbatch, pull requests)",
		patch: func(doc *openapi3.T) {
			for _, item := range doc.Paths.Map() {
				for _, op := range item.Operations() {
					for _, rr := range op.Responses.Map() {
						if rr.Value == nil {
							continue
						}
						for _, mt := range rr.Value.Content {
							if mt.Schema != nil && mt.Schema.Value != nil && mt.Schema.Value.Type.Is(openapi3.TypeArray) {
								mt.Schema = openapi3.NewSchemaRef("", &openapi3.Schema{
									Type: &openapi3.Types{openapi3.TypeObject},
									Properties: openapi3.Schemas{
										"count": openapi3.NewSchemaRef("", openapi3.NewIntegerSchema()),
										"value": mt.Schema,
									},
								})
							}
						}
					}
				}
			}
		},
	},
	{
		Shape: AzureDevOps,
		What: "work item field values and JSON Patch operation values are typed as objects; they are any JSON value " +
			"(System.Title is a string, Microsoft.VSTS.Common.Priority a number, System.AssignedTo an identity object)",
		patch: func(doc *openapi3.T) {
			if p := schema(doc, "WorkItem").Properties["fields"]; p != nil && p.Value != nil {
				p.Value.AdditionalProperties = openapi3.AdditionalProperties{Schema: openapi3.NewSchemaRef("", &openapi3.Schema{})}
			}
			if p := schema(doc, "JsonPatchOperation").Properties["value"]; p != nil {
				p.Value = &openapi3.Schema{}
			}
			if p := schema(doc, "Link").Properties["attributes"]; p != nil && p.Value != nil {
				p.Value.AdditionalProperties = openapi3.AdditionalProperties{Schema: openapi3.NewSchemaRef("", &openapi3.Schema{})}
			}
		},
	},
	{
		Shape: AzureDevOps,
		What:  "JsonPatchDocument is typed as an object holding an allOf array; the body is the JSON Patch array itself (RFC 6902)",
		patch: func(doc *openapi3.T) {
			if ref := doc.Components.Schemas["JsonPatchDocument"]; ref != nil && ref.Value != nil {
				// In place: the operations' request bodies hold this same schema.
				*ref.Value = openapi3.Schema{Type: &openapi3.Types{openapi3.TypeArray},
					Items: openapi3.NewSchemaRef("#/components/schemas/JsonPatchOperation", schema(doc, "JsonPatchOperation"))}
			}
		},
	},
}

func init() { Errata = append(Errata, azureDevOpsErrata...) }

// schema returns a component schema; a missing one is a broken shape file,
// which the contract tests would then report as violations.
func schema(doc *openapi3.T, name string) *openapi3.Schema {
	if ref := doc.Components.Schemas[name]; ref != nil && ref.Value != nil {
		return ref.Value
	}
	return &openapi3.Schema{}
}

func nullable(sc *openapi3.Schema, props ...string) {
	for _, prop := range props {
		if p := sc.Properties[prop]; p != nil && p.Value != nil {
			p.Value.Nullable = true
		}
	}
}

// LoadJiraDataCenter returns the Jira v3 shape for checking Jira Data Center
// (REST v2) traffic, which has no shape of its own. Use it with
// Options.Rewrite = JiraV2ToV3. The bodies of myself and project are the same
// shape in v2 and v3 except that v2's user carries Data Center fields
// ("deleted", "lastLoginTime"), so User is opened to extra properties; every
// declared property is still checked.
func LoadJiraDataCenter() (*Spec, error) {
	return load(JiraV3, func(doc *openapi3.T) {
		if u := doc.Components.Schemas["User"]; u != nil && u.Value != nil {
			u.Value.AdditionalProperties = openapi3.AdditionalProperties{}
		}
	})
}

func load(name string, patch func(*openapi3.T)) (*Spec, error) {
	path, err := shapePath(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("contract: shape %q: %w", name, err)
	}
	doc, err := loadDoc(b)
	if err != nil {
		return nil, fmt.Errorf("contract: load %s: %w", name, err)
	}
	// Match paths on any host: keep only the servers' base path (v2 pages
	// live under /wiki/api/v2).
	base := ""
	if len(doc.Servers) > 0 {
		raw := doc.Servers[0].URL
		if i := strings.Index(raw, "//"); i >= 0 {
			raw = raw[i+2:]
			if j := strings.Index(raw, "/"); j >= 0 {
				base = strings.TrimSuffix(raw[j:], "/")
			}
		}
	}
	doc.Servers = nil
	if base != "" {
		doc.Servers = openapi3.Servers{{URL: base}}
	}
	for _, e := range Errata {
		if e.Shape == name {
			e.patch(doc)
		}
	}
	if patch != nil {
		patch(doc)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("contract: router for %s: %w", name, err)
	}
	return &Spec{Name: name, doc: doc, router: router}, nil
}

// loadDoc reads an OpenAPI 3 document, or a Swagger 2.0 one (Azure DevOps
// publishes only Swagger 2.0) converted to OpenAPI 3 by kin-openapi.
func loadDoc(b []byte) (*openapi3.T, error) {
	var probe struct {
		Swagger string `json:"swagger"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, err
	}
	if probe.Swagger == "" {
		return openapi3.NewLoader().LoadFromData(b)
	}
	var v2 openapi2.T
	if err := json.Unmarshal(b, &v2); err != nil {
		return nil, err
	}
	return openapi2conv.ToV3(&v2)
}

// MustLoad is Load for tests; it panics on an unknown or broken shape.
func MustLoad(name string) *Spec {
	s, err := Load(name)
	if err != nil {
		panic(err)
	}
	return s
}

// JiraV2ToV3 maps a Jira Data Center path onto the v3 shape.
func JiraV2ToV3(path string) string {
	if rest, ok := strings.CutPrefix(path, "/rest/api/2/"); ok {
		return "/rest/api/3/" + rest
	}
	return path
}

// StripGHESPrefix maps a GitHub Enterprise Server path onto the github.com shape.
func StripGHESPrefix(path string) string {
	if rest, ok := strings.CutPrefix(path, "/api/v3/"); ok {
		return "/" + rest
	}
	return path
}

// ConfluenceDCToCloud maps a Confluence Data Center path (no /wiki) onto the Cloud v1 shape.
func ConfluenceDCToCloud(path string) string {
	if strings.HasPrefix(path, "/rest/api/") {
		return "/wiki" + path
	}
	return path
}

// Options tune a Validator.
type Options struct {
	// Rewrite maps a request path onto the shape's paths (see JiraV2ToV3,
	// StripGHESPrefix, ConfluenceDCToCloud).
	Rewrite func(path string) string
}

// Violation is a request or response that does not match the shape.
type Violation struct {
	Operation string // "GET /rest/api/3/myself"
	Phase     string // "request" or "response"
	Status    int    // response status, for response violations
	Err       string
}

func (v Violation) String() string {
	if v.Phase == "response" {
		return fmt.Sprintf("%s: response %d: %s", v.Operation, v.Status, v.Err)
	}
	return fmt.Sprintf("%s: request: %s", v.Operation, v.Err)
}

// Validator records how traffic through its middleware compares to a shape.
type Validator struct {
	spec *Spec
	opts Options

	mu          sync.Mutex
	violations  []Violation
	unspecified map[string]bool
	checked     map[string]bool
}

// NewValidator returns a validator for spec.
func NewValidator(spec *Spec, opts Options) *Validator {
	return &Validator{spec: spec, opts: opts, unspecified: map[string]bool{}, checked: map[string]bool{}}
}

// Violations returns what did not match, in order.
func (v *Validator) Violations() []Violation {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.violations)
}

// Unspecified returns the operations ("GET /path") the shape does not describe, sorted.
func (v *Validator) Unspecified() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return sortedKeys(v.unspecified)
}

// FailAtEnd makes tb fail when it ends for every violation and for any
// request the shape does not describe (a fake's traffic must stay inside
// the vendor's shape), and returns v.
func (v *Validator) FailAtEnd(tb testing.TB) *Validator {
	tb.Cleanup(func() {
		for _, viol := range v.Violations() {
			tb.Errorf("contract: %s", viol)
		}
		if u := v.Unspecified(); len(u) > 0 {
			tb.Errorf("requests the shape does not describe: %v", u)
		}
	})
	return v
}

// Checked returns the shape operations that traffic was validated against, sorted.
func (v *Validator) Checked() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return sortedKeys(v.checked)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (v *Validator) record(viol Violation) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.violations = append(v.violations, viol)
}

// Middleware validates each request before next serves it and each response
// after. Traffic passes through unchanged either way.
func (v *Validator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqBody, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "contract: cannot read request body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(reqBody))

		route, params, op := v.route(r)
		if route == nil {
			v.mu.Lock()
			v.unspecified[op] = true
			v.mu.Unlock()
			next.ServeHTTP(w, r)
			return
		}
		v.mu.Lock()
		v.checked[op] = true
		v.mu.Unlock()

		in := v.requestInput(r, reqBody, route, params)
		if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
			v.record(Violation{Operation: op, Phase: "request", Err: err.Error()})
		}

		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)

		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in,
			Status:                 rec.status,
			Header:                 rec.header,
			Body:                   io.NopCloser(bytes.NewReader(rec.body.Bytes())),
			Options:                &openapi3filter.Options{MultiError: true},
		}
		if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
			v.record(Violation{Operation: op, Phase: "response", Status: rec.status, Err: err.Error()})
		}

		for k, vs := range rec.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

// route finds the shape operation for r; route is nil when the shape does
// not describe it. op names the operation either way.
func (v *Validator) route(r *http.Request) (*routers.Route, map[string]string, string) {
	path := r.URL.EscapedPath()
	if v.opts.Rewrite != nil {
		path = v.opts.Rewrite(path)
	}
	u := *r.URL
	u.RawPath = path
	if p, err := url.PathUnescape(path); err == nil {
		u.Path = p
	} else {
		u.Path = path
	}
	mapped := r.Clone(r.Context())
	mapped.URL = &u
	route, params, err := v.spec.router.FindRoute(mapped)
	if err != nil {
		return nil, nil, r.Method + " " + path
	}
	return route, params, r.Method + " " + route.Path
}

func (v *Validator) requestInput(r *http.Request, body []byte, route *routers.Route, params map[string]string) *openapi3filter.RequestValidationInput {
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	opts := &openapi3filter.Options{MultiError: true, AuthenticationFunc: authenticate}
	return &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
}

var errNoCredential = errors.New("no credential of this scheme")

// authenticate checks that a request carries a credential of the scheme the
// shape names (it cannot check the credential itself: the fake does that).
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	sc := in.SecurityScheme
	authz := r.Header.Get("Authorization")
	scheme, _, _ := strings.Cut(authz, " ")
	switch {
	case sc.Type == "http" && strings.EqualFold(sc.Scheme, "basic"):
		if strings.EqualFold(scheme, "basic") {
			return nil
		}
	case sc.Type == "http" && strings.EqualFold(sc.Scheme, "bearer"),
		sc.Type == "oauth2", sc.Type == "openIdConnect":
		if strings.EqualFold(scheme, "bearer") {
			return nil
		}
	case sc.Type == "apiKey" && sc.In == "header":
		if r.Header.Get(sc.Name) != "" {
			return nil
		}
	case sc.Type == "apiKey" && sc.In == "query":
		if r.URL.Query().Get(sc.Name) != "" {
			return nil
		}
	}
	return in.NewError(errNoCredential)
}

// recorder buffers a response so it can be validated before it is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
