package sources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/sources"
	"github.com/orderflow/orderflow/pkg/awstest"
)

// An async invoke that keeps failing is tried 1 + MaxRetries times, then the request and
// the error go to the on-failure destination.
func TestAsyncRetriesThenOnFailure(t *testing.T) {
	env := awstest.Env(t)
	c := sqs.NewFromConfig(env.Config)
	dest := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "notify-dlq")})
	var mu sync.Mutex
	calls := 0
	a := &sources.Async{
		Invoker: invokerFunc(func(p []byte) ([]byte, string, error) {
			mu.Lock()
			calls++
			mu.Unlock()
			return []byte(`{"errorMessage":"bad event: no eventId","errorType":"errorString"}`), "Unhandled", nil
		}),
		Sender:     c,
		Configs:    map[string]sources.AsyncConfig{"notify": {MaxRetries: 2, OnFailureURL: dest.URL, FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:notify"}},
		RetryDelay: time.Millisecond,
	}
	a.Start(context.Background())
	a.Invoke("notify", []byte(`{"id":"e-1"}`))
	a.Wait()
	out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(dest.URL), WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("on-failure destination: %v, %d messages", err, len(out.Messages))
	}
	var rec struct {
		RequestContext struct {
			Condition string `json:"condition"`
			Count     int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		RequestPayload  map[string]string `json:"requestPayload"`
		ResponsePayload map[string]string `json:"responsePayload"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &rec); err != nil {
		t.Fatal(err)
	}
	if calls != 3 || rec.RequestContext.Count != 3 || rec.RequestContext.Condition != "RetriesExhausted" ||
		rec.RequestPayload["id"] != "e-1" || rec.ResponsePayload["errorMessage"] != "bad event: no eventId" {
		t.Fatalf("calls %d, record %+v", calls, rec)
	}
}

// A rule target reached through an internal queue: Kinesis gets the event with the
// partition key from the path; a target that cannot be reached sends the event to its
// DLQ with the error attributes after the retry policy.
func TestRuleTargetDelivery(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	c := sqs.NewFromConfig(env.Config)
	kc := kinesis.NewFromConfig(env.Config)
	stream := env.Name(t, "order-stream")
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	var arn string
	awstest.Eventually(t, 20*time.Second, func() (bool, string) {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err != nil {
			return false, err.Error()
		}
		arn = aws.ToString(out.StreamDescriptionSummary.StreamARN)
		return out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive, "not active"
	})
	internal := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "rule-internal")})
	broken := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "rule-broken")})
	dlq := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "rule-dlq")})
	d := &sources.Delivery{Queue: c, Kinesis: kc}
	good := sources.Target{Rule: "r", ID: "stream", Kind: sources.TargetKinesis, ARN: arn, QueueURL: internal.URL, KeyPath: "$.detail.data.orderId"}
	bad := sources.Target{Rule: "r", RuleARN: "arn:rule", ID: "gone", Kind: sources.TargetKinesis, ARN: arn + "-missing",
		QueueURL: broken.URL, Retries: 2, DLQURL: dlq.URL, RetryBase: time.Millisecond}
	run(t, func(ctx context.Context) { d.Run(ctx, good) })
	run(t, func(ctx context.Context) { d.Run(ctx, bad) })
	ev := `{"id":"e-1","detail-type":"Order Created","detail":{"data":{"orderId":"o-42"}}}`
	for _, u := range []string{internal.URL, broken.URL} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(ev)}); err != nil {
			t.Fatal(err)
		}
	}
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	awstest.Eventually(t, 20*time.Second, func() (bool, string) {
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil || len(out.Records) == 0 {
			return false, "no record on the stream"
		}
		r := out.Records[0]
		if aws.ToString(r.PartitionKey) != "o-42" || string(r.Data) != ev {
			t.Fatalf("record key %q data %s", aws.ToString(r.PartitionKey), r.Data)
		}
		return true, ""
	})
	awstest.Eventually(t, 20*time.Second, func() (bool, string) {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq.URL), WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil || len(out.Messages) == 0 {
			return false, "nothing in the target DLQ"
		}
		m := out.Messages[0]
		code := aws.ToString(m.MessageAttributes["ERROR_CODE"].StringValue)
		if aws.ToString(m.Body) != ev || code == "" || aws.ToString(m.MessageAttributes["RULE_ARN"].StringValue) != "arn:rule" {
			return false, fmt.Sprintf("dlq message %s attrs %v", aws.ToString(m.Body), m.MessageAttributes)
		}
		return true, ""
	})
}

func TestJSONPath(t *testing.T) {
	doc := []byte(`{"detail":{"data":{"orderId":"o-1","total":12}}}`)
	cases := []struct{ path, want string }{{"$.detail.data.orderId", "o-1"}, {"$.detail.data.total", "12"}}
	for _, tc := range cases {
		if got, err := sources.JSONPath(doc, tc.path); err != nil || got != tc.want {
			t.Errorf("JSONPath(%s) = %q, %v", tc.path, got, err)
		}
	}
	if _, err := sources.JSONPath(doc, "$.detail.nope"); err == nil {
		t.Error("missing member found")
	}
}
