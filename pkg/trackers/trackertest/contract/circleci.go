package contract

import "github.com/getkin/kin-openapi/openapi3"

// circleCIErrata: CircleCI's spec marks nullable fields with the Swagger 2
// extension x-nullable (next_page_token, stopped_at, the commit subject),
// which OpenAPI 3 validators ignore; the API sends null there.
var circleCIErrata = []Erratum{{
	Shape: CircleCI,
	What:  "fields marked x-nullable (next_page_token, stopped_at, vcs.commit.subject/body) are null when unset",
	patch: func(doc *openapi3.T) {
		seen := map[*openapi3.Schema]bool{}
		for _, item := range doc.Paths.Map() {
			for _, op := range item.Operations() {
				for _, resp := range op.Responses.Map() {
					if resp.Value == nil {
						continue
					}
					for _, mt := range resp.Value.Content {
						markNullable(mt.Schema, seen)
					}
				}
			}
		}
	},
}}

func markNullable(ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
	if ref == nil || ref.Value == nil || seen[ref.Value] {
		return
	}
	sc := ref.Value
	seen[sc] = true
	if v, ok := sc.Extensions["x-nullable"].(bool); ok && v {
		sc.Nullable = true
	}
	for _, p := range sc.Properties {
		markNullable(p, seen)
	}
	markNullable(sc.Items, seen)
	for _, s := range sc.AnyOf {
		markNullable(s, seen)
	}
}

func init() { Errata = append(Errata, circleCIErrata...) }
