package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/audit"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/cli"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/tools/awstest"
)

// The issue "Reliability and security": the poison and crash paths, each on the running
// local stack (one stack for all of them). A poison input of every asynchronous consumer
// ends in its DLQ or on-failure destination with its reason, without blocking the inputs
// behind it; a function killed mid-batch loses nothing and applies nothing twice; and
// `orderflow dlq redrive` finishes the orders once the cause is fixed.
func TestPoisonAndCrashPaths(t *testing.T) {
	p := pathsUp(t)
	run := randomHex(t, 4)

	// The poison inputs are independent of each other: they run at once.
	t.Run("poison", func(t *testing.T) {
		t.Run("malformed inventory commands reach the DLQ after 3 receives, reason logged", func(t *testing.T) {
			t.Parallel()
			pathsMalformedCommands(t, p, run)
		})
		t.Run("a poison Kinesis record reaches the on-failure destination and does not block its shard", func(t *testing.T) {
			t.Parallel()
			pathsPoisonRecord(t, p, run)
		})
		t.Run("a malformed notify event reaches the on-failure destination with the reason", func(t *testing.T) {
			t.Parallel()
			pathsMalformedNotifyEvent(t, p, run)
		})
		t.Run("a poison orders-table record reaches the S3 on-failure destination and does not block the stream", func(t *testing.T) {
			t.Parallel()
			pathsPoisonOrderChange(t, p, run)
		})
	})
	// The next two change the faults of the whole stack: one after the other.
	if t.Failed() {
		return
	}
	t.Run("inventory killed mid-batch: messages redelivered, applied once", func(t *testing.T) {
		pathsCrashMidBatch(t, p, run)
	})
	t.Run("dlq redrive after the cause is fixed finishes the orders", func(t *testing.T) {
		pathsRedrive(t, p, run)
	})
	t.Run("a bus outage sends stream batches to S3; dlq redrive s3:// publishes them", func(t *testing.T) {
		pathsPublisherRedrive(t, p, run)
	})
	t.Run("the sqs, kinesis and dynamodb stream rules reach AWS's pollers", func(t *testing.T) {
		pathsPollerFaults(t, p, run)
	})
}

// pathsPoisonOrderChange writes an item into the orders table that the publisher cannot
// read as an order (its total is not a number): the publisher reports it as a batch item
// failure, the mapping retries it alone and puts it, with its reason and the record
// itself, in the S3 on-failure destination; the orders after it are announced and
// processed; the audit lists the item as in a DLQ, not lost.
func pathsPoisonOrderChange(t *testing.T, p *pathsStack, run string) {
	ctx := context.Background()
	id := "0195" + run + "-0000-7000-8000-" + randomHex(t, 6)
	if _, err := p.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(p.Tables["OrdersTable"]), Item: map[string]ddbtypes.AttributeValue{
		"order_id": &ddbtypes.AttributeValueMemberS{Value: id}, "status": &ddbtypes.AttributeValueMemberS{Value: "PENDING"},
		"customer_id": &ddbtypes.AttributeValueMemberS{Value: "paths"}, "total": &ddbtypes.AttributeValueMemberS{Value: "lots"},
		"created_at": &ddbtypes.AttributeValueMemberS{Value: time.Now().UTC().Format(time.RFC3339Nano)}}}); err != nil {
		t.Fatal(err)
	}
	after := p.placeOrders(t, "stream", "SKU-MUG-001", 1, 2)
	p.waitStatus(t, after, "CONFIRMED", 60*time.Second)

	bucket := p.Buckets["StreamFailureBucket"]
	var kept failures.Stored
	awstest.Eventually(t, 60*time.Second, func() (bool, string) {
		recs, err := failures.List(ctx, p.s3, bucket)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range recs {
			if ev, err := r.EventJSON(); err == nil && strings.Contains(string(ev), id) {
				kept = r
				return true, ""
			}
		}
		return false, fmt.Sprintf("no record with order %s in s3://%s/%s (%d records)", id, bucket, failures.Prefix, len(recs))
	})
	ev, err := kept.DynamoDBEvent()
	b := kept.DDBStreamBatchInfo
	if err != nil || kept.RequestContext.Condition != "RetryAttemptsExhausted" || b == nil || b.BatchSize != 1 || len(ev.Records) != 1 ||
		!strings.Contains(b.StreamArn, "table/"+p.Tables["OrdersTable"]+"/stream/") ||
		!strings.HasSuffix(kept.RequestContext.FunctionArn, p.Functions["PublisherFunction"]) || ev.Records[0].Change.NewImage["total"].DataType() != events.DataTypeString || ev.Records[0].Change.NewImage["total"].String() != "lots" {
		t.Errorf("on-failure record %s %+v (payload %v), want the poison record alone, with its payload, after the retries", kept.Key, kept.Record, err)
	}
	// The reason is in the publisher's log, next to the sequence number.
	if lines := p.logLines(func(m map[string]any) bool {
		return strings.Contains(fmt.Sprint(m["message"]), "poison stream record") && strings.Contains(fmt.Sprint(m["error"]), "total")
	}); len(lines) == 0 {
		t.Error("no publisher log line with the poison record's reason")
	}
	// Listed, with the reason, by `orderflow dlq list` and by the audit.
	var stdout, stderr bytes.Buffer
	if code := cli.Run(ctx, []string{"dlq", "list", "--peek", "5", "--aws-endpoint", p.EdgeURL, "--region", Region}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "s3://"+bucket) || !strings.Contains(stdout.String(), "RetryAttemptsExhausted") {
		t.Errorf("orderflow dlq list: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	r, err := audit.Run(ctx, audit.Config{DynamoDB: p.ddb, S3: p.s3, OrdersTable: p.Tables["OrdersTable"], FailureBuckets: []string{bucket}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, st := range r.InDLQ {
		found = found || (st.OrderID == id && strings.Contains(st.Reason, "RetryAttemptsExhausted"))
	}
	if !found {
		t.Errorf("the audit does not list order %s as in a DLQ with its reason: in DLQ %+v, lost %+v", id, r.InDLQ, r.Lost)
	}
}

