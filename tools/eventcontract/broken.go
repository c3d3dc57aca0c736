package eventcontract

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/orderflow/orderflow/pkg/event"
)

// Broken is a detail a publisher could get wrong, which every schema of the contract (the
// draft 2020-12 files and what is derived from them) must reject.
type Broken struct {
	Name       string
	DetailType string
	Detail     []byte
}

// BrokenDetails returns the mistakes the schemas must catch, each made on one of the
// Examples: a missing, mistyped, unknown or out-of-range member, a status or failure
// reason that does not belong to the detail-type, malformed JSON.
func BrokenDetails() ([]Broken, error) {
	exs, err := Examples()
	if err != nil {
		return nil, err
	}
	byName := map[string]Example{}
	for _, e := range exs {
		byName[e.Name] = e
	}
	cases := []struct {
		name, example string
		set           map[string]any // JSON pointer -> new value; nil deletes
		detailType    string         // "" = the example's
	}{
		{"missing event id", "created", map[string]any{"/metadata/eventId": nil}, ""},
		{"empty event id", "created", map[string]any{"/metadata/eventId": ""}, ""},
		{"other schema version", "created", map[string]any{"/metadata/schemaVersion": "0.9"}, ""},
		// jsonschema v6.0.2 took the number 1 for the const "1.0" (fixed in v6.0.3).
		{"schema version as a number", "created", map[string]any{"/metadata/schemaVersion": 1}, ""},
		{"bad occurredAt", "created", map[string]any{"/metadata/occurredAt": "yesterday"}, ""},
		{"unknown metadata member", "created", map[string]any{"/metadata/traceId": "x"}, ""},
		{"float total", "confirmed", map[string]any{"/data/total": 12.5}, ""},
		{"negative total", "confirmed", map[string]any{"/data/total": -1}, ""},
		{"total as string", "confirmed", map[string]any{"/data/total": "2500"}, ""},
		{"payment token leaked", "created", map[string]any{"/data/paymentToken": "tok_visa"}, ""},
		{"lowercase currency", "created", map[string]any{"/data/currency": "usd"}, ""},
		{"order id not a uuid", "created", map[string]any{"/data/orderId": "order-1"}, ""},
		{"no lines", "created", map[string]any{"/data/lines": []any{}}, ""},
		{"zero quantity", "created", map[string]any{"/data/lines/0/quantity": 0}, ""},
		{"unknown line member", "created", map[string]any{"/data/lines/0/discount": 1}, ""},
		{"confirmed line without price", "confirmed", map[string]any{"/data/lines/0/unitPrice": nil}, ""},
		{"cancelled without reason", "cancelled-out-of-stock", map[string]any{"/data/failureReason": nil}, ""},
		{"cancelled with a rejection reason", "cancelled-out-of-stock", map[string]any{"/data/failureReason": "UNKNOWN_SKU"}, ""},
		{"status of another detail-type", "created", nil, event.OrderConfirmed},
		{"missing data", "created", map[string]any{"/data": nil}, ""},
	}
	out := make([]Broken, 0, len(cases)+1)
	for _, c := range cases {
		ex, ok := byName[c.example]
		if !ok {
			return nil, fmt.Errorf("broken %q: no example %q", c.name, c.example)
		}
		var doc any
		if err := json.Unmarshal(ex.Detail, &doc); err != nil {
			return nil, err
		}
		for ptr, v := range c.set {
			if doc, err = setPointer(doc, ptr, v); err != nil {
				return nil, fmt.Errorf("broken %q: %w", c.name, err)
			}
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		dt := c.detailType
		if dt == "" {
			dt = ex.Event.DetailType
		}
		out = append(out, Broken{Name: c.name, DetailType: dt, Detail: raw})
	}
	out = append(out, Broken{Name: "not json", DetailType: event.OrderCreated, Detail: []byte(`{"metadata":`)})
	return out, nil
}

// setPointer sets (or, for a nil value, deletes) the member a JSON pointer names in a
// decoded JSON document. Array indexes must exist; object members are created.
func setPointer(doc any, ptr string, v any) (any, error) {
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	var set func(cur any, i int) (any, error)
	set = func(cur any, i int) (any, error) {
		key := parts[i]
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if v == nil {
					delete(c, key)
				} else {
					c[key] = v
				}
				return c, nil
			}
			next, err := set(c[key], i+1)
			c[key] = next
			return c, err
		case []any:
			var n int
			if _, err := fmt.Sscanf(key, "%d", &n); err != nil || n < 0 || n >= len(c) {
				return nil, fmt.Errorf("%s: no index %q", ptr, key)
			}
			if last {
				c[n] = v
				return c, nil
			}
			next, err := set(c[n], i+1)
			c[n] = next
			return c, err
		}
		return nil, fmt.Errorf("%s: %q is not in an object or array", ptr, key)
	}
	return set(doc, 0)
}
