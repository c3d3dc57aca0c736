package inventory

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/events/samples"
	stock "github.com/orderflow/orderflow/pkg/inventory"
)

// TestSampleEvents runs every events/inventory-*.json through the handler. A new file must
// get an entry here, so no sample event goes untested.
func TestSampleEvents(t *testing.T) {
	type outcome struct {
		failed   int
		succeed  int // Succeed answers
		reserved bool
		released bool
	}
	want := map[string]outcome{
		"inventory-reserve.json": {succeed: 2, reserved: true},
		"inventory-release.json": {succeed: 1, released: true},
	}
	samples.Run(t, "inventory", want, func(t *testing.T, raw []byte, w outcome) {
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