// pathsPublisherRedrive makes the bus refuse every PutEvents: the publisher hands its
// records back until the mapping gives up and keeps them, with the records, in S3; the
// order stays PENDING, in a DLQ. With the bus back, `orderflow dlq redrive s3://BUCKET`
// publishes them, and the order is processed.
func pathsPublisherRedrive(t *testing.T, p *pathsStack, run string) {
	ctx := context.Background()
	bucket := p.Buckets["StreamFailureBucket"]
	before := map[string]bool{}
	out, err := p.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		before[aws.ToString(o.Key)] = true
	}
	p.Faults.Set(chaos.Spec{Errors: []chaos.ErrorRule{{Service: "events", Operation: "PutEvents", Rate: 1, Kind: "5xx"}}})
	defer p.Faults.Set(chaos.Spec{})
	ids := p.placeOrders(t, "outage", "SKU-MUG-001", 1, 1)
	var keys []string
	awstest.Eventually(t, 2*time.Minute, func() (bool, string) {
		out, err := p.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil {
			return false, err.Error()
		}
		keys = keys[:0]
		for _, o := range out.Contents {
			if !before[aws.ToString(o.Key)] {
				keys = append(keys, aws.ToString(o.Key))
			}
		}
		return len(keys) > 0, "no new object in s3://" + bucket
	})
	if status, _ := p.orderStatus(t, ids[0]); status != "PENDING" {
		t.Fatalf("order %s is %s while its Order Created could not be published", ids[0], status)
	}

	p.Faults.Set(chaos.Spec{})
	var stdout, stderr bytes.Buffer
	code := cli.Run(ctx, []string{"dlq", "redrive", "s3://" + bucket, "--aws-endpoint", p.EdgeURL, "--region", Region}, &stdout, &stderr)
	if !strings.Contains(stdout.String(), fmt.Sprintf("redrove %d batch(es)", len(keys))) {
		t.Fatalf("orderflow dlq redrive s3://%s: exit %d, stdout %q, stderr %q; want %d batch(es) redriven", bucket, code, stdout.String(), stderr.String(), len(keys))
	}
	p.waitStatus(t, ids, "CONFIRMED", 60*time.Second)
}

