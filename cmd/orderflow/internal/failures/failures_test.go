package failures

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// A record of either kind of stream reads back as written: its batch, the function, the
// reason and the payload, whether AWS wrote the payload as a string or as the event.
func TestRecordRoundTrip(t *testing.T) {
	ddb := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{{EventName: "INSERT",
		Change: events.DynamoDBStreamRecord{SequenceNumber: "42", Keys: map[string]events.DynamoDBAttributeValue{"order_id": events.NewStringAttribute("o-1")}}}}}
	kin := events.KinesisEvent{Records: []events.KinesisEventRecord{{Kinesis: events.KinesisRecord{SequenceNumber: "7", Data: []byte("x")}}}}
	at := time.Date(2026, 11, 30, 9, 8, 7, 0, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name       string
		rec        Record
		event      any
		raw        bool // the payload is the event itself, not a string
		wantReason string
	}{
		{"dynamodb", Record{RequestContext: RequestContext{FunctionArn: "arn:aws:lambda:us-east-1:1:function:publisher:$LATEST", Condition: "RetryAttemptsExhausted", ApproximateInvokeCount: 11},
			ResponseContext: ResponseContext{FunctionError: "Unhandled"}, DDBStreamBatchInfo: &BatchInfo{ShardID: "s-1", StartSequenceNumber: "42", EndSequenceNumber: "42", BatchSize: 1}},
			ddb, false, "lambda publisher RetryAttemptsExhausted after 11 invokes (Unhandled): dynamodb s-1 seq 42..42 (1 records)"},
		{"kinesis, payload as the event", Record{RequestContext: RequestContext{FunctionArn: "arn:aws:lambda:us-east-1:1:function:analytics", Condition: "RecordAgeExceeded", ApproximateInvokeCount: 1},
			KinesisBatchInfo: &BatchInfo{ShardID: "shardId-0", StartSequenceNumber: "7", EndSequenceNumber: "7", BatchSize: 1}},
			kin, true, "lambda analytics RecordAgeExceeded after 1 invokes: kinesis shardId-0 seq 7..7 (1 records)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec
			if tc.raw {
				rec.Payload, _ = json.Marshal(tc.event)
			} else if err := rec.SetPayload(tc.event); err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			var got Record
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if r := got.Reason(); r != tc.wantReason {
				t.Errorf("reason %q, want %q", r, tc.wantReason)
			}
			p, err := got.EventJSON()
			want, _ := json.Marshal(tc.event)
			if err != nil || string(p) != string(want) {
				t.Errorf("event %s (%v), want %s", p, err, want)
			}
			if _, kind := got.Batch(); kind == "dynamodb" {
				ev, err := got.DynamoDBEvent()
				if err != nil || ev.Records[0].Change.Keys["order_id"].String() != "o-1" {
					t.Errorf("dynamodb event %+v (%v)", ev, err)
				}
			} else if ev, err := got.KinesisEvent(); err != nil || string(ev.Records[0].Kinesis.Data) != "x" {
				t.Errorf("kinesis event %+v (%v)", ev, err)
			}
		})
	}
	key := Key("uuid-1", "shardId-0", at, "r1")
	if key != "aws/lambda/uuid-1/shardId-0/2026/11/30/2026-11-30T08.08.07-r1" || Mapping(key) != "uuid-1" || Mapping("raw/x") != "" {
		t.Errorf("key %q, mapping %q", key, Mapping(key))
	}
	if _, err := (Record{}).EventJSON(); !errors.Is(err, ErrNoPayload) {
		t.Errorf("a record without payload: %v, want ErrNoPayload", err)
	}
}
