package sources_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/sources"
	"github.com/orderflow/orderflow/tools/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// invokerFunc stands in for a function behind the Runtime API.
type invokerFunc func(payload []byte) ([]byte, string, error)

func (f invokerFunc) InvokeSync(_ context.Context, _ string, p []byte) ([]byte, string, error) {
	return f(p)
}

func run(t *testing.T, f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func count(t *testing.T, c *sqs.Client, url string) int {
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	b, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return a + b
}

// A message the function reports as failed is retried alone and reaches the DLQ after
// three receives; the others in its batch are deleted after the first.
func TestSQSPartialFailureToDLQ(t *testing.T) {
	env := awstest.Env(t)
	c := sqs.NewFromConfig(env.Config)
	q := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "cmds"), DLQ: true, MaxReceiveCount: 3, VisibilityTimeout: 1})
	for _, body := range []string{"ok-1", "poison", "ok-2"} {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	inv := invokerFunc(func(p []byte) ([]byte, string, error) {
		var ev events.SQSEvent
		if err := json.Unmarshal(p, &ev); err != nil {
			return nil, "Unhandled", nil
		}
		var resp events.SQSEventResponse
		mu.Lock()
		defer mu.Unlock()
		for _, r := range ev.Records {
			seen[r.Body]++
			if r.EventSource != "aws:sqs" || r.Attributes["ApproximateReceiveCount"] == "" {
				return nil, "Unhandled", nil
			}
			if r.Body == "poison" {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return must(json.Marshal(resp)), "", nil
	})
	m := &sources.SQSMapping{Client: c, QueueURL: q.URL, QueueARN: q.ARN, Function: "f", Invoker: inv,
		BatchSize: 10, ReportBatchItemFailures: true, Pollers: 1}
	run(t, func(ctx context.Context) { m.Run(ctx) })
	awstest.Eventually(t, 30*time.Second, func() (bool, string) {
		n := count(t, c, q.DLQ.URL)
		return n == 1, fmt.Sprintf("dlq has %d messages", n)
	})
	mu.Lock()
	defer mu.Unlock()
	if seen["ok-1"] != 1 || seen["ok-2"] != 1 || seen["poison"] != 3 {
		t.Fatalf("deliveries %v; want ok-1 and ok-2 once, poison 3 times", seen)
	}
	if n := count(t, c, q.URL); n != 0 {
		t.Fatalf("%d messages left on the queue", n)
	}
}

// A function error fails the whole batch (nothing is deleted) unless it recovers.
func TestSQSFunctionErrorRetriesBatch(t *testing.T) {
	env := awstest.Env(t)
	c := sqs.NewFromConfig(env.Config)
	q := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "batch"), DLQ: true, MaxReceiveCount: 5, VisibilityTimeout: 1})
	for i := 0; i < 3; i++ {
		_, _ = c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(fmt.Sprint(i))})
	}
	var mu sync.Mutex
	calls, delivered := 0, 0
	inv := invokerFunc(func(p []byte) ([]byte, string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return []byte(`{"errorMessage":"crash"}`), "Unhandled", nil
		}
		var ev events.SQSEvent
		_ = json.Unmarshal(p, &ev)
		delivered += len(ev.Records)
		return []byte(`{}`), "", nil
	})
	m := &sources.SQSMapping{Client: c, QueueURL: q.URL, QueueARN: q.ARN, Function: "f", Invoker: inv,
		BatchSize: 10, Window: 500 * time.Millisecond, ReportBatchItemFailures: true, Pollers: 1}
	run(t, func(ctx context.Context) { m.Run(ctx) })
	awstest.Eventually(t, 30*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return delivered >= 3 && count(t, c, q.URL) == 0, fmt.Sprintf("delivered %d after %d calls", delivered, calls)
	})
	if n := count(t, c, q.DLQ.URL); n != 0 {
		t.Fatalf("dlq has %d", n)
	}
}

