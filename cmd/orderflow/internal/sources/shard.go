package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
	"github.com/orderflow/orderflow/pkg/retry"
)

// StreamConfig is how a stream event source mapping (Kinesis, DynamoDB Streams) is set
// up, as template.yaml declares it. Both kinds deliver with AWS's per-shard semantics,
// implemented once here: one poller per shard delivers batches in order; a record the
// function reports as failed (by SequenceNumber) is retried with the records after it;
// a batch that keeps failing is bisected until the failing record stands alone; after
// MaxRetries, or once a record is older than MaxRecordAge, the batch goes to the
// on-failure destination and the shard moves on.
type StreamConfig struct {
	Function    string
	FunctionARN string
	Invoker     Invoker
	Region      string
	// BatchSize (default 100) and Window (MaximumBatchingWindowInSeconds).
	BatchSize int
	Window    time.Duration
	// StartingPosition is TRIM_HORIZON or LATEST.
	StartingPosition string
	// BisectOnError mirrors BisectBatchOnFunctionError.
	BisectOnError bool
	// MaxRetries mirrors MaximumRetryAttempts (-1 = infinite, not recommended).
	MaxRetries int
	// MaxRecordAge mirrors MaximumRecordAgeInSeconds (0 or less = infinite): an older
	// record is not delivered again but discarded to the on-failure destination.
	MaxRecordAge time.Duration
	// ReportBatchItemFailures mirrors FunctionResponseTypes.
	ReportBatchItemFailures bool
	// OnFailure, when set, keeps the record of each discarded batch.
	OnFailure FailureDestination
	// MappingID is the mapping's logical id in the template (logs, settling).
	MappingID string
	// PollInterval is how long a shard waits between reads that leave no batch to
	// deliver (default DefaultKinesisPollInterval).
	PollInterval time.Duration
	// RetryDelay is the pause before a retry (default 100 ms).
	RetryDelay time.Duration
	Log        *slog.Logger
	// Duplicate, when set and true for a batch (its identity: the records' contents),
	// delivers a processed batch again, as a retried checkpoint would (fault injection;
	// each copy is decided on again, see deliverCopies); for a batch that reported a
	// failure at a record, the part before it, so that every record processed is decided
	// on whatever the batching.
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
func (c *StreamConfig) CaughtUp(since int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.emptyAt) == 0 {
		return false
	}
	for _, at := range c.emptyAt {
		if at < since {
			return false
		}
	}
	return true
}

func (c *StreamConfig) setEmptyAt(shardID string, at int64) {
	c.mu.Lock()
	if c.emptyAt == nil {
		c.emptyAt = map[string]int64{}
	}
	c.emptyAt[shardID] = at
	c.mu.Unlock()
}

// DefaultKinesisPollInterval is AWS Lambda's polling rate of a Kinesis shard: one
// GetRecords per second. Faster polling only loads the emulator: records already wait for
// the batching window (5 s for order-stream) before they are delivered.
const DefaultKinesisPollInterval = time.Second

func (c *StreamConfig) logger() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// streamRecord is one record of a shard, as the shard loop needs it.
type streamRecord struct {
	seq     string
	arrival time.Time
	raw     any // the service's own record type
}

// shardInfo is one shard of a stream; parent is "" for a shard without a parent (or whose
// parent has expired).
type shardInfo struct {
	id, parent string
}

// streamSource is what differs between Kinesis and DynamoDB Streams.
type streamSource interface {
	// name is the stream, for logs.
	name() string
	// shards lists the stream's shards.
	shards(ctx context.Context) ([]shardInfo, error)
	// iterator returns an iterator of shardID just after the record with sequence number
	// after, or, with after "", at position (TRIM_HORIZON or LATEST).
	iterator(ctx context.Context, shardID, position, after string) (*string, error)
	// read returns up to limit records at iter and the next iterator (nil once a closed
	// shard is read to its end). last is the sequence number of the last record read
	// from the shard ("" for none yet), for a source that positions each read itself.
	read(ctx context.Context, shardID string, iter *string, last string, limit int) ([]streamRecord, *string, error)
	// event returns the invocation payload of a batch of shardID (events.KinesisEvent,
	// events.DynamoDBEvent).
	event(shardID string, recs []streamRecord) any
	// identity returns what fault decisions on a batch are about: the records' contents,
	// without what differs from run to run (sequence numbers, times).
	identity(recs []streamRecord) []byte
	// setBatchInfo puts b, the on-failure record's batch description, into the member of
	// rec that names the kind of stream (KinesisBatchInfo, DDBStreamBatchInfo).
	setBatchInfo(rec *failures.Record, b *failures.BatchInfo)
}

