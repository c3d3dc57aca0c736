package eventcontract

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Change is one difference between a released schema and its current version that a
// consumer can notice. Breaking changes can make a consumer fail: on a new event it does
// not expect, or (replaying archived events, validating with the new schema) on an old
// one. The others are additive: new optional members, new enum values, looser bounds.
type Change struct {
	Path     string // where in the event: a JSON pointer, "*" for every array item
	Breaking bool
	What     string
}

func (c Change) String() string {
	kind := "additive"
	if c.Breaking {
		kind = "breaking"
	}
	p := c.Path
	if p == "" {
		p = "(root)"
	}
	return fmt.Sprintf("%s: %s: %s", kind, p, c.What)
}

// versionPath is where the schemaVersion sits in a detail; its const changes with every
// version and is judged by the gate's version rules, not as a change of the contract.
const versionPath = "/metadata/schemaVersion"

// annotations are keywords no validator acts on; changing them changes nothing for a
// consumer (except the root title, the detail-type, compared apart).
var annotations = map[string]bool{"title": true, "description": true, "examples": true, "$comment": true, "default": true,
	"deprecated": true, "readOnly": true, "writeOnly": true}

// lowerBounds and upperBounds: raising a lower bound or lowering an upper one rejects
// events that were valid (breaking); the opposite only admits more (additive).
var lowerBounds = map[string]bool{"minimum": true, "exclusiveMinimum": true, "minLength": true, "minItems": true, "minProperties": true}
var upperBounds = map[string]bool{"maximum": true, "exclusiveMaximum": true, "maxLength": true, "maxItems": true, "maxProperties": true}

// Compare returns the changes from the released schema old to the current new (both
// draft 2020-12 documents of one detail-type), sorted by path. Changed types, removed
// members, members that became required or optional, removed enum values, raised lower
// or lowered upper bounds, changed patterns and formats, a renamed detail-type (the root
// title) and any change of a keyword it cannot reason about are breaking.
func Compare(old, new []byte) ([]Change, error) {
	var o, n map[string]any
	if err := json.Unmarshal(old, &o); err != nil {
		return nil, fmt.Errorf("released schema: %w", err)
	}
	if err := json.Unmarshal(new, &n); err != nil {
		return nil, fmt.Errorf("current schema: %w", err)
	}
	var out []Change
	if o["title"] != n["title"] {
		out = append(out, Change{"", true, fmt.Sprintf("detail-type (title) %v became %v", o["title"], n["title"])})
	}
	for _, k := range []string{"$schema", "$id"} {
		if !reflect.DeepEqual(o[k], n[k]) {
			out = append(out, Change{"", true, fmt.Sprintf("%s %v became %v", k, o[k], n[k])})
		}
	}
	delete(o, "$schema")
	delete(o, "$id")
	delete(n, "$schema")
	delete(n, "$id")
	compareNode(o, n, "", &out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func compareNode(o, n map[string]any, path string, out *[]Change) {
	add := func(breaking bool, format string, args ...any) {
		*out = append(*out, Change{path, breaking, fmt.Sprintf(format, args...)})
	}
	for _, k := range unionKeys(o, n) {
		ov, inOld := o[k]
		nv, inNew := n[k]
		if reflect.DeepEqual(ov, nv) && k != "properties" && k != "items" {
			continue
		}
		switch {
		case annotations[k]:
		case k == "type":
			add(true, "type %v became %v", show(ov, inOld), show(nv, inNew))
		case k == "const" || k == "enum":
			if path == versionPath {
				continue // the gate's version rules judge it
			}
			if (has(o, "const") || has(n, "const")) && (has(o, "enum") || has(n, "enum")) {
				add(true, "%s %v became %v beside an enum or const", k, show(ov, inOld), show(nv, inNew))
				continue
			}
			ovals, nvals := values(k, ov, inOld), values(k, nv, inNew)
			switch {
			case ovals == nil:
				add(true, "values restricted to %v", nvals)
			case nvals == nil:
				add(true, "the %s %v was removed: any value may come", k, ovals)
			default:
				if gone := minus(ovals, nvals); len(gone) > 0 {
					add(true, "enum narrowed: %v no longer allowed", gone)
				}
				if added := minus(nvals, ovals); len(added) > 0 {
					add(false, "enum widened: %v allowed (consumers must handle unknown values)", added)
				}
			}
		case k == "required":
			or, nr := strs(ov), strs(nv)
			for _, m := range minus(nr, or) {
				*out = append(*out, Change{path + "/" + m, true, "became required: events published before lack it"})
			}
			for _, m := range minus(or, nr) {
				*out = append(*out, Change{path + "/" + m, true, "no longer required: consumers relying on it break"})
			}
		case k == "properties":
			op, _ := ov.(map[string]any)
			np, _ := nv.(map[string]any)
			for _, m := range unionKeys(op, np) {
				os, inO := op[m].(map[string]any)
				ns, inN := np[m].(map[string]any)
				switch {
				case inO && !inN:
					*out = append(*out, Change{path + "/" + m, true, "member removed (or renamed)"})
				case !inO && inN:
					if !slices.Contains(strs(n["required"]), m) {
						*out = append(*out, Change{path + "/" + m, false, "new optional member"})
					} // a new required member is reported by "required"
				default:
					compareNode(os, ns, path+"/"+m, out)
				}
			}
		case k == "items":
			os, _ := ov.(map[string]any)
			ns, _ := nv.(map[string]any)
			if os == nil || ns == nil {
				if !reflect.DeepEqual(ov, nv) {
					add(true, "items %v became %v", show(ov, inOld), show(nv, inNew))
				}
				continue
			}
			compareNode(os, ns, path+"/*", out)
		case k == "additionalProperties":
			if ov == false && (!inNew || nv == true) {
				add(false, "members not in the schema allowed")
			} else {
				add(true, "additionalProperties %v became %v", show(ov, inOld), show(nv, inNew))
			}
		case lowerBounds[k] || upperBounds[k]:
			of, oOK := ov.(float64)
			nf, nOK := nv.(float64)
			looser := (oOK && !nOK) || (oOK && nOK && (lowerBounds[k] && nf < of || upperBounds[k] && nf > of))
			if looser {
				add(false, "%s %v became %v (looser)", k, show(ov, inOld), show(nv, inNew))
			} else {
				add(true, "%s %v became %v (stricter)", k, show(ov, inOld), show(nv, inNew))
			}
		default: // pattern, format, multipleOf, $ref, allOf, ...: no proof it is compatible
			add(true, "%s %v became %v", k, show(ov, inOld), show(nv, inNew))
		}
	}
}

func show(v any, present bool) string {
	if !present {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// values returns the allowed values of a const or enum as JSON strings, nil when absent.
func values(k string, v any, present bool) []string {
	if !present {
		return nil
	}
	list := []any{v}
	if k == "enum" {
		list, _ = v.([]any)
	}
	out := []string{}
	for _, x := range list {
		b, _ := json.Marshal(x)
		out = append(out, string(b))
	}
	return out
}

func strs(v any) []string {
	var out []string
	for _, x := range list(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// minus returns the members of a not in b, in a's order.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func has(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// unionKeys returns the keys of a and b, sorted.
func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// joinChanges formats changes one per line, for a gate message.
func joinChanges(cs []Change) string {
	lines := make([]string, len(cs))
	for i, c := range cs {
		lines[i] = "  " + c.String()
	}
	return strings.Join(lines, "\n")
}
