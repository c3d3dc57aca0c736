package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
)

// KinesisAPI is what the Kinesis mapping needs of the Kinesis client.
type KinesisAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// Sender sends one message to an SQS queue (the on-failure destination).
type Sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// ObjectPutter writes one object to S3 (an S3 on-failure destination).
type ObjectPutter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// KinesisMapping is a Kinesis event source mapping: one poller per shard delivers
// batches in order. A record the function reports as failed (by SequenceNumber) is
// retried with the records after it; a batch that keeps failing is bisected until the
// failing record stands alone, and after MaxRetries that record's batch info goes to the
// on-failure destination (an SQS queue; an S3 bucket gets the records too) and the shard
// moves on.
type KinesisMapping struct {
	Client    KinesisAPI
	StreamARN string
	Stream    string
	Function  string
	Invoker   Invoker
	// BatchSize (default 100) and Window (MaximumBatchingWindowInSeconds).
	BatchSize int
	Window    time.Duration
	// StartingPosition is TRIM_HORIZON or LATEST.
	StartingPosition string
	// BisectOnError mirrors BisectBatchOnFunctionError.
	BisectOnError bool
	// MaxRetries mirrors MaximumRetryAttempts (-1 = infinite, not recommended).
	MaxRetries int
	// ReportBatchItemFailures mirrors FunctionResponseTypes.
	ReportBatchItemFailures bool
	// OnFailure, when set, receives the batch info of discarded records (an SQS queue).
	OnFailure    Sender
	OnFailureURL string
	// OnFailureS3, when set, receives the batch info and the discarded records themselves
	// (an S3 destination) in OnFailureBucket, under failures.Key with UUID as the
	// mapping's UUID, as AWS writes them.
	OnFailureS3     ObjectPutter
	OnFailureBucket string
	UUID            string
	FunctionARN     string
	Region          string
	// PollInterval is how long a shard waits between GetRecords that leave no batch to
	// deliver (default DefaultKinesisPollInterval).
	PollInterval time.Duration
	// RetryDelay is the pause before a retry (default 100 ms).
	RetryDelay time.Duration
	Log        *slog.Logger
	// Duplicate, when set and true for a batch, delivers a processed batch a second
	// time, as a retried checkpoint would (fault injection).
	Duplicate func() bool
}

// DefaultKinesisPollInterval is AWS Lambda's polling rate of a shard: one GetRecords per
// second. Faster polling only loads the emulator: records already wait for the batching
// window (5 s for order-stream) before they are delivered.
const DefaultKinesisPollInterval = time.Second

func (m *KinesisMapping) logger() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

// Run starts one poller per shard and returns when ctx is cancelled.
func (m *KinesisMapping) Run(ctx context.Context) error {
	out, err := m.Client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(m.Stream)})
	if err != nil {
		return fmt.Errorf("list shards of %s: %w", m.Stream, err)
	}
	var wg sync.WaitGroup
	for _, sh := range out.Shards {
		wg.Add(1)
		go func(shardID string) {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := m.runShard(ctx, shardID); err != nil && ctx.Err() == nil {
					m.logger().Warn("kinesis shard poller restarts", "stream", m.Stream, "shard", shardID, "error", err)
					sleep(ctx, time.Second)
				}
			}
		}(aws.ToString(sh.ShardId))
	}
	wg.Wait()
	return nil
}

func (m *KinesisMapping) runShard(ctx context.Context, shardID string) error {
	pos := ktypes.ShardIteratorTypeTrimHorizon
	if strings.EqualFold(m.StartingPosition, "LATEST") {
		pos = ktypes.ShardIteratorTypeLatest
	}
	it, err := m.Client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(m.Stream), ShardId: aws.String(shardID), ShardIteratorType: pos,
	})
	if err != nil {
		return err
	}
	iter := it.ShardIterator
	size := m.BatchSize
	if size <= 0 {
		size = 100
	}
	idle := m.PollInterval
	if idle <= 0 {
		idle = DefaultKinesisPollInterval
	}
	var batch []ktypes.Record
	var first time.Time
	for ctx.Err() == nil && iter != nil {
		out, err := m.Client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(size - len(batch)))})
		if err != nil {
			return err
		}
		iter = out.NextShardIterator
		if len(out.Records) > 0 && len(batch) == 0 {
			first = time.Now()
		}
		batch = append(batch, out.Records...)
		full := len(batch) >= size
		windowOver := len(batch) > 0 && time.Since(first) >= m.Window
		if full || windowOver {
			m.deliver(ctx, shardID, batch, m.MaxRetries)
			batch = nil
			continue
		}
		sleep(ctx, idle)
	}
	return nil
}

// deliver runs records through the function until each is processed or discarded.
func (m *KinesisMapping) deliver(ctx context.Context, shardID string, records []ktypes.Record, retries int) {
	attempts := 1
	for len(records) > 0 && ctx.Err() == nil {
		failedAt, fnErr := m.invoke(ctx, shardID, records)
		switch {
		case failedAt < 0 && fnErr == "":
			if m.Duplicate != nil && m.Duplicate() {
				_, _ = m.invoke(ctx, shardID, records)
			}
			return
		case failedAt > 0:
			records = records[failedAt:] // progress: the records before the failure are done
			continue
		}
		if m.BisectOnError && len(records) > 1 {
			half := len(records) / 2
			m.deliver(ctx, shardID, records[:half], m.MaxRetries)
			m.deliver(ctx, shardID, records[half:], m.MaxRetries)
			return
		}
		if retries == 0 {
			m.discard(ctx, shardID, records, attempts, fnErr)
			return
		}
		if retries > 0 {
			retries--
		}
		attempts++
		delay := m.RetryDelay
		if delay <= 0 {
			delay = 100 * time.Millisecond
		}
		sleep(ctx, delay)
	}
}

