package sources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/sources"
	"github.com/orderflow/orderflow/tools/awstest"
)

// streamFixture is a table with a NEW_AND_OLD_IMAGES stream and a bucket for the
// mapping's on-failure records.
type streamFixture struct {
	env           *awstest.Environment
	db            *dynamodb.Client
	s3            *s3.Client
	table, arn    string
	failureBucket string
}

func newStreamFixture(t *testing.T) *streamFixture {
	t.Helper()
	f := &streamFixture{env: awstest.Env(t)}
	f.db = dynamodb.NewFromConfig(f.env.Config)
	f.s3 = s3.NewFromConfig(f.env.Config, func(o *s3.Options) { o.UsePathStyle = true })
	f.table, f.arn = streamTable(t, f.env, f.db)
	f.failureBucket = bucket(t, f.env, f.s3)
	return f
}

// put writes an item with pk and, unless n < 0, the number n.
func (f *streamFixture) put(t *testing.T, pk string, n int) {
	t.Helper()
	item := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}}
	if n >= 0 {
		item["n"] = &ddbtypes.AttributeValueMemberN{Value: strconv.Itoa(n)}
	}
	if _, err := f.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: item}); err != nil {
		t.Fatal(err)
	}
}

// streamTable creates a table with a NEW_AND_OLD_IMAGES stream and returns its stream ARN.
func streamTable(t *testing.T, env *awstest.Environment, db *dynamodb.Client) (string, string) {
	t.Helper()
	name := env.Name(t, "stream-table")
	desc := env.CreateTable(t, awstest.TableSpec{Name: name, HashKey: "pk", StreamView: ddbtypes.StreamViewTypeNewAndOldImages})
	arn := aws.ToString(desc.LatestStreamArn)
	if arn == "" {
		out, err := db.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		arn = aws.ToString(out.Table.LatestStreamArn)
	}
	if arn == "" {
		t.Fatal("the table has no stream")
	}
	return name, arn
}

func bucket(t *testing.T, env *awstest.Environment, c *s3.Client) string {
	t.Helper()
	name := strings.ToLower(env.Name(t, "failures"))
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return name
}

