package eventcontract

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDraft4(t *testing.T) {
	const head = `"$schema":"https://json-schema.org/draft/2020-12/schema",`
	tests := []struct {
		name    string
		in      string
		refBase string
		want    string // JSON; "" when an error is expected
		err     string // substring of the error
	}{
		{"id, const, annotations", `{` + head + `"$id":"https://x/s.json","title":"T","examples":[1],"$comment":"c",
			"properties":{"v":{"const":"1.0"}},"required":["v"],"additionalProperties":false}`, "#",
			`{"$schema":"` + Draft4URI + `","id":"https://x/s.json","title":"T","properties":{"v":{"enum":["1.0"]}},"required":["v"],"additionalProperties":false}`, ""},
		{"exclusive bounds", `{` + head + `"exclusiveMinimum":0,"exclusiveMaximum":10}`, "#",
			`{"$schema":"` + Draft4URI + `","minimum":0,"exclusiveMinimum":true,"maximum":10,"exclusiveMaximum":true}`, ""},
		{"defs and refs below a base", `{` + head + `"$defs":{"line":{"type":"object"}},"items":{"$ref":"#/$defs/line"}}`, "#/properties/detail",
			`{"$schema":"` + Draft4URI + `","definitions":{"line":{"type":"object"}},"items":{"$ref":"#/properties/detail/definitions/line"}}`, ""},
		{"boolean subschemas, empty required", `{` + head + `"properties":{"a":true,"b":false},"required":[],"allOf":[{"dependentRequired":{"a":["b"]}}]}`, "#",
			`{"$schema":"` + Draft4URI + `","properties":{"a":{},"b":{"not":{}}},"allOf":[{"dependencies":{"a":["b"]}}]}`, ""},
		{"if/then", `{` + head + `"if":{"type":"object"},"then":{}}`, "#", "", `#/if: draft 4 has no equivalent of "if"`},
		{"prefixItems deep", `{` + head + `"properties":{"a":{"prefixItems":[{}]}}}`, "#", "", `#/properties/a/prefixItems`},
		{"unevaluatedProperties", `{` + head + `"unevaluatedProperties":false}`, "#", "", "unevaluatedProperties"},
		{"format draft 4 lacks", `{` + head + `"properties":{"d":{"type":"string","format":"date"}}}`, "#", "", `format "date"`},
		{"external ref", `{` + head + `"$ref":"other.json"}`, "#", "", "only references to the document's own $defs"},
		{"const beside enum", `{` + head + `"const":1,"enum":[1]}`, "#", "", "const beside enum"},
		{"exclusive beside inclusive", `{` + head + `"minimum":1,"exclusiveMinimum":0}`, "#", "", "beside minimum"},
		{"another draft", `{"$schema":"http://json-schema.org/draft-07/schema#"}`, "#", "", "want draft 2020-12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Draft4([]byte(tc.in), tc.refBase)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(t, got), want) {
				g, _ := json.Marshal(got)
				t.Fatalf("got  %s\nwant %s", g, tc.want)
			}
		})
	}
}

// normalize round-trips v through JSON so that it compares with a decoded document.
func normalize(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