// event is the Kinesis event of records as Lambda invokes the function with it.
func (m *KinesisMapping) event(shardID string, records []ktypes.Record) events.KinesisEvent {
	ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, len(records))}
	for i, r := range records {
		ev.Records[i] = events.KinesisEventRecord{
			AwsRegion:      m.Region,
			EventID:        shardID + ":" + aws.ToString(r.SequenceNumber),
			EventName:      "aws:kinesis:record",
			EventSource:    "aws:kinesis",
			EventSourceArn: m.StreamARN,
			EventVersion:   "1.0",
			Kinesis: events.KinesisRecord{
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: aws.ToTime(r.ApproximateArrivalTimestamp)},
				Data:                        r.Data,
				PartitionKey:                aws.ToString(r.PartitionKey),
				SequenceNumber:              aws.ToString(r.SequenceNumber),
				KinesisSchemaVersion:        "1.0",
			},
		}
	}
	return ev
}

// invoke returns the index of the first failed record (-1 when none) and the function
// error ("" when the function answered).
func (m *KinesisMapping) invoke(ctx context.Context, shardID string, records []ktypes.Record) (int, string) {
	payload, err := json.Marshal(m.event(shardID, records))
	if err != nil {
		return 0, "Runtime.MarshalError"
	}
	out, fnErr, err := m.Invoker.InvokeSync(ctx, m.Function, payload)
	if err != nil {
		return 0, "InvokeError"
	}
	if fnErr != "" {
		return 0, fnErr
	}
	if !m.ReportBatchItemFailures {
		return -1, ""
	}
	var resp events.KinesisEventResponse
	trimmed := strings.TrimSpace(string(out))
	if trimmed == "" || trimmed == "null" {
		return -1, ""
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return 0, "InvalidResponse"
	}
	first := -1
	for _, f := range resp.BatchItemFailures {
		for i, r := range records {
			if aws.ToString(r.SequenceNumber) == f.ItemIdentifier && (first < 0 || i < first) {
				first = i
			}
		}
		if first < 0 { // an identifier that is not in the batch: AWS retries the whole batch
			return 0, "InvalidResponse"
		}
	}
	if first == 0 {
		return 0, "BatchItemFailure"
	}
	return first, ""
}

// discard sends the batch info of records to the on-failure destination, as AWS does: an
// SQS queue gets the batch info alone (the records stay in the stream until retention
// ends), an S3 bucket the batch info with the records themselves.
func (m *KinesisMapping) discard(ctx context.Context, shardID string, records []ktypes.Record, attempts int, fnErr string) {
	first, last := records[0], records[len(records)-1]
	now := time.Now().UTC()
	requestID := fmt.Sprintf("local-%d", now.UnixNano())
	rec := failures.Record{
		RequestContext: failures.RequestContext{RequestID: requestID, FunctionArn: m.FunctionARN,
			Condition: "RetryAttemptsExhausted", ApproximateInvokeCount: attempts},
		ResponseContext: failures.ResponseContext{StatusCode: 200, ExecutedVersion: "$LATEST", FunctionError: fnErr},
		Version:         "1.0",
		Timestamp:       now.Format(time.RFC3339Nano),
		KinesisBatchInfo: &failures.BatchInfo{
			ShardID:                         shardID,
			StartSequenceNumber:             aws.ToString(first.SequenceNumber),
			EndSequenceNumber:               aws.ToString(last.SequenceNumber),
			ApproximateArrivalOfFirstRecord: aws.ToTime(first.ApproximateArrivalTimestamp).UTC().Format(time.RFC3339Nano),
			ApproximateArrivalOfLastRecord:  aws.ToTime(last.ApproximateArrivalTimestamp).UTC().Format(time.RFC3339Nano),
			BatchSize:                       len(records),
			StreamArn:                       m.StreamARN,
		},
	}
	m.logger().Error("kinesis records discarded after retries", "function", m.Function, "shard", shardID,
		"first", aws.ToString(first.SequenceNumber), "last", aws.ToString(last.SequenceNumber), "functionError", fnErr)
	if m.OnFailure != nil {
		body, _ := json.Marshal(rec)
		if _, err := m.OnFailure.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(m.OnFailureURL), MessageBody: aws.String(string(body))}); err != nil {
			m.logger().Error("on-failure destination unreachable; batch info lost", "queue", m.OnFailureURL, "error", err)
		}
	}
	if m.OnFailureS3 != nil {
		key := failures.Key(m.UUID, shardID, now, requestID)
		err := rec.SetPayload(m.event(shardID, records))
		if err == nil {
			body, _ := json.Marshal(rec)
			_, err = m.OnFailureS3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(m.OnFailureBucket), Key: aws.String(key),
				Body: bytes.NewReader(body), ContentType: aws.String("application/json")})
		}
		if err != nil {
			m.logger().Error("on-failure destination unreachable; records lost", "bucket", m.OnFailureBucket, "key", key, "error", err)
		}
	}
}