// A table's stream is delivered in order as DynamoDBEvent batches with both images; a
// record the function keeps reporting (by SequenceNumber) is bisected out and kept,
// with the batch itself, in the S3 on-failure destination, while the records after it
// are processed.
func TestDynamoDBStreamBisectsPoisonToS3(t *testing.T) {
	f := newStreamFixture(t)
	env, s3c, arn, dest := f.env, f.s3, f.arn, f.failureBucket
	for i := range 10 {
		f.put(t, fmt.Sprintf("item-%d", i), i)
	}
	f.put(t, "item-0", 100) // a MODIFY: the event carries both images

	var mu sync.Mutex
	var processed []string
	var modify events.DynamoDBEventRecord
	inv := invokerFunc(func(p []byte) ([]byte, string, error) {
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(p, &ev); err != nil {
			return nil, "Unhandled", nil
		}
		mu.Lock()
		defer mu.Unlock()
		var resp events.DynamoDBEventResponse
		for _, r := range ev.Records {
			if r.EventSource != "aws:dynamodb" || r.EventSourceArn != arn || r.Change.SequenceNumber == "" {
				return nil, "Unhandled", nil
			}
			n := r.Change.NewImage["n"].Number()
			if n == "4" {
				resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: r.Change.SequenceNumber}}
				break
			}
			if r.EventName == "MODIFY" {
				modify = r
			}
			if !slices.Contains(processed, r.EventName+":"+n) {
				processed = append(processed, r.EventName+":"+n)
			}
		}
		return must(json.Marshal(resp)), "", nil
	})
	m := &sources.DynamoDBMapping{Client: dynamodbstreams.NewFromConfig(env.Config), StreamARN: arn, StreamConfig: sources.StreamConfig{
		Function: "f", Invoker: inv, BatchSize: 100, StartingPosition: "TRIM_HORIZON", BisectOnError: true, MaxRetries: 2,
		ReportBatchItemFailures: true, RetryDelay: time.Millisecond, PollInterval: 50 * time.Millisecond,
		OnFailure: sources.S3Destination{Client: s3c, Bucket: dest, Mapping: "m-1"}}}
	run(t, func(ctx context.Context) { _ = m.Run(ctx) })

	var kept []failures.Stored
	awstest.Eventually(t, 30*time.Second, func() (bool, string) {
		var err error
		kept, err = failures.List(context.Background(), s3c, dest)
		return err == nil && len(kept) == 1, fmt.Sprintf("%d records in the on-failure bucket (%v)", len(kept), err)
	})
	rec := kept[0]
	batch, err := rec.DynamoDBEvent()
	if err != nil || len(batch.Records) != 1 {
		t.Fatalf("payload %s: %v", rec.Payload, err)
	}
	b := rec.DDBStreamBatchInfo
	if failures.Mapping(rec.Key) != "m-1" || rec.RequestContext.Condition != "RetryAttemptsExhausted" || rec.RequestContext.ApproximateInvokeCount != 3 ||
		b == nil || b.BatchSize != 1 || b.StreamArn != arn || rec.KinesisBatchInfo != nil ||
		batch.Records[0].Change.NewImage["n"].Number() != "4" || batch.Records[0].Change.SequenceNumber != b.StartSequenceNumber {
		t.Fatalf("on-failure record %s %+v", rec.Key, rec.Record)
	}
	awstest.Eventually(t, 10*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(processed) == 10, fmt.Sprintf("processed %v", processed)
	})
	mu.Lock()
	defer mu.Unlock()
	want := []string{"INSERT:0", "INSERT:1", "INSERT:2", "INSERT:3", "INSERT:5", "INSERT:6", "INSERT:7", "INSERT:8", "INSERT:9", "MODIFY:100"}
	if !slices.Equal(processed, want) {
		t.Fatalf("processed %v, want %v in order", processed, want)
	}
	if modify.Change.OldImage["n"].Number() != "0" || modify.Change.Keys["pk"].String() != "item-0" {
		t.Errorf("MODIFY record %+v lacks its old image or keys", modify.Change)
	}
}

// A record older than MaximumRecordAgeInSeconds is not delivered: it goes to the
// on-failure destination with the condition RecordAgeExceeded.
func TestDynamoDBStreamRecordAge(t *testing.T) {
	f := newStreamFixture(t)
	env, s3c, arn, dest := f.env, f.s3, f.arn, f.failureBucket
	f.put(t, "old", -1)
	var mu sync.Mutex
	invokes := 0
	inv := invokerFunc(func([]byte) ([]byte, string, error) {
		mu.Lock()
		defer mu.Unlock()
		invokes++
		return []byte(`{}`), "", nil
	})
	m := &sources.DynamoDBMapping{Client: dynamodbstreams.NewFromConfig(env.Config), StreamARN: arn, StreamConfig: sources.StreamConfig{
		Function: "f", Invoker: inv, StartingPosition: "TRIM_HORIZON", MaxRetries: 2, MaxRecordAge: time.Nanosecond, // every record is too old by the time it is read
		ReportBatchItemFailures: true, PollInterval: 50 * time.Millisecond,
		OnFailure: sources.S3Destination{Client: s3c, Bucket: dest, Mapping: "m-2"}}}
	run(t, func(ctx context.Context) { _ = m.Run(ctx) })
	var kept []failures.Stored
	awstest.Eventually(t, 20*time.Second, func() (bool, string) {
		var err error
		kept, err = failures.List(context.Background(), s3c, dest)
		return err == nil && len(kept) == 1, fmt.Sprintf("%d records (%v)", len(kept), err)
	})
	if kept[0].RequestContext.Condition != "RecordAgeExceeded" {
		t.Errorf("on-failure record %+v", kept[0].Record)
	}
	mu.Lock()
	defer mu.Unlock()
	if invokes != 0 {
		t.Errorf("the function was invoked %d times with an expired record", invokes)
	}
}
