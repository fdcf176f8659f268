package pagerduty

import (
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/connectorhub/connectorhub/pkg/trackers/internal/fakehttp"
	"github.com/connectorhub/connectorhub/pkg/trackers/pagerduty/pagerdutyfake"
)

// normalized makes two decodings comparable: body.details as rendered
// (the Scanner's mapping keeps one text under a usual key as the text, go-json as a
// map; description renders both the same).
func normalized(ins []incident) []incident {
	out := make([]incident, len(ins))
	for i, in := range ins {
		if in.Body != nil {
			in.Body = &incidentBody{Details: description(in.Body.Details)}
		}
		out[i] = in
	}
	return out
}

// compareList checks the reader (trackerhttp.Scanner with decode.go's
// mapping) against go-json on one answer: where the reader takes it, go-json must too and give the same incidents. It
// returns whether the reader took it.
func compareList(t *testing.T, raw []byte) bool {
	t.Helper()
	var fast, lib incidentList
	took := scanList(raw, &fast) == nil
	err := json.Unmarshal(raw, &lib)
	if !took {
		return false
	}
	if err != nil {
		t.Fatalf("the reader took a page go-json refuses (%v): %q", err, raw)
	}
	fast.Incidents, lib.Incidents = normalized(fast.Incidents), normalized(lib.Incidents)
	if !reflect.DeepEqual(fast, lib) {
		t.Fatalf("page decoded differently:\nreader %+v\ngo-json %+v\nfrom %q", fast, lib, raw)
	}
	return true
}

func compareAnswer(t *testing.T, raw []byte) bool {
	t.Helper()
	var fast incident
	var lib struct {
		Incident incident `json:"incident"`
	}
	took := scanAnswer(raw, &fast) == nil
	err := json.Unmarshal(raw, &lib)
	if !took {
		return false
	}
	if err != nil {
		t.Fatalf("the reader took an incident go-json refuses (%v): %q", err, raw)
	}
	f, l := normalized([]incident{fast}), normalized([]incident{lib.Incident})
	if !reflect.DeepEqual(f, l) {
		t.Fatalf("incident decoded differently:\nreader %+v\ngo-json %+v\nfrom %q", f[0], l[0], raw)
	}
	return true
}

