package pagerduty

import (
	"bytes"
	"testing"

	json "github.com/goccy/go-json"
)

// detailsBefore is how body.details was rendered from its raw bytes: a
// decode into a string, then a map, then any.
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

// description renders body.details as decoded with the incident (one
// decode); the text must be what detailsBefore made of the raw bytes, for
// every body a well-formed answer can carry (a malformed one fails the
// whole answer's decoding).
func TestDescriptionRendersAsBefore(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		``, `null`, `"plain text"`, ` "spaced \u00e9 text" `, `{"description":"Steps:\n1. **one**"}`, `{"details":"d"}`, `{"summary":"s"}`,
		`{"description":"d","extra":1}`, `{"description":3}`, `{"other":"x"}`, `{}`, ` {"description":"lead space"}`, "\n\t{\"a\":[1,2,{\"b\":null}]}",
		`[1,2,3]`, `42`, `true`, `{"description":"esc \"q\" \u2603","n":1.5e3}`, `[]`, `"" `,
	} {
		body := `{}`
		if len(bytes.TrimSpace([]byte(in))) > 0 {
			body = `{"type":"incident_body","details":` + in + `}`
		}
		var got struct {
			Incident incident `json:"incident"`
		}
		if err := json.Unmarshal([]byte(`{"incident":{"id":"PINC1","body":`+body+`}}`), &got); err != nil {
			t.Fatalf("details %q: %v", in, err)
		}
		if got, want := description(got.Incident.Body.Details), detailsBefore(json.RawMessage(in)); got != want {
			t.Errorf("description of details %q = %q, want %q", in, got, want)
		}
	}
}
