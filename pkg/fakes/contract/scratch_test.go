package contract

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

func TestScratch(t *testing.T) {
	for _, f := range []string{"jira-v3", "github", "gitlab-v4", "confluence-v1-search", "confluence-v2-pages"} {
		l := openapi3.NewLoader()
		doc, err := l.LoadFromFile("testdata/" + f + ".shape.json")
		if err != nil {
			t.Fatalf("%s: load %v", f, err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			t.Logf("%s: validate %v", f, err)
		}
		doc.Servers = nil
		if _, err := gorillamux.NewRouter(doc); err != nil {
			t.Logf("%s: router %v", f, err)
		}
	}
}
