package inventory

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	stock "github.com/orderflow/orderflow/pkg/inventory"
)

// TestSampleEvents runs every events/inventory-*.json through the handler. A new file must
// get an entry here, so no sample event goes untested.
func TestSampleEvents(t *testing.T) {
	want := map[string]struct {
		failed   int
		succeed  int // Succeed answers
		reserved bool
		released bool
	}{
		"inventory-reserve.json": {succeed: 2, reserved: true},
		"inventory-release.json": {succeed: 1, released: true},
	}
	files, err := filepath.Glob("../../../events/inventory-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events found: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("%s has no expected outcome in this test; add one", name)
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.SQSEvent
			roundTrip(t, raw, &ev)

			tokens := &fakeTokens{}
			var reserves, releases int
			store := &fakeStore{
				reserve: func(context.Context, string, []stock.Line) error { reserves++; return nil },
				release: func(context.Context, string) error { releases++; return nil },
			}
			h := &Handler{Store: store, Tokens: tokens, Concurrency: 1, Log: quiet()}
			resp, err := h.Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.BatchItemFailures) != w.failed {
				t.Errorf("failures = %v, want %d", resp.BatchItemFailures, w.failed)
			}
			if len(tokens.calls) != w.succeed {
				t.Errorf("answers = %+v, want %d", tokens.calls, w.succeed)
			}
			for _, c := range tokens.calls {
				switch out := c.Output.(type) {
				case Reserved:
					if !w.reserved || !out.Reserved || out.OrderID == "" {
						t.Errorf("unexpected answer %+v", c)
					}
				case Released:
					if !w.released || !out.Released || out.OrderID == "" {
						t.Errorf("unexpected answer %+v", c)
					}
				default:
					t.Errorf("unexpected answer %+v", c)
				}
			}
			if w.reserved && reserves != w.succeed || w.released && releases != w.succeed {
				t.Errorf("store calls: %d reserves, %d releases", reserves, releases)
			}
		})
	}
}

// roundTrip decodes raw into v (an aws-lambda-go events type) and checks that encoding v
// again keeps every member of the file: a misspelt or misplaced member would be lost.
func roundTrip(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode into %T: %v", v, err)
	}
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var orig, back any
	if err := json.Unmarshal(raw, &orig); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &back); err != nil {
		t.Fatal(err)
	}
	if path, ok := subset(orig, back, "$"); !ok {
		t.Errorf("member %s of the file does not survive a round trip through %T", path, v)
	}
}

// subset reports whether every member of a is in b with the same value.
func subset(a, b any, path string) (string, bool) {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return path, false
		}
		for k, av := range a {
			if p, ok := subset(av, bm[k], path+"."+k); !ok {
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
			if p, ok := subset(a[i], bs[i], path+"["+strconv.Itoa(i)+"]"); !ok {
				return p, false
			}
		}
		return "", true
	}
	return path, reflect.DeepEqual(a, b)
}