// pathsPollerFaults: the event sources poll through the edge, so a fault rule on SQS's
// ReceiveMessage, Kinesis's GetRecords or DynamoDB Streams' GetRecords (signing name
// dynamodb) reaches them as AWS's throttling reaches Lambda's pollers; they retry (a stream
// poller from its checkpoint), and with the rule gone the order finishes. A poll is
// decided on what it returns (chaos.Injector), so each rule fires once the order has
// reached what its poller reads: first the orders table's stream, then, with that rule
// gone, the inventory command and the order's events on the Kinesis stream.
func pathsPollerFaults(t *testing.T, p *pathsStack, run string) {
	sku := "PATHS-POLL-" + run
	p.putSKU(t, sku, 10)
	queue := p.Queues["InventoryCommandQueue"]
	queue = queue[strings.LastIndex(queue, "/")+1:]
	count := func(prefix string) int64 {
		var n int64
		for k, v := range p.Faults.Stats().Errors {
			if strings.HasPrefix(k, prefix) {
				n += v
			}
		}
		return n
	}
	sqsBefore, kinBefore, ddbBefore := count("sqs:ReceiveMessage:"), count("kinesis:GetRecords:"), count("dynamodb:GetRecords:")
	sqsRule := chaos.ErrorRule{Service: "sqs", Operation: "ReceiveMessage", Resource: queue, Rate: 1, Kind: "throttle"}
	kinRule := chaos.ErrorRule{Service: "kinesis", Operation: "GetRecords", Rate: 1, Kind: "5xx"}
	ddbRule := chaos.ErrorRule{Service: "dynamodb", Operation: "GetRecords", Rate: 1, Kind: "throttle"}
	p.Faults.Set(chaos.Spec{Seed: 5, Errors: []chaos.ErrorRule{sqsRule, kinRule, ddbRule}})
	defer p.Faults.Set(chaos.Spec{})
	ids := p.placeOrders(t, "poll", sku, 1, 1) // its Order Created waits in the orders table's stream
	awstest.Eventually(t, 60*time.Second, func() (bool, string) {
		d := count("dynamodb:GetRecords:") - ddbBefore
		return d > 0, fmt.Sprintf("faults on the orders table's stream poller: %d DynamoDB Streams GetRecords", d)
	})
	if status, _ := p.orderStatus(t, ids[0]); status != "PENDING" {
		t.Errorf("order %s is %s while the orders table's stream could not be read", ids[0], status)
	}
	p.Faults.Set(chaos.Spec{Seed: 5, Errors: []chaos.ErrorRule{sqsRule, kinRule}})
	awstest.Eventually(t, 60*time.Second, func() (bool, string) {
		s, k := count("sqs:ReceiveMessage:")-sqsBefore, count("kinesis:GetRecords:")-kinBefore
		return s > 0 && k > 0, fmt.Sprintf("faults on the pollers: %d ReceiveMessage of %s, %d Kinesis GetRecords", s, queue, k)
	})
	if status, _ := p.orderStatus(t, ids[0]); status == "CONFIRMED" {
		t.Errorf("order %s is CONFIRMED while its inventory command could not be received", ids[0])
	}
	p.Faults.Set(chaos.Spec{})
	p.waitStatus(t, ids, "CONFIRMED", 60*time.Second)
}