// shapeExample is the vendor's example answer of GET path, from the shape.
func shapeExample(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/pagerduty.shape.json")
	if err != nil {
		t.Fatal(err)
	}
	var shape struct {
		Paths map[string]struct {
			Get struct {
				Responses map[string]struct {
					Content map[string]struct {
						Examples map[string]struct {
							Value json.RawMessage `json:"value"`
						} `json:"examples"`
					} `json:"content"`
				} `json:"responses"`
			} `json:"get"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b, &shape); err != nil {
		t.Fatal(err)
	}
	v := shape.Paths[path].Get.Responses["200"].Content["application/json"].Examples["response"].Value
	if len(v) == 0 {
		t.Fatalf("no example answer for GET %s in the shape", path)
	}
	return v
}

// fakeAnswers are the fake's answers to a listing of n incidents and to
// one incident, as the client reads them.
func fakeAnswers(t testing.TB, n int) (list, one []byte) {
	t.Helper()
	fake := pagerdutyfake.NewSandbox()
	now := time.Now().UTC()
	for i := range n {
		fake.AddIncident(pagerdutyfake.Incident{Title: "Bench \"incident\" é " + strings.Repeat("x", i), Details: "Steps:\n\n1. **one**\n", ServiceID: "PSVC001",
			Assignees: []string{pagerdutyfake.SandboxUserID, "PRITA01"}, Created: now.Add(-time.Hour), Updated: now})
	}
	h := http.Header{"Authorization": {"Token token=" + pagerdutyfake.SandboxKey}}
	code, _, body := fakehttp.Call(fake, http.MethodGet, "/incidents?"+listQuery(pagerdutyfake.SandboxUserID, 0, PageSize).Encode(), h)
	if code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	code, _, got := fakehttp.Call(fake, http.MethodGet, "/incidents/PINC0001", h)
	if code != http.StatusOK {
		t.Fatalf("get: %d %s", code, got)
	}
	return []byte(body), []byte(got)
}

// The reader must take the vendor's example answers and the fake's, and
// decode them as go-json does.
func TestReaderDecodesAsGoJSON(t *testing.T) {
	t.Parallel()
	list, one := fakeAnswers(t, 3)
	for name, raw := range map[string][]byte{"shape list": shapeExample(t, "/incidents"), "fake list": list} {
		if !compareList(t, raw) {
			t.Errorf("%s: the reader did not take it", name)
		}
	}
	for name, raw := range map[string][]byte{"shape incident": shapeExample(t, "/incidents/{id}"), "fake incident": one} {
		if !compareAnswer(t, raw) {
			t.Errorf("%s: the reader did not take it", name)
		}
	}
	taken := []string{
		`{"incident":{"id":"P1","title":"t\u00e9 \"q\" \n","body":{"details":"plain"}}}`,
		`{"incident":{"id":"P1","body":{"details":{"description":"d","extra":[1,{"a":null}]}}}}`,
		`{"incident":{"id":"P1","body":{"details":{"summary":"esc\ttab"}}}}`,
		`{"incident":{"id":"P1","body":{"details":[1,2.5e3,-0,true,null]}}}`,
		`{"incident":{"id":"P1","body":null,"service":null,"assignments":null,"first_trigger_log_entry":{"agent":null}}}`,
		`{"incident":{"id":"P1","assignments":[],"first_trigger_log_entry":{"agent":{"id":"PU","name":"N","email":"e@x"}}}}`,
		`{"incident":{"id":"P1","incident_number":-42,"title":null,"created_at":"2025-01-02T03:04:05.123+02:00"}}`,
		` {"incident" : { "id" : "P1" , "unknown" : {"deep":[[[{}]]]} } } ` + "\n",
		`{"incident":{"id":"P1","id":"P2","body":{"details":{"description":"a","description":"b"}}}}`,
	}
	// Nesting the Scanner follows (to depth 1,000; the reader before it
	// left anything deeper than 64 to go-json) and go-json decodes alike.
	taken = append(taken, `{"incident":{"id":"P1","x":`+strings.Repeat("[", 500)+strings.Repeat("]", 500)+`}}`)
	for _, in := range taken {
		if !compareAnswer(t, []byte(in)) {
			t.Errorf("the reader did not take %s", in)
		}
	}
	for _, in := range []string{`{"incidents":[],"more":false,"total":null}`, `{"incidents":null,"offset":0,"limit":100}`} {
		if !compareList(t, []byte(in)) {
			t.Errorf("the reader did not take %s", in)
		}
	}
	// Left to go-json: keys that match a field but for case, other types,
	// bad syntax, numbers go-json reads by its own rules.
	for _, in := range []string{
		`{"incident":{"ID":"P1"}}`, `{"Incident":{"id":"P1"}}`, `{"incident":{"id":1}}`, `{"incident":null}`,
		`{"incident":{"id":"P1","incident_number":1.5}}`, `{"incident":{"id":"P1"}} x`, `{"incident":{"id":"P1",}}`,
		`{"incident":{"id":"P1","body":{"details":{"description":"d"}}`, `{"incident":{"id":"P1\x01"}}`, `{"incident":{"service":"s"}}`,
		`{"incident":{"i\u0064":"P1"}}`, `{"incident":{"assignments":[null]}}`, `{"incident":{"x":01}}`, `{"incident":{"x":tru}}`,
		`{"incident":{"id":"P1","x":` + strings.Repeat("[", 1001) + strings.Repeat("]", 1001) + `}}`, "{\"incident\":{\"x\":\"\x01\"}}",
		`{"incident":{"ſtatus":"s"}}`,
	} {
		if compareAnswer(t, []byte(in)) {
			t.Errorf("the reader took %s", in)
		}
		// decodeJSON then gives go-json's result, or its error.
		var got incident
		var want struct {
			Incident incident `json:"incident"`
		}
		gotErr, wantErr := incidentAnswer{&got}.decodeJSON([]byte(in)), json.Unmarshal([]byte(in), &want)
		if (gotErr != nil) != (wantErr != nil) || gotErr == nil && !reflect.DeepEqual(got, want.Incident) {
			t.Errorf("decodeJSON(%s) = %+v, %v; go-json %+v, %v", in, got, gotErr, want.Incident, wantErr)
		}
	}
}

// Cuts and one-byte changes of the answers: where the reader takes the
// result, it must agree with go-json.
func TestReaderNeverTakesWhatGoJSONDecodesOtherwise(t *testing.T) {
	t.Parallel()
	list, one := fakeAnswers(t, 2)
	answers := [][]byte{one, shapeExample(t, "/incidents/{id}")}
	lists := [][]byte{list, shapeExample(t, "/incidents")}
	for _, set := range []struct {
		raws    [][]byte
		compare func(*testing.T, []byte) bool
	}{{answers, compareAnswer}, {lists, compareList}} {
		for _, raw := range set.raws {
			// Cuts and one-byte changes at every position of the first
			// 1,200 bytes (an incident and more); after, cuts at every 11th
			// and changes at every 29th (the test stays within a few seconds).
			for i := range raw {
				if i <= 1200 || i%11 == 0 {
					set.compare(t, raw[:i])
				}
				if i > 1200 && i%29 != 0 {
					continue
				}
				for _, c := range []byte{'"', '}', ']', ',', ':', 'x', '1', ' ', '\\', 'n', 0x80, 0} {
					b := append([]byte(nil), raw...)
					b[i] = c
					set.compare(t, b)
				}
			}
		}
	}
}

func FuzzIncidentDecoding(f *testing.F) {
	list, one := fakeAnswers(f, 2)
	f.Add(list)
	f.Add(one)
	f.Add(shapeExample(f, "/incidents"))
	f.Add(shapeExample(f, "/incidents/{id}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		compareList(t, raw)
		compareAnswer(t, raw)
	})
}

// times parses created_at and updated_at as go-json's time.Time decoding
// did (the fields were time.Time): the same instant and zone, and an error
// where it refused the text.
func TestTimesParseAsTimeDecoding(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"2015-10-06T21:30:42Z", "2025-01-02T03:04:05.123456789+02:00", "2025-01-02T03:04:05-07:30", "2025-01-02T03:04:05.5Z",
		"", "2025-01-02", "2025-01-02 03:04:05Z", "not a time", "2025-13-02T03:04:05Z",
	} {
		in := incident{ID: "P1", Created: s, Updated: s}
		err := in.times()
		var want time.Time
		var wantErr error
		if s != "" {
			wantErr = json.Unmarshal([]byte(`"`+s+`"`), &want)
		}
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%q: error %v, time.Time's decoding %v", s, err, wantErr)
			continue
		}
		if err == nil && (!in.CreatedAt.Equal(want) || !in.UpdatedAt.Equal(want) || in.CreatedAt.String() != want.String()) {
			t.Errorf("%q: %v, time.Time's decoding %v", s, in.CreatedAt, want)
		}
	}
}