// poisonStream is a one-shard stream holding the records "0" to "9" and a mapping on it
// whose function reports record "4" as failed every time and processes the others.
// processed returns, in order, what the function has processed.
func poisonStream(t *testing.T, env *awstest.Environment) (m *sources.KinesisMapping, processed func() []int) {
	t.Helper()
	kc := kinesis.NewFromConfig(env.Config)
	stream := env.Name(t, "stream")
	ctx := context.Background()
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
		return out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive, "stream not active"
	})
	for i := 0; i < 10; i++ {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var done []int
	inv := invokerFunc(func(p []byte) ([]byte, string, error) {
		var ev events.KinesisEvent
		if err := json.Unmarshal(p, &ev); err != nil {
			return nil, "Unhandled", nil
		}
		mu.Lock()
		defer mu.Unlock()
		var resp events.KinesisEventResponse
		for _, r := range ev.Records {
			n, _ := strconv.Atoi(string(r.Kinesis.Data))
			if n == 4 {
				resp.BatchItemFailures = []events.KinesisBatchItemFailure{{ItemIdentifier: r.Kinesis.SequenceNumber}}
				break
			}
			if !slices.Contains(done, n) {
				done = append(done, n)
			}
		}
		return must(json.Marshal(resp)), "", nil
	})
	m = &sources.KinesisMapping{Client: kc, Stream: stream, StreamARN: arn, StreamConfig: sources.StreamConfig{
		Function: "f", Invoker: inv, BatchSize: 100, StartingPosition: "TRIM_HORIZON", BisectOnError: true, MaxRetries: 2,
		ReportBatchItemFailures: true, RetryDelay: time.Millisecond, PollInterval: 50 * time.Millisecond}}
	return m, func() []int { mu.Lock(); defer mu.Unlock(); return slices.Clone(done) }
}

// checkProcessedAroundPoison waits until every record but the poison is processed, in order.
func checkProcessedAroundPoison(t *testing.T, processed func() []int) {
	t.Helper()
	awstest.Eventually(t, 10*time.Second, func() (bool, string) {
		return len(processed()) == 9, fmt.Sprintf("processed %v", processed())
	})
	if want := []int{0, 1, 2, 3, 5, 6, 7, 8, 9}; !slices.Equal(processed(), want) {
		t.Fatalf("processed %v, want %v in order", processed(), want)
	}
}

// A Kinesis record that keeps failing is bisected out and sent to the on-failure
// destination, while the records after it are processed, in order. An SQS destination
// gets the batch info alone.
func TestKinesisBisectsPoisonToOnFailure(t *testing.T) {
	env := awstest.Env(t)
	c := sqs.NewFromConfig(env.Config)
	m, processed := poisonStream(t, env)
	dest := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "onfail")})
	m.OnFailure = sources.SQSDestination{Client: c, QueueURL: dest.URL}
	run(t, func(ctx context.Context) { _ = m.Run(ctx) })
	body := receiveOne(t, c, dest.URL, 30*time.Second)
	var rec failures.Record
	if err := json.Unmarshal([]byte(body), &rec); err != nil {
		t.Fatal(err)
	}
	if b := rec.KinesisBatchInfo; b == nil || b.BatchSize != 1 || b.StreamArn != m.StreamARN || rec.RequestContext.Condition != "RetryAttemptsExhausted" {
		t.Fatalf("on-failure record %s", body)
	}
	if _, err := rec.KinesisEvent(); !errors.Is(err, failures.ErrNoPayload) {
		t.Errorf("an SQS destination's record carries the records (%v); AWS sends the batch info alone", err)
	}
	checkProcessedAroundPoison(t, processed)
}