// pathsMalformedCommands sends bodies the inventory function can never process straight
// to the command queue: each is reported failed on every receive, moved to the DLQ by the
// queue's redrive policy after the third, and the log says why each time.
func pathsMalformedCommands(t *testing.T, p *pathsStack, run string) {
	cases := []struct {
		name, body, reason string
	}{
		{name: "not JSON", body: "paths-" + run + " this is not json {", reason: "body is not a JSON command"},
		{name: "unknown command", body: `{"command":"explode","orderId":"paths-` + run + `-unknown"}`, reason: `unknown command "explode"`},
		{name: "reserve without lines", body: `{"command":"reserve","orderId":"paths-` + run + `-nolines","lines":[]}`, reason: "lines:"},
		{name: "no orderId", body: `{"command":"release","note":"paths-` + run + `"}`, reason: "orderId is required"},
	}
	ctx := context.Background()
	ids := map[string]string{} // message id -> case name
	for _, tc := range cases {
		out, err := p.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(p.Queues["InventoryCommandQueue"]), MessageBody: aws.String(tc.body)})
		if err != nil {
			t.Fatal(err)
		}
		ids[aws.ToString(out.MessageId)] = tc.name
	}
	dlq := p.dlq("InventoryCommandDlq")
	byBody := map[string]string{}
	awstest.Eventually(t, 45*time.Second, func() (bool, string) {
		dlq.read(t)
		for id, body := range dlq.bodies {
			byBody[body] = id
		}
		missing := []string{}
		for _, tc := range cases {
			if _, ok := byBody[tc.body]; !ok {
				missing = append(missing, tc.name)
			}
		}
		return len(missing) == 0, fmt.Sprintf("not in the inventory DLQ yet: %v (DLQ holds %d)", missing, len(dlq.bodies))
	})
	if len(dlq.bodies) != len(cases) {
		t.Errorf("the inventory DLQ held %d messages, want the %d sent: %v", len(dlq.bodies), len(cases), dlq.bodies)
	}
	for id, name := range ids {
		var tc = cases[0]
		for _, c := range cases {
			if c.name == name {
				tc = c
			}
		}
		t.Run(tc.name, func(t *testing.T) {
			if dlqID := byBody[tc.body]; dlqID != id {
				t.Errorf("DLQ message id %s, want the original %s", dlqID, id)
			}
			// The function's log line on each receive: the message id, the receive count
			// and the reason.
			lines := p.logLines(func(m map[string]any) bool {
				return m["messageId"] == id && strings.Contains(fmt.Sprint(m["message"]), "rejected")
			})
			var receives []string
			for _, l := range lines {
				receives = append(receives, fmt.Sprint(l["receiveCount"]))
				if e := fmt.Sprint(l["error"]); !strings.Contains(e, tc.reason) || !strings.Contains(e, "malformed inventory command") {
					t.Errorf("logged error %q, want the reason %q", e, tc.reason)
				}
			}
			if strings.Join(receives, ",") != "1,2,3" {
				t.Errorf("rejected on receives %v, want 1,2,3 (then the DLQ)", receives)
			}
		})
	}
}

