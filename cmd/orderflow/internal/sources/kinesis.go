package sources

import (
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
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/pkg/retry"
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

// KinesisMapping is a Kinesis event source mapping: one poller per shard delivers
// batches in order. A record the function reports as failed (by SequenceNumber) is
// retried with the records after it; a batch that keeps failing is bisected until the
// failing record stands alone, and after MaxRetries that record's batch info goes to the
// on-failure destination and the shard moves on.
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
	FunctionARN  string
	Region       string
	// PollInterval is how long a shard waits between GetRecords that leave no batch to
	// deliver (default DefaultKinesisPollInterval).
	PollInterval time.Duration
	// RetryDelay is the pause before a retry (default 100 ms).
	RetryDelay time.Duration
	Log        *slog.Logger
	// Duplicate, when set and true for a batch (its payload), delivers a processed batch
	// a second time, as a retried checkpoint would (fault injection).
	Duplicate func(payload []byte) bool
	// Progress, when set, counts what may have put records since (the edge's writes): a
	// shard whose read found nothing is caught up with everything counted before it.
	Progress func() int64

	busy
	mu      sync.Mutex
	emptyAt map[string]int64 // shard -> Progress before its last read, when that found nothing; -1 otherwise
}

// CaughtUp reports whether every shard has read the stream to its end, holding nothing,
// since Progress counted since: no record put before that waits for delivery.
func (m *KinesisMapping) CaughtUp(since int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.emptyAt) == 0 {
		return false
	}
	for _, at := range m.emptyAt {
		if at < since {
			return false
		}
	}
	return true
}

func (m *KinesisMapping) setEmptyAt(shardID string, at int64) {
	m.mu.Lock()
	if m.emptyAt == nil {
		m.emptyAt = map[string]int64{}
	}
	m.emptyAt[shardID] = at
	m.mu.Unlock()
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

// Run starts one poller per shard and returns when ctx is cancelled. A shard's poller
// that fails (a read error, an expired iterator) starts again from its checkpoint, the
// last record it processed or discarded, as Lambda's mappings do: nothing behind the
// checkpoint is delivered again.
func (m *KinesisMapping) Run(ctx context.Context) error {
	var out *kinesis.ListShardsOutput
	for n := 1; ; n++ {
		var err error
		if out, err = m.Client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(m.Stream)}); err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("list shards of %s: %w", m.Stream, err)
		}
		m.logger().Warn("kinesis mapping cannot list shards; retrying", "stream", m.Stream, "error", err)
		sleep(ctx, retry.Backoff(n, 100*time.Millisecond, 5*time.Second))
	}
	var wg sync.WaitGroup
	for _, sh := range out.Shards {
		m.setEmptyAt(aws.ToString(sh.ShardId), -1)
		wg.Add(1)
		go func(shardID string) {
			defer wg.Done()
			checkpoint := ""
			for ctx.Err() == nil {
				if err := m.runShard(ctx, shardID, &checkpoint); err != nil && ctx.Err() == nil {
					m.logger().Warn("kinesis shard poller restarts from its checkpoint", "stream", m.Stream, "shard", shardID, "checkpoint", checkpoint, "error", err)
					sleep(ctx, time.Second)
				}
			}
		}(aws.ToString(sh.ShardId))
	}
	wg.Wait()
	return nil
}

