package inventory

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/events/samples"
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
			samples.RoundTrip(t, raw, &ev)

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