// pathsPoisonRecord puts a record that is no order event on the order stream, keyed like
// an order, then places orders until two of them share its shard. The record goes to the
// analytics on-failure destination alone, named by its batch info, and the order events
// behind it on its shard are processed: their metrics and data-lake rows appear.
func pathsPoisonRecord(t *testing.T, p *pathsStack, run string) {
	ctx := context.Background()
	shards, err := p.kin.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(p.Stream)})
	if err != nil {
		t.Fatal(err)
	}
	if len(shards.Shards) < 2 {
		t.Fatalf("stream %s has %d shards, want the template's 2", p.Stream, len(shards.Shards))
	}
	key := "0195" + run + "-0000-7000-8000-" + randomHex(t, 6) // an order id's shape
	data := []byte(`{"paths":"` + run + `","note":"not an order event"}`)
	put, err := p.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(p.Stream), PartitionKey: aws.String(key), Data: data})
	if err != nil {
		t.Fatal(err)
	}
	shard, seq := aws.ToString(put.ShardId), aws.ToString(put.SequenceNumber)
	if got := shardOf(shards.Shards, key); got != shard {
		t.Fatalf("poison key %s went to %s, the MD5 hash key ranges say %s", key, shard, got)
	}

	// Orders placed after the poison, until two of them hash to its shard.
	var same []string
	for round := 0; len(same) < 2; round++ {
		if round == 6 {
			t.Fatalf("no two of %d orders hash to shard %s", round*4, shard)
		}
		for _, id := range p.placeOrders(t, "kinesis", "SKU-MUG-001", 1, 4) {
			if shardOf(shards.Shards, id) == shard {
				same = append(same, id)
			}
		}
	}
	// Their events really are behind the poison on its shard.
	awstest.Eventually(t, 30*time.Second, func() (bool, string) {
		after := map[string]int{}
		for _, k := range p.recordsAfter(t, shard, seq) {
			after[k]++
		}
		for _, id := range same {
			if after[id] < 2 {
				return false, fmt.Sprintf("order %s has %d records after the poison on %s, want Created and Confirmed", id, after[id], shard)
			}
		}
		return true, ""
	})
	p.waitStatus(t, same, "CONFIRMED", 30*time.Second)

	// The poison in the on-failure destination (S3, as the template's mapping says):
	// its batch info, that record alone, and the record itself.
	var rec failures.Stored
	awstest.Eventually(t, 60*time.Second, func() (bool, string) {
		recs, err := failures.List(ctx, p.s3, p.Bucket)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if b := r.KinesisBatchInfo; b != nil && b.ShardID == shard && b.StartSequenceNumber == seq {
				rec = r
				return true, ""
			}
		}
		return false, fmt.Sprintf("no record of %s sequence number %s in s3://%s/%s (%d records)", shard, seq, p.Bucket, failures.Prefix, len(recs))
	})
	b := rec.KinesisBatchInfo
	if b.EndSequenceNumber != seq || b.BatchSize != 1 || !strings.HasSuffix(b.StreamArn, ":stream/"+p.Stream) {
		t.Errorf("batch info %+v, want the poison alone: shard %s, sequence number %s, stream %s", *b, shard, seq, p.Stream)
	}
	if rec.RequestContext.Condition != "RetryAttemptsExhausted" || !strings.HasSuffix(rec.RequestContext.FunctionArn, p.Functions["AnalyticsFunction"]) {
		t.Errorf("request context %+v, want RetryAttemptsExhausted for %s", rec.RequestContext, p.Functions["AnalyticsFunction"])
	}
	if ev, err := rec.KinesisEvent(); err != nil || len(ev.Records) != 1 || string(ev.Records[0].Kinesis.Data) != string(data) ||
		ev.Records[0].Kinesis.PartitionKey != key {
		t.Errorf("payload %+v (%v): want the poison record itself", ev, err)
	}
	// The reason is in the analytics function's log, next to the sequence number.
	if lines := p.logLines(func(m map[string]any) bool {
		return m["sequenceNumber"] == seq && m["partitionKey"] == key && strings.Contains(fmt.Sprint(m["message"]), "poison")
	}); len(lines) == 0 || !strings.Contains(fmt.Sprint(lines[0]["error"]), "not an order event") {
		t.Errorf("no poison-record log line with the reason for sequence number %s: %v", seq, lines)
	}

	// The shard moved on: the orders behind the poison are counted and in the lake.
	awstest.Eventually(t, 60*time.Second, func() (bool, string) {
		lake := p.lakeEventIDs(t)
		for _, id := range same {
			for _, status := range []string{"PENDING", "CONFIRMED"} {
				eventID := id + ":" + status
				applied, err := dynamo.NewMetricsStore(p.ddb, p.Tables["MetricsTable"]).Applied(context.Background(), eventID)
				if err != nil {
					t.Fatal(err)
				}
				if !applied {
					return false, "no metrics marker for " + eventID
				}
				if !lake[eventID] {
					return false, "no data-lake row for " + eventID
				}
			}
		}
		return true, ""
	})
}