// runShard polls one shard from *checkpoint (the StartingPosition when empty) and moves
// the checkpoint past every batch it has processed or discarded.
func (m *KinesisMapping) runShard(ctx context.Context, shardID string, checkpoint *string) error {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(m.Stream), ShardId: aws.String(shardID),
		ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon}
	switch {
	case *checkpoint != "":
		in.ShardIteratorType, in.StartingSequenceNumber = ktypes.ShardIteratorTypeAfterSequenceNumber, aws.String(*checkpoint)
	case strings.EqualFold(m.StartingPosition, "LATEST"):
		in.ShardIteratorType = ktypes.ShardIteratorTypeLatest
	}
	it, err := m.Client.GetShardIterator(ctx, in)
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
	defer func() { m.add(-len(batch)) }() // a batch in hand is read again from the checkpoint
	var first time.Time
	for ctx.Err() == nil && iter != nil {
		mark := int64(0)
		if m.Progress != nil {
			mark = m.Progress()
		}
		out, err := m.Client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(size - len(batch)))})
		if err != nil {
			m.setEmptyAt(shardID, -1)
			return err
		}
		if len(out.Records) == 0 && len(batch) == 0 {
			m.setEmptyAt(shardID, mark)
		} else {
			m.setEmptyAt(shardID, -1)
		}
		iter = out.NextShardIterator
		if len(out.Records) > 0 && len(batch) == 0 {
			first = time.Now()
		}
		batch = append(batch, out.Records...)
		m.add(len(out.Records))
		full := len(batch) >= size
		windowOver := len(batch) > 0 && time.Since(first) >= m.Window
		if full || windowOver {
			m.deliver(ctx, shardID, batch, m.MaxRetries)
			if ctx.Err() != nil {
				return nil // not all delivered: the checkpoint stays
			}
			*checkpoint = aws.ToString(batch[len(batch)-1].SequenceNumber)
			m.add(-len(batch))
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
			if m.Duplicate != nil && m.Duplicate(kinesisIdentity(records)) {
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

// invoke returns the index of the first failed record (-1 when none) and the function
// error ("" when the function answered).
func (m *KinesisMapping) invoke(ctx context.Context, shardID string, records []ktypes.Record) (int, string) {
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
	payload, err := json.Marshal(ev)
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

// discard sends the batch info of records to the on-failure destination, as AWS does
// (the records themselves stay in the stream until retention ends).
func (m *KinesisMapping) discard(ctx context.Context, shardID string, records []ktypes.Record, attempts int, fnErr string) {
	first, last := records[0], records[len(records)-1]
	info := map[string]any{
		"requestContext": map[string]any{
			"requestId": fmt.Sprintf("local-%d", time.Now().UnixNano()), "functionArn": m.FunctionARN,
			"condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts,
		},
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": fnErr},
		"version":         "1.0",
		"timestamp":       time.Now().UTC().Format(time.RFC3339Nano),
		"KinesisBatchInfo": map[string]any{
			"shardId":                         shardID,
			"startSequenceNumber":             aws.ToString(first.SequenceNumber),
			"endSequenceNumber":               aws.ToString(last.SequenceNumber),
			"approximateArrivalOfFirstRecord": aws.ToTime(first.ApproximateArrivalTimestamp).UTC().Format(time.RFC3339Nano),
			"approximateArrivalOfLastRecord":  aws.ToTime(last.ApproximateArrivalTimestamp).UTC().Format(time.RFC3339Nano),
			"batchSize":                       len(records),
			"streamArn":                       m.StreamARN,
		},
	}
	m.logger().Error("kinesis records discarded after retries", "function", m.Function, "shard", shardID,
		"first", aws.ToString(first.SequenceNumber), "last", aws.ToString(last.SequenceNumber), "functionError", fnErr)
	if m.OnFailure == nil {
		return
	}
	body, _ := json.Marshal(info)
	if err := sendReliably(ctx, m.OnFailure, &sqs.SendMessageInput{QueueUrl: aws.String(m.OnFailureURL), MessageBody: aws.String(string(body))}, m.logger()); err != nil {
		m.logger().Error("on-failure destination unreachable; batch info lost", "queue", m.OnFailureURL, "error", err)
	}
}

// kinesisIdentity is what a batch's fault decisions are about: its records' data (the
// events), not their sequence numbers or arrival times, which differ from run to run.
func kinesisIdentity(records []ktypes.Record) []byte {
	var b []byte
	for _, r := range records {
		b = append(append(b, r.Data...), '\n')
	}
	return b
}