// An S3 on-failure destination keeps the discarded records themselves, next to the batch
// info, under AWS's key layout: they outlive the stream's retention.
func TestKinesisS3OnFailureKeepsTheRecords(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	s3c := s3.NewFromConfig(env.Config, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := env.Name(t, "failed")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	m, processed := poisonStream(t, env)
	m.OnFailure = sources.S3Destination{Client: s3c, Bucket: bucket, Mapping: "5c0f7a9e-1d2b-4c3d-8e4f-000000000001"}
	run(t, func(ctx context.Context) { _ = m.Run(ctx) })
	var got []failures.Stored
	awstest.Eventually(t, 30*time.Second, func() (bool, string) {
		var err error
		got, err = failures.List(ctx, s3c, bucket)
		return err == nil && len(got) > 0, fmt.Sprintf("no record in s3://%s (%v)", bucket, err)
	})
	rec := got[0]
	key := regexp.MustCompile(`^aws/lambda/5c0f7a9e-1d2b-4c3d-8e4f-000000000001` + `/shardId-\d+/\d{4}/\d{2}/\d{2}/\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}-.+$`)
	if len(got) != 1 || !key.MatchString(rec.Key) {
		t.Fatalf("records %d, key %q: want one, at aws/lambda/<ESM UUID>/<shard>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<id>", len(got), rec.Key)
	}
	ev, err := rec.KinesisEvent()
	if err != nil {
		t.Fatal(err)
	}
	b := rec.KinesisBatchInfo
	if len(ev.Records) != 1 || string(ev.Records[0].Kinesis.Data) != "4" || b == nil || b.BatchSize != 1 ||
		ev.Records[0].Kinesis.SequenceNumber != b.StartSequenceNumber || ev.Records[0].EventSourceArn != m.StreamARN {
		t.Fatalf("record %+v with payload %+v: want the poison record itself", rec.Record, ev)
	}
	checkProcessedAroundPoison(t, processed)
}

// receiveOne waits up to timeout for a message on url and returns its body.
func receiveOne(t *testing.T, c *sqs.Client, url string, timeout time.Duration) string {
	t.Helper()
	var body string
	awstest.Eventually(t, timeout, func() (bool, string) {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
		if err != nil || len(out.Messages) == 0 {
			return false, fmt.Sprintf("nothing on %s (%v)", url, err)
		}
		body = aws.ToString(out.Messages[0].Body)
		return true, ""
	})
	return body
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// Every record processed is decided on for a duplicate delivery, also the ones before a
// record a batch reported as failed: what the fault injector counts must not depend on
// how the records were batched.
func TestKinesisDuplicateDecidedForEveryProcessedRecord(t *testing.T) {
	env := awstest.Env(t)
	m, processed := poisonStream(t, env)
	var mu sync.Mutex
	decided := map[string]bool{}
	m.Duplicate = func(identity []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, data := range strings.Split(strings.TrimSpace(string(identity)), "\n") {
			decided[data] = true
		}
		return false
	}
	run(t, func(ctx context.Context) { _ = m.Run(ctx) })
	checkProcessedAroundPoison(t, processed)
	awstest.Eventually(t, 10*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range processed() {
			if !decided[strconv.Itoa(n)] {
				return false, fmt.Sprintf("record %d was processed but never decided on (decided: %v)", n, decided)
			}
		}
		return true, ""
	})
}

// A duplicate delivery's copy is decided on again, so the run of duplicates of a batch
// ends with its first "no" however often timing redelivers it later; the copies of one
// delivery are bounded.
func TestSQSDuplicateCopiesDecidedAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers []bool // the Duplicate hook's answers; the last one for ever
		want    int    // deliveries of the message
	}{
		{"two copies, then no", []bool{true, true, false}, 3},
		{"no copy", []bool{false}, 1},
		{"always yes: bounded", []bool{true}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := awstest.Env(t)
			c := sqs.NewFromConfig(env.Config)
			q := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "dup"), VisibilityTimeout: 30})
			if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String("m")}); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			delivered, decisions := 0, 0
			inv := invokerFunc(func([]byte) ([]byte, string, error) {
				mu.Lock()
				defer mu.Unlock()
				delivered++
				return []byte(`{}`), "", nil
			})
			m := &sources.SQSMapping{Client: c, QueueURL: q.URL, QueueARN: q.ARN, Function: "f", Invoker: inv, BatchSize: 10, Pollers: 1,
				Duplicate: func([]byte) bool {
					mu.Lock()
					defer mu.Unlock()
					decisions++
					return tc.answers[min(decisions, len(tc.answers))-1]
				}}
			run(t, func(ctx context.Context) { m.Run(ctx) })
			awstest.Eventually(t, 30*time.Second, func() (bool, string) {
				n := count(t, c, q.URL)
				return n == 0, fmt.Sprintf("%d messages on the queue", n)
			})
			mu.Lock()
			defer mu.Unlock()
			if delivered != tc.want {
				t.Errorf("delivered %d times, want %d (decisions: %d)", delivered, tc.want, decisions)
			}
		})
	}
}
