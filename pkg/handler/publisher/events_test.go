package publisher_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/orderflow/orderflow/events/samples"
	"github.com/orderflow/orderflow/events/schemas"
)

// TestEventFiles runs every events/publisher-*.json (what `sam local invoke
// PublisherFunction` passes) through aws-lambda-go's handler wrapper and the publisher.
// A new file must get an entry in the table below, so no sample event goes untested.
func TestEventFiles(t *testing.T) {
	type outcome struct {
		published []string // detail-types
		failed    bool     // the record is reported as a batch item failure
	}
	want := map[string]outcome{
		"publisher-insert.json":           {published: []string{"Order Created"}},
		"publisher-modify-confirmed.json": {published: []string{"Order Confirmed"}},
		"publisher-modify-validated.json": {},
		"publisher-poison.json":           {failed: true},
	}
	samples.Run(t, "publisher", want, func(t *testing.T, raw []byte, tt outcome) {
		var ev events.DynamoDBEvent
		samples.RoundTrip(t, raw, &ev)
		r := newRecorder()
		out, err := lambda.NewHandler(handler(r, nil).Handle).Invoke(context.Background(), raw)
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		var resp events.DynamoDBEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response %s: %v", out, err)
		}
		if got := len(resp.BatchItemFailures) == 1 && resp.BatchItemFailures[0].ItemIdentifier == ev.Records[0].Change.SequenceNumber; got != tt.failed {
			t.Fatalf("batch item failures %v, want failed=%v", resp.BatchItemFailures, tt.failed)
		}
		if len(r.events) != len(tt.published) {
			t.Fatalf("published %d events, want %v", len(r.events), tt.published)
		}
		for i, e := range r.events {
			if e.DetailType != tt.published[i] {
				t.Errorf("event %d is %q, want %q", i, e.DetailType, tt.published[i])
			}
			detail, _ := json.Marshal(e.Detail)
			if err := schemas.Validate(e.DetailType, detail); err != nil {
				t.Errorf("schema: %v", err)
			}
		}
	})
}
