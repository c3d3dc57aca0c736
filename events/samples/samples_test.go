package samples

import (
	"encoding/json"
	"testing"
)

func TestSubset(t *testing.T) {
	decode := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		a, b string
		path string
		ok   bool
	}{
		{`{"x":1,"y":{"z":[1,2]}}`, `{"x":1,"y":{"z":[1,2]},"extra":true}`, "", true},
		{`{"x":1}`, `{"x":2}`, "$.x", false},
		{`{"y":{"z":[1,2]}}`, `{"y":{"z":[1]}}`, "$.y.z", false},
		{`{"y":{"z":[{"k":"v"}]}}`, `{"y":{"z":[{"k":"w"}]}}`, "$.y.z[0].k", false},
		{`{"y":{"z":1}}`, `{"y":"z"}`, "$.y", false},
		{`{"missing":null}`, `{}`, "", true}, // an explicit null is what a type drops with omitempty
	}
	for _, tt := range tests {
		path, ok := Subset(decode(tt.a), decode(tt.b), "$")
		if ok != tt.ok || path != tt.path {
			t.Errorf("Subset(%s, %s) = %q, %v; want %q, %v", tt.a, tt.b, path, ok, tt.path, tt.ok)
		}
	}
}

// recorder is a testing.TB that records failures instead of failing the test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestRoundTripFindsALostMember(t *testing.T) {
	type known struct {
		Name string `json:"name"`
	}
	r := &recorder{TB: t}
	RoundTrip(r, []byte(`{"name":"a"}`), &known{})
	if r.failed {
		t.Error("a sample the type fully knows failed the round trip")
	}
	r = &recorder{TB: t}
	RoundTrip(r, []byte(`{"name":"a","nmae":"typo"}`), &known{})
	if !r.failed {
		t.Error("a member the type does not know passed the round trip")
	}
}
