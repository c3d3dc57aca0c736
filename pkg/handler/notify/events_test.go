package notify

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/events/samples"
	"github.com/orderflow/orderflow/events/schemas"
)

// TestSampleEvents runs every events/notify-*.json through the handler, after checking it
// against its business-event schema. A new file must get an entry here.
func TestSampleEvents(t *testing.T) {
	type outcome struct {
		eventType string
		text      string
	}
	want := map[string]outcome{
		"notify-confirmed.json": {"OrderConfirmed",
			"Your order 0190f3c2-7a1e-7c4b-9d2e-3f4a5b6c7d01 is confirmed: 2 items, USD 25.00."},
		"notify-cancelled.json": {"OrderCancelled",
			"Your order 0190f3c2-7a1e-7c4b-9d2e-3f4a5b6c7d02 was cancelled: an item is out of stock. You have not been charged."},
	}
	samples.Run(t, "notify", want, func(t *testing.T, raw []byte, w outcome) {
		if err := schemas.ValidateEvent(raw); err != nil {
			t.Errorf("schema: %v", err)
		}
		var ev events.EventBridgeEvent
		samples.RoundTrip(t, raw, &ev)

		markers, sns := &fakeMarkers{}, &fakeTopic{}
		h := &Handler{Markers: markers, Topic: sns, Log: quiet()}
		for range 2 { // the second delivery is a duplicate
			if err := h.Handle(context.Background(), ev); err != nil {
				t.Fatalf("Handle = %v", err)
			}
		}
		if len(sns.sent) != 1 {
			t.Fatalf("published %d, want 1", len(sns.sent))
		}
		var n Notification
		if err := json.Unmarshal([]byte(sns.sent[0].Body), &n); err != nil {
			t.Fatal(err)
		}
		if sns.sent[0].Attributes["eventType"] != w.eventType || n.Text != w.text {
			t.Errorf("sent %+v / %+v, want eventType %s, text %q", sns.sent[0].Attributes, n, w.eventType, w.text)
		}
	})
}
