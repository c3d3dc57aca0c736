package eventcontract

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/orderflow/orderflow/events/schemas"
)

// CheckAsyncAPI reports where an AsyncAPI document and the schemas in events/schemas/
// say different things: a detail-type without a channel or a channel of no detail-type, a
// message whose detail schema is not the file of its detail-type (relative $refs are read
// from dir, the document's directory; an embedded schema is compared as is), an event
// pattern or operation that does not match its channel, an example its schema rejects or
// of another detail-type, a message without examples, a delivery promise other than
// Delivery. It returns the problems sorted (File is the document's name).
func CheckAsyncAPI(name string, doc []byte, dir string) []Problem {
	var ps []Problem
	add := func(format string, args ...any) { ps = append(ps, Problem{name, fmt.Sprintf(format, args...)}) }
	var d map[string]any
	if err := yaml.Unmarshal(doc, &d); err != nil {
		return []Problem{{name, "not YAML: " + err.Error()}}
	}
	if v, _ := d["asyncapi"].(string); !strings.HasPrefix(v, "3.") {
		add("asyncapi %v: want an AsyncAPI 3 document", d["asyncapi"])
	}
	want := map[string]string{} // detail-type -> schema file
	for _, n := range schemas.Names() {
		raw, err := schemas.Read(n)
		if err != nil {
			add("%v", err)
			continue
		}
		var s struct{ Title string }
		if err := json.Unmarshal(raw, &s); err != nil {
			add("%s: %v", n, err)
			continue
		}
		want[s.Title] = n
	}
	sendsTo := map[string]bool{}
	for id, o := range mapOf(d["operations"]) {
		op := mapOf(o)
		if op["action"] == "send" {
			sendsTo[refOf(op["channel"])] = true
		} else {
			add("operation %s: action %v; orderflow only sends", id, op["action"])
		}
	}
	seen := map[string]bool{}
	for _, cid := range slices.Sorted(maps.Keys(mapOf(d["channels"]))) {
		ch := mapOf(mapOf(d["channels"])[cid])
		if !sendsTo["#/channels/"+cid] {
			add("channel %s: no operation sends to it", cid)
		}
		msgs := mapOf(ch["messages"])
		if len(msgs) != 1 {
			add("channel %s: %d messages, want one (its detail-type's)", cid, len(msgs))
		}
		for _, mid := range slices.Sorted(maps.Keys(msgs)) {
			m := mapOf(resolve(d, msgs[mid]))
			payload := mapOf(resolve(d, m["payload"]))
			props := mapOf(payload["properties"])
			dt := pinned(props["detail-type"])
			file, known := want[dt]
			if !known {
				add("channel %s: message %s is of detail-type %q, which has no schema in events/schemas/", cid, mid, dt)
				continue
			}
			if seen[dt] {
				add("channel %s: a second channel for %q", cid, dt)
			}
			seen[dt] = true
			pattern := mapOf(ch["x-eventbridge-event-pattern"])
			if got := fmt.Sprint(pattern["detail-type"]); got != fmt.Sprint([]any{dt}) {
				add("channel %s: x-eventbridge-event-pattern detail-type %s, want [%s]", cid, got, dt)
			}
			if err := sameSchema(props["detail"], file, dir); err != nil {
				add("channel %s: detail schema: %v", cid, err)
			}
			if !reflect.DeepEqual(jsonNormal(m["x-orderflow-delivery"]), jsonNormal(Delivery)) {
				add("message %s: x-orderflow-delivery %v, want %v", mid, m["x-orderflow-delivery"], Delivery)
			}
			examples, _ := m["examples"].([]any)
			if len(examples) == 0 {
				add("message %s: no examples", mid)
			}
			for i, e := range examples {
				raw, err := json.Marshal(jsonNormal(mapOf(e)["payload"]))
				if err != nil {
					add("message %s example %d: %v", mid, i, err)
					continue
				}
				var env map[string]any
				_ = json.Unmarshal(raw, &env)
				for _, r := range strs(payload["required"]) {
					if _, ok := env[r]; !ok {
						add("message %s example %d: no %q in the envelope", mid, i, r)
					}
				}
				if env["detail-type"] != dt {
					add("message %s example %d: detail-type %v in the channel of %s", mid, i, env["detail-type"], dt)
				} else if err := schemas.ValidateEvent(raw); err != nil {
					add("message %s example %d: %v", mid, i, err)
				}
			}
		}
	}
	for dt := range want {
		if !seen[dt] {
			add("no channel for %q (events/schemas/%s)", dt, want[dt])
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Message < ps[j].Message })
	return ps
}

// sameSchema checks that a payload's detail schema is the file: a relative $ref to it
// whose target has the file's content, or the file's content embedded.
func sameSchema(detail any, file, dir string) error {
	want, err := schemas.Read(file)
	if err != nil {
		return err
	}
	got := detail
	if r := refOf(detail); r != "" {
		if filepath.Base(r) != file {
			return fmt.Errorf("$ref %s, want the file %s", r, file)
		}
		raw, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			return fmt.Errorf("$ref %s: %w", r, err)
		}
		if err := json.Unmarshal(raw, &got); err != nil {
			return fmt.Errorf("$ref %s: %w", r, err)
		}
	}
	var w any
	if err := json.Unmarshal(want, &w); err != nil {
		return err
	}
	if !reflect.DeepEqual(jsonNormal(got), w) {
		return fmt.Errorf("differs from events/schemas/%s", file)
	}
	return nil
}

// pinned returns the one value an enum or const schema allows, "" otherwise.
func pinned(s any) string {
	m := mapOf(s)
	if c, ok := m["const"].(string); ok {
		return c
	}
	if e, _ := m["enum"].([]any); len(e) == 1 {
		v, _ := e[0].(string)
		return v
	}
	return ""
}

// resolve follows a local $ref ("#/components/...") in the document.
func resolve(doc map[string]any, v any) any {
	r := refOf(v)
	if !strings.HasPrefix(r, "#/") {
		return v
	}
	var cur any = doc
	for _, p := range strings.Split(r[2:], "/") {
		cur = mapOf(cur)[p]
	}
	return cur
}

func refOf(v any) string {
	s, _ := mapOf(v)["$ref"].(string)
	return s
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// jsonNormal returns v as encoding/json would decode it (YAML's ints become float64).
func jsonNormal(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}