// pathsMalformedNotifyEvent puts an Order Confirmed event whose detail notify cannot use
// on the bus: the outcome rule invokes notify asynchronously, it fails on every attempt,
// and the on-failure record carries the request and the function's error.
func pathsMalformedNotifyEvent(t *testing.T, p *pathsStack, run string) {
	ctx := context.Background()
	orderID := "paths-notify-" + run
	eventID := orderID + ":CONFIRMED"
	detail := fmt.Sprintf(`{"metadata":{"eventId":%q,"schemaVersion":"1.0","correlationId":"paths","occurredAt":%q},`+
		`"data":{"orderId":%q,"status":"CONFIRMED","total":0}}`, eventID, time.Now().UTC().Format(time.RFC3339), orderID)
	out, err := eventbridge.NewFromConfig(p.Config).PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(p.Bus), Source: aws.String(e2eSource), DetailType: aws.String("Order Confirmed"), Detail: aws.String(detail)}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("put events: %v %+v", err, out)
	}
	dlq := p.dlq("NotifyDlq")
	var rec failureRecord
	awstest.Eventually(t, 45*time.Second, func() (bool, string) {
		dlq.read(t)
		for _, body := range dlq.bodies {
			var r failureRecord
			var req struct {
				Detail struct {
					Metadata struct {
						EventID string `json:"eventId"`
					} `json:"metadata"`
				} `json:"detail"`
			}
			if json.Unmarshal([]byte(body), &r) == nil && json.Unmarshal(r.RequestPayload, &req) == nil && req.Detail.Metadata.EventID == eventID {
				rec = r
				return true, ""
			}
		}
		return false, fmt.Sprintf("no on-failure record for %s in the notify DLQ (%d records)", eventID, len(dlq.bodies))
	})
	if rec.ResponsePayload.ErrorType != "MalformedEventError" || !strings.Contains(rec.ResponsePayload.ErrorMessage, "missing data.customerId") {
		t.Errorf("responsePayload %+v, want MalformedEventError naming the missing data.customerId", rec.ResponsePayload)
	}
	// EventInvokeConfig: MaximumRetryAttempts 2, so three attempts.
	if rec.RequestContext.Condition != "RetriesExhausted" || rec.RequestContext.ApproximateInvokeCount != 3 ||
		!strings.Contains(rec.RequestContext.FunctionArn, p.Functions["NotifyFunction"]) {
		t.Errorf("request context %+v, want RetriesExhausted after 3 invokes of %s", rec.RequestContext, p.Functions["NotifyFunction"])
	}
	if len(dlq.bodies) != 1 {
		t.Errorf("the notify DLQ held %d records, want 1: %v", len(dlq.bodies), dlq.bodies)
	}
}

