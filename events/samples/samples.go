// Package samples holds what the handlers' tests of the files in events/ share: the
// check that a sample survives a round trip through the Go type its handler decodes it
// into, so that a misspelt or misplaced member cannot hide in a sample.
package samples

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
)

// RoundTrip decodes raw into v (an aws-lambda-go events type, say) and fails t unless
// encoding v again keeps every member of raw with its value: a member the type does not
// know would be lost, and with it the sample's meaning.
func RoundTrip(t testing.TB, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode into %T: %v", v, err)
	}
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	var orig, back any
	if err := json.Unmarshal(raw, &orig); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &back); err != nil {
		t.Fatal(err)
	}
	if path, ok := Subset(orig, back, "$"); !ok {
		t.Errorf("member %s of the file does not survive a round trip through %T", path, v)
	}
}

// Subset reports whether every member of a (decoded JSON) is in b with the same value;
// when not, it returns the path of the first member that is not, starting from path.
func Subset(a, b any, path string) (string, bool) {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return path, false
		}
		for k, av := range a {
			if p, ok := Subset(av, bm[k], path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		bs, ok := b.([]any)
		if !ok || len(bs) != len(a) {
			return path, false
		}
		for i := range a {
			if p, ok := Subset(a[i], bs[i], path+"["+strconv.Itoa(i)+"]"); !ok {
				return p, false
			}
		}
		return "", true
	}
	return path, reflect.DeepEqual(a, b)
}