// run polls every shard of src until ctx is done. With refresh > 0 it lists the shards
// again every refresh and starts pollers for new ones; a child shard is read once its
// parent has been read to its end, so that the changes of one item stay in order. A
// shard's poller that fails (a read error, an expired iterator) starts again from its
// checkpoint, the last record it processed or discarded, as Lambda's mappings do: nothing
// behind the checkpoint is delivered again. The first listing is retried until it works.
func (c *StreamConfig) run(ctx context.Context, src streamSource, refresh time.Duration) error {
	var wg sync.WaitGroup
	done := map[string]chan struct{}{} // closed when the shard has been read to its end
	start := func(sh shardInfo) {
		if _, ok := done[sh.id]; ok {
			return
		}
		finished := make(chan struct{})
		done[sh.id] = finished
		c.setEmptyAt(sh.id, -1)
		parent := done[sh.parent] // nil when unknown: nothing to wait for
		position := c.StartingPosition
		if parent != nil {
			position = "TRIM_HORIZON" // a child starts where its parent ended
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if parent != nil {
				select {
				case <-parent:
				case <-ctx.Done():
					return
				}
			}
			checkpoint := ""
			for ctx.Err() == nil {
				closed, err := c.runShard(ctx, src, sh.id, position, &checkpoint)
				if closed {
					c.setEmptyAt(sh.id, math.MaxInt64) // read to its end: nothing more comes
					close(finished)
					return
				}
				if err != nil && ctx.Err() == nil {
					c.logger().Warn("shard poller restarts from its checkpoint", "stream", src.name(), "shard", sh.id,
						"checkpoint", checkpoint, "error", err)
					_ = retry.Sleep(ctx, time.Second)
				}
			}
		}()
	}
	list := func() error {
		shards, err := src.shards(ctx)
		if err != nil {
			return fmt.Errorf("list shards of %s: %w", src.name(), err)
		}
		for _, sh := range shards { // parents first: AWS lists them before their children
			start(sh)
		}
		return nil
	}
	var err error
	for n := 1; ; n++ {
		if err = list(); err == nil || ctx.Err() != nil {
			break
		}
		c.logger().Warn("stream mapping cannot list shards; retrying", "stream", src.name(), "error", err)
		_ = retry.Sleep(ctx, retry.Backoff(n, 100*time.Millisecond, 5*time.Second))
	}
	for err == nil && refresh > 0 && ctx.Err() == nil {
		_ = retry.Sleep(ctx, refresh)
		if ctx.Err() == nil {
			if lerr := list(); lerr != nil {
				c.logger().Warn("listing shards failed; retrying", "stream", src.name(), "error", lerr)
			}
		}
	}
	wg.Wait()
	return err
}

// runShard reads one shard from *checkpoint (from position when empty) and delivers its
// batches, moving the checkpoint past every batch it has processed or discarded. It
// returns true once a closed shard has been read and delivered to its end.
func (c *StreamConfig) runShard(ctx context.Context, src streamSource, shardID, position string, checkpoint *string) (bool, error) {
	iter, err := src.iterator(ctx, shardID, position, *checkpoint)
	if err != nil {
		return false, err
	}
	last := *checkpoint // sequence number of the last record read
	size := c.BatchSize
	if size <= 0 {
		size = 100
	}
	idle := c.PollInterval
	if idle <= 0 {
		idle = DefaultKinesisPollInterval
	}
	var batch []streamRecord
	defer func() { c.add(-len(batch)) }() // a batch in hand is read again from the checkpoint
	// deliverBatch delivers batch and moves the checkpoint past it; false when ctx ended
	// first (not all delivered: the checkpoint stays).
	deliverBatch := func() bool {
		c.deliver(ctx, src, shardID, batch, c.MaxRetries)
		if ctx.Err() != nil {
			return false
		}
		*checkpoint = batch[len(batch)-1].seq
		c.add(-len(batch))
		batch = nil
		return true
	}
	var first time.Time
	for ctx.Err() == nil {
		if iter == nil { // closed and read to its end
			if len(batch) > 0 && !deliverBatch() {
				return false, nil
			}
			return ctx.Err() == nil, nil
		}
		mark := int64(0)
		if c.Progress != nil {
			mark = c.Progress()
		}
		recs, next, err := src.read(ctx, shardID, iter, last, size-len(batch))
		if err != nil {
			c.setEmptyAt(shardID, -1)
			return false, err
		}
		if len(recs) == 0 && len(batch) == 0 {
			c.setEmptyAt(shardID, mark)
		} else {
			c.setEmptyAt(shardID, -1)
		}
		iter = next
		if len(recs) > 0 {
			last = recs[len(recs)-1].seq
		}
		if len(recs) > 0 && len(batch) == 0 {
			first = time.Now()
		}
		batch = append(batch, recs...)
		c.add(len(recs))
		full := len(batch) >= size
		windowOver := len(batch) > 0 && time.Since(first) >= c.Window
		if full || windowOver {
			if !deliverBatch() {
				return false, nil
			}
			continue
		}
		if iter != nil {
			_ = retry.Sleep(ctx, idle)
		}
	}
	return false, nil
}

