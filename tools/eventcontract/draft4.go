package eventcontract

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Draft4URI is the $schema of a JSON Schema draft 4 document.
const Draft4URI = "http://json-schema.org/draft-04/schema#"

// draft4Same lists the keywords draft 2020-12 and draft 4 share with the same meaning.
// Subschema-valued ones are converted recursively; the others are copied.
var draft4Same = map[string]bool{
	"title": true, "description": true, "default": true, "type": true, "enum": true,
	"multipleOf": true, "maximum": true, "minimum": true, "maxLength": true, "minLength": true,
	"pattern": true, "maxItems": true, "minItems": true, "uniqueItems": true,
	"maxProperties": true, "minProperties": true, "required": true, "format": true,
	"properties": true, "patternProperties": true, "additionalProperties": true, "items": true,
	"allOf": true, "anyOf": true, "oneOf": true, "not": true,
}

// draft4Dropped lists annotations draft 4 has no keyword for and no validator acts on.
var draft4Dropped = map[string]bool{
	"$comment": true, "examples": true, "deprecated": true, "readOnly": true, "writeOnly": true,
	"contentEncoding": true, "contentMediaType": true,
}

// draft4Formats are the formats draft 4 defines; another format would stop being checked.
var draft4Formats = map[string]bool{"date-time": true, "email": true, "hostname": true, "ipv4": true, "ipv6": true, "uri": true}

// Draft4 converts a draft 2020-12 schema document into draft 4 with the same meaning:
// $schema and $id become draft 4's, const becomes a one-value enum, the numeric
// exclusiveMinimum/Maximum become draft 4's boolean form, $defs become definitions (and
// refBase+"/definitions/..." in every $ref to them, so the result can be embedded below
// refBase in another document; "#" for a document of its own), boolean subschemas become
// {} and {"not": {}}, annotations draft 4 lacks are dropped. It returns an error naming
// the keyword for anything draft 4 cannot say (if/then/else, contains, prefixItems,
// unevaluated*, dynamic references, a format draft 4 does not define, an external $ref),
// rather than convert it into a weaker schema.
func Draft4(schema []byte, refBase string) (map[string]any, error) {
	var doc any
	if err := json.Unmarshal(schema, &doc); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema is %T, want an object", doc)
	}
	if s, _ := m["$schema"].(string); s != "https://json-schema.org/draft/2020-12/schema" {
		return nil, fmt.Errorf("$schema %q: want draft 2020-12", m["$schema"])
	}
	out, err := draft4(m, "#", refBase)
	if err != nil {
		return nil, err
	}
	res := out.(map[string]any)
	res["$schema"] = Draft4URI
	return res, nil
}

func draft4(v any, path, refBase string) (any, error) {
	switch s := v.(type) {
	case bool:
		if s {
			return map[string]any{}, nil
		}
		return map[string]any{"not": map[string]any{}}, nil
	case map[string]any:
		return draft4Object(s, path, refBase)
	}
	return nil, fmt.Errorf("%s: a schema must be an object or a boolean, not %T", path, v)
}

func draft4Object(s map[string]any, path, refBase string) (any, error) {
	out := map[string]any{}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys) // errors name the same keyword every run
	sub := func(k string, v any) (any, error) { return draft4(v, path+"/"+k, refBase) }
	for _, k := range keys {
		v := s[k]
		at := path + "/" + k
		switch {
		case k == "$schema":
			// set on the root by Draft4; a nested $schema is not allowed in draft 4
			if path != "#" {
				return nil, fmt.Errorf("%s: nested $schema", at)
			}
		case k == "$id":
			out["id"] = v
		case k == "const":
			if _, both := s["enum"]; both {
				return nil, fmt.Errorf("%s: const beside enum", at)
			}
			out["enum"] = []any{v}
		case k == "exclusiveMinimum" || k == "exclusiveMaximum":
			n, ok := v.(float64)
			if !ok {
				return nil, fmt.Errorf("%s: want a number", at)
			}
			bound := "minimum"
			if k == "exclusiveMaximum" {
				bound = "maximum"
			}
			if _, both := s[bound]; both {
				return nil, fmt.Errorf("%s: beside %s (draft 4 has one bound)", at, bound)
			}
			out[bound] = n
			out[k] = true
		case k == "$defs":
			if path != "#" {
				return nil, fmt.Errorf("%s: $defs below the root", at)
			}
			conv, err := draft4Map(v, at, refBase)
			if err != nil {
				return nil, err
			}
			out["definitions"] = conv
		case k == "$ref":
			ref, _ := v.(string)
			name, ok := strings.CutPrefix(ref, "#/$defs/")
			if !ok || strings.Contains(name, "/") {
				return nil, fmt.Errorf("%s: $ref %q: only references to the document's own $defs convert", at, ref)
			}
			out["$ref"] = refBase + "/definitions/" + name
		case k == "dependentRequired":
			out["dependencies"] = v
		case k == "format":
			if f, _ := v.(string); !draft4Formats[f] {
				return nil, fmt.Errorf("%s: format %q is not one of draft 4's", at, v)
			}
			out[k] = v
		case k == "required":
			if r, _ := v.([]any); len(r) > 0 { // draft 4 forbids an empty required
				out[k] = v
			}
		case k == "properties" || k == "patternProperties":
			conv, err := draft4Map(v, at, refBase)
			if err != nil {
				return nil, err
			}
			out[k] = conv
		case k == "additionalProperties":
			if b, ok := v.(bool); ok {
				out[k] = b // draft 4 takes a boolean here
				continue
			}
			c, err := sub(k, v)
			if err != nil {
				return nil, err
			}
			out[k] = c
		case k == "items" || k == "not":
			c, err := sub(k, v)
			if err != nil {
				return nil, err
			}
			out[k] = c
		case k == "allOf" || k == "anyOf" || k == "oneOf":
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: want an array", at)
			}
			conv := make([]any, len(list))
			for i, e := range list {
				c, err := draft4(e, fmt.Sprintf("%s/%d", at, i), refBase)
				if err != nil {
					return nil, err
				}
				conv[i] = c
			}
			out[k] = conv
		case draft4Dropped[k]:
		case draft4Same[k]:
			out[k] = v
		default:
			return nil, fmt.Errorf("%s: draft 4 has no equivalent of %q", at, k)
		}
	}
	return out, nil
}

// draft4Map converts an object whose values are schemas ($defs, properties).
func draft4Map(v any, at, refBase string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want an object", at)
	}
	out := make(map[string]any, len(m))
	for name, s := range m {
		c, err := draft4(s, at+"/"+name, refBase)
		if err != nil {
			return nil, err
		}
		out[name] = c
	}
	return out, nil
}
