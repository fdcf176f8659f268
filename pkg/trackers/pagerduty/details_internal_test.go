package pagerduty

import (
	"testing"

	json "github.com/goccy/go-json"
)

// detailsBefore is details as it was: a decode into a string, then a map,
// then any. details picks one decode by the first byte; the text must not
// change.
func detailsBefore(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) == nil {
		for _, k := range []string{"description", "details", "summary"} {
			if v, ok := obj[k].(string); ok && len(obj) == 1 {
				return v
			}
		}
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestDetailsRendersAsBefore(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		``, `null`, `"plain text"`, ` "spaced \u00e9 text" `, `{"description":"Steps:\n1. **one**"}`, `{"details":"d"}`, `{"summary":"s"}`,
		`{"description":"d","extra":1}`, `{"description":3}`, `{"other":"x"}`, `{}`, ` {"description":"lead space"}`, "\n\t{\"a\":[1,2,{\"b\":null}]}",
		`[1,2,3]`, `42`, `true`, `{"truncated":`, `"unterminated`, `{bad json}`, `  `,
	} {
		if got, want := details(json.RawMessage(in)), detailsBefore(json.RawMessage(in)); got != want {
			t.Errorf("details(%q) = %q, want %q", in, got, want)
		}
	}
}