// deliver runs records through the function until each is processed or discarded.
func (c *StreamConfig) deliver(ctx context.Context, src streamSource, shardID string, records []streamRecord, retries int) {
	attempts := 1
	for len(records) > 0 && ctx.Err() == nil {
		if n := c.expired(records); n > 0 {
			c.discard(ctx, src, shardID, records[:n], attempts, "", "RecordAgeExceeded")
			records = records[n:]
			continue
		}
		failedAt, fnErr := c.invoke(ctx, src, shardID, records)
		switch {
		case failedAt < 0 && fnErr == "":
			deliverCopies(c.Duplicate, src.identity(records), func() { _, _ = c.invoke(ctx, src, shardID, records) })
			return
		case failedAt > 0:
			done := records[:failedAt]
			deliverCopies(c.Duplicate, src.identity(done), func() { _, _ = c.invoke(ctx, src, shardID, done) })
			records = records[failedAt:] // progress: the records before the failure are done
			continue
		}
		if c.BisectOnError && len(records) > 1 {
			half := len(records) / 2
			c.deliver(ctx, src, shardID, records[:half], c.MaxRetries)
			c.deliver(ctx, src, shardID, records[half:], c.MaxRetries)
			return
		}
		if retries == 0 {
			c.discard(ctx, src, shardID, records, attempts, fnErr, "RetryAttemptsExhausted")
			return
		}
		if retries > 0 {
			retries--
		}
		attempts++
		delay := c.RetryDelay
		if delay <= 0 {
			delay = 100 * time.Millisecond
		}
		_ = retry.Sleep(ctx, delay)
	}
}

// expired returns how many records at the start of records are older than MaxRecordAge.
func (c *StreamConfig) expired(records []streamRecord) int {
	if c.MaxRecordAge <= 0 {
		return 0
	}
	n := 0
	for n < len(records) && time.Since(records[n].arrival) > c.MaxRecordAge {
		n++
	}
	return n
}

// invoke returns the index of the first failed record (-1 when none) and the function
// error ("" when the function answered).
func (c *StreamConfig) invoke(ctx context.Context, src streamSource, shardID string, records []streamRecord) (int, string) {
	payload, err := json.Marshal(src.event(shardID, records))
	if err != nil {
		return 0, "Runtime.MarshalError"
	}
	out, fnErr, err := c.Invoker.InvokeSync(ctx, c.Function, payload)
	if err != nil {
		return 0, "InvokeError"
	}
	if fnErr != "" {
		return 0, fnErr
	}
	if !c.ReportBatchItemFailures {
		return -1, ""
	}
	trimmed := strings.TrimSpace(string(out))
	if trimmed == "" || trimmed == "null" {
		return -1, ""
	}
	// KinesisEventResponse and DynamoDBEventResponse have this one shape.
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return 0, "InvalidResponse"
	}
	first := -1
	for _, f := range resp.BatchItemFailures {
		found := false
		for i, r := range records {
			if r.seq == f.ItemIdentifier {
				found = true
				if first < 0 || i < first {
					first = i
				}
			}
		}
		if !found { // an identifier that is not in the batch: AWS retries the whole batch
			return 0, "InvalidResponse"
		}
	}
	if first == 0 {
		return 0, "BatchItemFailure"
	}
	return first, ""
}

// discard sends the record of a discarded batch to the on-failure destination, as AWS
// does: the invocation's context and the batch's position in the stream; an S3
// destination also keeps the batch itself (the payload), which the stream forgets.
func (c *StreamConfig) discard(ctx context.Context, src streamSource, shardID string, records []streamRecord, attempts int, fnErr, condition string) {
	first, last := records[0], records[len(records)-1]
	now := time.Now().UTC()
	rec := failures.Record{
		RequestContext: failures.RequestContext{RequestID: fmt.Sprintf("local-%d", now.UnixNano()), FunctionArn: c.FunctionARN,
			Condition: condition, ApproximateInvokeCount: attempts},
		ResponseContext: failures.ResponseContext{StatusCode: 200, ExecutedVersion: "$LATEST", FunctionError: fnErr},
		Version:         "1.0",
		Timestamp:       now.Format(time.RFC3339Nano),
	}
	src.setBatchInfo(&rec, &failures.BatchInfo{
		ShardID:                         shardID,
		StartSequenceNumber:             first.seq,
		EndSequenceNumber:               last.seq,
		ApproximateArrivalOfFirstRecord: first.arrival.UTC().Format(time.RFC3339Nano),
		ApproximateArrivalOfLastRecord:  last.arrival.UTC().Format(time.RFC3339Nano),
		BatchSize:                       len(records),
	})
	c.logger().Error("stream records discarded", "function", c.Function, "stream", src.name(), "shard", shardID,
		"first", first.seq, "last", last.seq, "condition", condition, "functionError", fnErr)
	if c.OnFailure == nil {
		return
	}
	event := src.event(shardID, records)
	keep := func(ctx context.Context) error { return c.OnFailure.Keep(ctx, shardID, rec, event) }
	if err := keepReliably(ctx, c.OnFailure.String(), keep, c.logger()); err != nil {
		c.logger().Error("on-failure destination unreachable; batch record lost", "destination", c.OnFailure.String(), "error", err)
	}
}