// pathsCrashMidBatch kills every inventory process mid-invoke (after 0 to 3 of the
// batch's AWS calls: before, between or after its writes), from before the orders
// are placed until a kill has landed and for a short window after. The killed batches'
// messages come back after the visibility timeout and are applied once: every order ends
// CONFIRMED, holds one RESERVED reservation, and the stock fell by exactly its quantity.
func pathsCrashMidBatch(t *testing.T, p *pathsStack, run string) {
	sku, qty, initial := "PATHS-CRASH-"+run, 2, 100
	p.putSKU(t, sku, initial)
	before := p.crashes("inventory")
	p.Faults.Set(chaos.Spec{Seed: 4, Crash: chaos.Crash{Rate: 1, Functions: []string{"inventory"},
		MaxCalls: 3}})
	stopped := false
	stop := func() {
		if !stopped {
			p.Faults.Set(chaos.Spec{})
			stopped = true
		}
	}
	defer stop()
	var ids []string
	for round := 0; p.crashes("inventory") == before; round++ {
		if round == 5 {
			t.Fatalf("%d orders placed, no inventory process was killed mid-invoke", len(ids))
		}
		ids = append(ids, p.placeOrders(t, "crash", sku, qty, 6)...)
		// Poll the injector's counter (in memory) closely: see below.
		deadline := time.Now().Add(8 * time.Second)
		for p.crashes("inventory") == before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Keep killing for up to a second more (a few more batches of the window die too),
	// but stop well within one visibility timeout (2 s) of the first kill: a killed
	// batch must not come back into another kill, or three receives would send its
	// messages to the DLQ.
	firstKill := time.Now()
	for p.crashes("inventory")-before < 3 && time.Since(firstKill) < time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	t.Logf("%d orders, %d inventory processes killed", len(ids), p.crashes("inventory")-before)

	p.waitStatus(t, ids, "CONFIRMED", 60*time.Second)
	// The killed batches come back after the visibility timeout: an order of the window is
	// handled on a later receive. A batch killed after its writes let its orders finish
	// first, so wait for that receive, then for the queue to be empty: none of this
	// subtest's commands may still be on their way when the next subtest sets its faults.
	mine := map[string]bool{}
	for _, id := range ids {
		mine[id] = true
	}
	awstest.Eventually(t, 60*time.Second, func() (bool, string) {
		redelivered := p.logLines(func(m map[string]any) bool {
			rc := fmt.Sprint(m["receiveCount"])
			return mine[fmt.Sprint(m["orderId"])] && m["messageId"] != nil && rc != "1" && rc != "<nil>"
		})
		return len(redelivered) > 0, fmt.Sprintf("no inventory log line for a redelivered command of orders %v", ids)
	})
	awstest.Eventually(t, 60*time.Second, func() (bool, string) {
		v, f := p.queueDepth(t, p.Queues["InventoryCommandQueue"])
		return v+f == 0, fmt.Sprintf("the inventory queue holds %d visible and %d in-flight commands", v, f)
	})
	p.checkReservedOnce(t, ids, sku, qty, initial)
	if v, f := p.queueDepth(t, p.Queues["InventoryCommandDlq"]); v+f != 0 {
		t.Errorf("the inventory DLQ holds %d messages after the crashes, want none", v+f)
	}
}

// pathsRedrive makes every reservation write on the inventory table fail, so the reserve
// commands of new orders reach the inventory DLQ after three receives while their
// executions wait for the task token (ReserveInventory's TimeoutSeconds is 300). With the
// fault removed, `orderflow dlq redrive` moves them back and the orders finish.
func pathsRedrive(t *testing.T, p *pathsStack, run string) {
	sku, qty, initial, n := "PATHS-REDRIVE-"+run, 3, 50, 3
	p.putSKU(t, sku, initial)
	dlqURL := p.Queues["InventoryCommandDlq"]
	if v, f := p.queueDepth(t, dlqURL); v+f != 0 {
		t.Fatalf("the inventory DLQ already holds %d messages", v+f)
	}
	p.Faults.Set(chaos.Spec{Errors: []chaos.ErrorRule{{Service: "dynamodb", Operation: "TransactWriteItems",
		Resource: p.Tables["InventoryTable"], Rate: 1, Kind: "5xx"}}})
	defer p.Faults.Set(chaos.Spec{})
	errorsBefore := p.Faults.Stats().ServerErrors
	ids := p.placeOrders(t, "redrive", sku, qty, n)

	awstest.Eventually(t, 60*time.Second, func() (bool, string) {
		v, f := p.queueDepth(t, dlqURL)
		return v == n, fmt.Sprintf("inventory DLQ: %d visible, %d in flight, want %d", v, f, n)
	})
	if p.Faults.Stats().ServerErrors == errorsBefore {
		t.Fatal("no TransactWriteItems error was injected")
	}
	for _, id := range ids {
		if status, reason := p.orderStatus(t, id); status == "CONFIRMED" || status == "CANCELLED" || status == "REJECTED" {
			t.Fatalf("order %s is %s %s while its reservation sits in the DLQ", id, status, reason)
		}
	}
	if got := stock(t, p.Stack, sku); got != initial {
		t.Fatalf("stock of %s = %d while every reservation failed, want %d", sku, got, initial)
	}
	// The reason is logged for each failed receive.
	if lines := p.logLines(func(m map[string]any) bool {
		return fmt.Sprint(m["orderId"]) == ids[0] && strings.Contains(fmt.Sprint(m["message"]), "will be retried")
	}); len(lines) < 3 || !strings.Contains(fmt.Sprint(lines[0]["error"]), "reserve order "+ids[0]) {
		t.Errorf("inventory log for order %s: %v, want a failure with its reason on each of 3 receives", ids[0], lines)
	}

	// The cause is fixed; the operator redrives.
	p.Faults.Set(chaos.Spec{})
	var stdout, stderr bytes.Buffer
	dlqName := dlqURL[strings.LastIndex(dlqURL, "/")+1:]
	srcURL := p.Queues["InventoryCommandQueue"]
	code := cli.Run(context.Background(), []string{"dlq", "redrive", dlqName, "--aws-endpoint", p.EdgeURL, "--region", Region}, &stdout, &stderr)
	want := fmt.Sprintf("moved %d message(s) from %s to %s", n, dlqName, srcURL[strings.LastIndex(srcURL, "/")+1:])
	if code != 0 || !strings.Contains(stdout.String(), want) {
		t.Fatalf("orderflow dlq redrive: exit %d, stdout %q, stderr %q; want %q", code, stdout.String(), stderr.String(), want)
	}
	p.waitStatus(t, ids, "CONFIRMED", 30*time.Second)
	p.checkReservedOnce(t, ids, sku, qty, initial)
	if v, f := p.queueDepth(t, dlqURL); v+f != 0 {
		t.Errorf("the inventory DLQ holds %d messages after the redrive, want none", v+f)
	}
}
