package eventcontract

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/orderflow/orderflow/events/samples"
	"github.com/orderflow/orderflow/events/schemas"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/tools/template"
)

// repoRoot is where template.yaml, infra/ and events/ live.
const repoRoot = "../.."

// TestGeneratedFilesAreUpToDate fails when a schema changed and `go run ./cmd/eventcontract`
// was not run: the committed files must be what Generate writes now.
func TestGeneratedFilesAreUpToDate(t *testing.T) {
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		committed, err := os.ReadFile(filepath.Join(repoRoot, f.Path))
		if err != nil {
			t.Fatalf("%v (run `go run ./cmd/eventcontract`)", err)
		}
		if !bytes.Equal(committed, f.Data) {
			t.Errorf("%s is not what the schemas generate: run `go run ./cmd/eventcontract` and commit the result", f.Path)
		}
	}
}

// registrySchemas compiles the schemas of the committed registry template as EventBridge
// would get them (Fn::Sub with the default EventSource), with a draft-4 validator.
func registrySchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	tpl, err := template.Load(filepath.Join(repoRoot, RegistryTemplatePath))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*jsonschema.Schema{}
	for _, id := range tpl.IDs("AWS::EventSchemas::Schema") {
		p := tpl.Resources[id].Properties
		if p["Type"] != "JSONSchemaDraft4" {
			t.Errorf("%s: Type %v, want JSONSchemaDraft4", id, p["Type"])
		}
		sub, _ := p["Content"].(map[string]any)
		content, ok := sub["Fn::Sub"].(string)
		if !ok {
			t.Fatalf("%s: Content is not an Fn::Sub string", id)
		}
		content = strings.ReplaceAll(content, "${EventSource}", event.DefaultSource)
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(content))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if m, _ := doc.(map[string]any); m["$schema"] != Draft4URI {
			t.Fatalf("%s: $schema %v", id, m["$schema"])
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft4)
		c.AssertFormat()
		if err := c.AddResource(id+".json", doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile(id + ".json")
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		dt, _ := doc.(map[string]any)["x-amazon-events-detail-type"].(string)
		out[dt] = s
	}
	var got []string
	for dt := range out {
		got = append(got, dt)
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(event.DetailTypes)); !slices.Equal(got, want) {
		t.Fatalf("registry schemas for %v, want one per detail-type %v", got, want)
	}
	return out
}

// candidate is a whole EventBridge event to run through both schemas.
type candidate struct {
	name string
	raw  []byte
	good bool // expected verdict, when known; checked against the 2020-12 schema too
}

// candidates returns every sample event of the repository: the published examples,
// the EventBridge samples in events/ (notify-*.json) and the records of the Kinesis
// sample (analytics-batch.json), and each broken detail in a delivered envelope.
func candidates(t *testing.T) []candidate {
	t.Helper()
	var out []candidate
	exs, err := Examples()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range exs {
		out = append(out, candidate{"example " + ex.Name, ex.Delivered, true})
	}
	for _, name := range []string{"notify-confirmed.json", "notify-cancelled.json"} {
		raw, err := os.ReadFile(filepath.Join(samples.Dir(), name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, candidate{name, raw, true})
	}
	raw, err := os.ReadFile(filepath.Join(samples.Dir(), "analytics-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var batch struct {
		Records []struct {
			Kinesis struct{ Data string } `json:"kinesis"`
		}
	}
	if err := json.Unmarshal(raw, &batch); err != nil {
		t.Fatal(err)
	}
	for i, r := range batch.Records {
		data, err := base64.StdEncoding.DecodeString(r.Kinesis.Data)
		if err != nil || !json.Valid(data) || !bytes.Contains(data, []byte(`"detail-type"`)) {
			continue // the sample's poison records are not events
		}
		var e struct {
			DetailType string `json:"detail-type"`
		}
		if json.Unmarshal(data, &e) == nil && slices.Contains(event.DetailTypes, e.DetailType) {
			out = append(out, candidate{"analytics-batch record " + strconv.Itoa(i), data, schemas.ValidateEvent(data) == nil})
		}
	}
	broken, err := BrokenDetails()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range broken {
		if !json.Valid(b.Detail) {
			continue // an envelope cannot carry it: a target never receives it
		}
		d, err := Deliver(b.DetailType, b.Detail, event.DefaultSource, "b-1", exampleStart)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, candidate{"broken " + b.Name, d, false})
	}
	return out
}

// The registry's draft-4 schemas accept every sample event the draft 2020-12 schemas
// accept and reject every one they reject.
func TestRegistrySchemasAgreeWithTheSchemas(t *testing.T) {
	reg := registrySchemas(t)
	cands := candidates(t)
	var good, bad int
	for _, c := range cands {
		t.Run(c.name, func(t *testing.T) {
			want := schemas.ValidateEvent(c.raw)
			if (want == nil) != c.good {
				t.Fatalf("2020-12 schema: %v, want good=%v", want, c.good)
			}
			var e struct {
				DetailType string `json:"detail-type"`
			}
			if err := json.Unmarshal(c.raw, &e); err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(c.raw))
			if err != nil {
				t.Fatal(err)
			}
			got := reg[e.DetailType].Validate(doc)
			if (got == nil) != (want == nil) {
				t.Fatalf("draft 4: %v; draft 2020-12: %v", got, want)
			}
		})
		if c.good {
			good++
		} else {
			bad++
		}
	}
	if good < len(event.DetailTypes) || bad < 10 {
		t.Fatalf("%d good and %d broken candidates: too few to compare the schemas", good, bad)
	}
}

// The envelope is checked too: a target always receives these members.
func TestRegistrySchemasCheckTheEnvelope(t *testing.T) {
	reg := registrySchemas(t)
	exs, err := Examples()
	if err != nil {
		t.Fatal(err)
	}
	for _, member := range []string{"id", "account", "time", "detail"} {
		var m map[string]any
		if err := json.Unmarshal(exs[0].Delivered, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, member)
		if err := reg[exs[0].Event.DetailType].Validate(m); err == nil {
			t.Errorf("an event without %q passed", member)
		}
	}
}
