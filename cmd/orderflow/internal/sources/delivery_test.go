package sources_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/sources"
	"github.com/orderflow/orderflow/tools/awstest"
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

// statesFunc stands in for Step Functions' StartExecution.
type statesFunc func(in *sfn.StartExecutionInput) error

func (f statesFunc) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:x")}, f(in)
}

// Events of one target are delivered independently: an event whose target keeps failing
// waits out its retries and goes to the DLQ while the events behind it are delivered.
func TestRuleTargetEventsIndependent(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	c := sqs.NewFromConfig(env.Config)
	internal := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "rule-internal"), VisibilityTimeout: 1})
	dlq := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "rule-dlq")})
	var mu sync.Mutex
	started := map[string]time.Time{}
	failing := 0
	d := &sources.Delivery{Queue: c, States: statesFunc(func(in *sfn.StartExecutionInput) error {
		mu.Lock()
		defer mu.Unlock()
		if aws.ToString(in.Name) == "bad" {
			failing++
			return errors.New("injected: the target refuses this event")
		}
		started[aws.ToString(in.Name)] = time.Now()
		return nil
	}), LongPoll: time.Second}
	// 4 retries at 400 ms, 800 ms, 1.6 s, 3.2 s: 6 s before the bad event is dead-lettered,
	// longer than the 1 s visibility timeout of its message.
	tg := sources.Target{Rule: "r", RuleARN: "arn:rule", ID: "sm", Kind: sources.TargetStates, ARN: "arn:sm",
		QueueURL: internal.URL, Retries: 4, DLQURL: dlq.URL, RetryBase: 400 * time.Millisecond}
	run(t, func(ctx context.Context) { d.Run(ctx, tg) })
	began := time.Now()
	for _, id := range []string{"bad", "good-1", "good-2", "good-3"} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(internal.URL), MessageBody: aws.String(`{"id":"` + id + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	awstest.Eventually(t, 20*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(started) == 3, fmt.Sprintf("started %v", started)
	})
	if since := time.Since(began); since > 4*time.Second {
		t.Errorf("the good events took %s: they waited for the failing one", since)
	}
	body := receiveOne(t, c, dlq.URL, 30*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if body != `{"id":"bad"}` || failing != 5 {
		t.Errorf("DLQ got %s after %d attempts, want the bad event after 1 + 4 retries (its message kept invisible meanwhile)", body, failing)
	}
	awstest.Eventually(t, 10*time.Second, func() (bool, string) {
		n := count(t, c, internal.URL)
		return n == 0 && d.Busy() == 0, fmt.Sprintf("%d messages left on the internal queue, %d in hand", n, d.Busy())
	})
}

// flakyKinesis fails one GetRecords: the first after after() holds.
type flakyKinesis struct {
	sources.KinesisAPI
	after  func() bool
	failed atomic.Bool
}

func (f *flakyKinesis) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	if !f.failed.Load() && f.after() && f.failed.CompareAndSwap(false, true) {
		return nil, errors.New("injected: GetRecords failed")
	}
	return f.KinesisAPI.GetRecords(ctx, in, opts...)
}

// After a read error the Kinesis mapping resumes from its checkpoint: no record it
// processed or sent to the on-failure destination is delivered again.
func TestKinesisResumesFromCheckpoint(t *testing.T) {
	env := awstest.Env(t)
	kc := kinesis.NewFromConfig(env.Config)
	c := sqs.NewFromConfig(env.Config)
	stream := env.Name(t, "resume")
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	awstest.Eventually(t, 20*time.Second, func() (bool, string) {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		return err == nil && out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive, "stream not active"
	})
	for i := range 10 {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	dest := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "resume-onfail")})
	var mu sync.Mutex
	var processed []int
	poisonAfter := 0 // deliveries of the poison record after the read error
	flaky := &flakyKinesis{KinesisAPI: kc, after: func() bool { mu.Lock(); defer mu.Unlock(); return len(processed) > 0 }}
	inv := invokerFunc(func(p []byte) ([]byte, string, error) {
		var ev events.KinesisEvent
		_ = json.Unmarshal(p, &ev)
		mu.Lock()
		defer mu.Unlock()
		for _, r := range ev.Records {
			n, _ := strconv.Atoi(string(r.Kinesis.Data))
			if n == 2 { // poison: fails every time
				if flaky.failed.Load() {
					poisonAfter++
				}
				return must(json.Marshal(events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: r.Kinesis.SequenceNumber}}})), "", nil
			}
			processed = append(processed, n)
		}
		return []byte(`{}`), "", nil
	})
	m := &sources.KinesisMapping{Client: flaky, Stream: stream, StreamARN: "arn:stream", StreamConfig: sources.StreamConfig{
		Function: "f", Invoker: inv, BatchSize: 5, StartingPosition: "TRIM_HORIZON", BisectOnError: true, MaxRetries: 0,
		ReportBatchItemFailures: true, OnFailure: sources.SQSDestination{Client: c, QueueURL: dest.URL}, RetryDelay: time.Millisecond,
		PollInterval: 20 * time.Millisecond}}
	run(t, func(ctx context.Context) { _ = m.Run(ctx) })
	awstest.Eventually(t, 30*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(processed) >= 9 && m.Busy() == 0, fmt.Sprintf("processed %v", processed)
	})
	mu.Lock()
	defer mu.Unlock()
	if !flaky.failed.Load() {
		t.Fatal("GetRecords never failed: the test did not test a restart")
	}
	if want := []int{0, 1, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(processed, want) {
		t.Errorf("processed %v, want %v: each once, in order, none again after the restart", processed, want)
	}
	if poisonAfter != 0 {
		t.Errorf("the poison record was delivered %d times after the restart, though it had been discarded", poisonAfter)
	}
	if n := count(t, c, dest.URL); n != 1 {
		t.Errorf("the on-failure destination holds %d records, want 1", n)
	}
}
