package audit

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
	"github.com/orderflow/orderflow/tools/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// failedBatch is an S3 on-failure record whose batch holds the Order Confirmed event of
// orderID (as EventBridge puts it on the stream) and a record that is no order event.
func failedBatch(t *testing.T, orderID string) string {
	t.Helper()
	detail := `{"metadata":{"eventId":"` + orderID + `:CONFIRMED","schemaVersion":"1.0","correlationId":"c","occurredAt":"2026-01-01T11:00:00Z"},` +
		`"data":{"orderId":"` + orderID + `","customerId":"c-1","status":"CONFIRMED","currency":"USD","total":500,"lines":[{"sku":"A","quantity":2,"unitPrice":250}],` +
		`"createdAt":"2026-01-01T11:00:00Z","updatedAt":"2026-01-01T11:00:00Z"}}`
	ev := events.KinesisEvent{Records: []events.KinesisEventRecord{
		{Kinesis: events.KinesisRecord{SequenceNumber: "1", Data: []byte(`{"detail-type":"Order Confirmed","detail":` + detail + `}`)}},
		{Kinesis: events.KinesisRecord{SequenceNumber: "2", Data: []byte(`not an order event`)}},
	}}
	rec := failures.Record{RequestContext: failures.RequestContext{FunctionArn: "arn:aws:lambda:us-east-1:1:function:analytics",
		Condition: "RetryAttemptsExhausted", ApproximateInvokeCount: 6},
		KinesisBatchInfo: &failures.BatchInfo{ShardID: "shardId-000000000000", StartSequenceNumber: "1", EndSequenceNumber: "2", BatchSize: 2}}
	if err := rec.SetPayload(ev); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFailedStreamRecordsAreNotLost: a confirmed order whose Order Confirmed event sits,
// with its batch, in the analytics mapping's S3 on-failure destination is missing from
// the metrics and the lake but not lost: listed, no violation. Without that record the
// same gap is a violation.
func TestFailedStreamRecordsAreNotLost(t *testing.T) {
	env := awstest.Env(t)
	tables := map[string][]map[string]ddbtypes.AttributeValue{
		"orders": {orderItem("o1", "CONFIRMED", "500")},
		"inventory": {{"pk": sv("SKU#A"), "stock": nv("8")},
			{"pk": sv("RES#o1"), "state": sv("RESERVED"), "lines": linesOf("A", "2")}},
	}
	key := failures.Key("5c0f7a9e-1d2b-4c3d-8e4f-000000000001", "shardId-000000000000", now, "r1")
	for _, tc := range []struct {
		name    string
		objects map[string]string
		want    string // a violation containing this; "" = pass
	}{
		{"in the on-failure destination", map[string]string{key: failedBatch(t, "o1")}, ""},
		{"nowhere", map[string]string{}, "metrics count 0 confirmed orders"},
		{"another order's event", map[string]string{key: failedBatch(t, "o2")}, "1 confirmed orders have no row in the data lake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := env.CreateBucket(t, env.Name(t, "lake"), tc.objects)
			r := auditTables(t, tables, Config{S3: env.S3(), Bucket: bucket}, tc.want)
			if tc.want == "" && (r.FailedStreamRecords != 2 || strings.Join(r.AnalyticsInDLQ, ",") != "o1:CONFIRMED" ||
				r.DLQMessages["s3://"+bucket+"/"+failures.Prefix] != 1) {
				t.Errorf("failed records %d, order events %v, dlq %v: want 2 records, o1:CONFIRMED, one batch", r.FailedStreamRecords, r.AnalyticsInDLQ, r.DLQMessages)
			}
		})
	}
}
