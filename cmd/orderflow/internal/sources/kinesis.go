package sources

import (
	"context"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
)

// KinesisAPI is what the Kinesis mapping needs of the Kinesis client.
type KinesisAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// KinesisMapping is a Kinesis event source mapping: StreamConfig's per-shard delivery over
// a Kinesis stream, with KinesisEvent batches.
type KinesisMapping struct {
	StreamConfig
	Client    KinesisAPI
	StreamARN string
	Stream    string
}

// Run starts one poller per shard and returns when ctx is cancelled. A shard's poller
// that fails (a read error, an expired iterator) starts again from its checkpoint, the
// last record it processed or discarded, as Lambda's mappings do: nothing behind the
// checkpoint is delivered again.
func (m *KinesisMapping) Run(ctx context.Context) error {
	return m.run(ctx, kinesisSource{m}, 0)
}

type kinesisSource struct{ m *KinesisMapping }

func (s kinesisSource) name() string { return s.m.Stream }

func (s kinesisSource) shards(ctx context.Context) ([]shardInfo, error) {
	out, err := s.m.Client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(s.m.Stream)})
	if err != nil {
		return nil, err
	}
	shards := make([]shardInfo, len(out.Shards))
	for i, sh := range out.Shards {
		shards[i] = shardInfo{id: aws.ToString(sh.ShardId), parent: aws.ToString(sh.ParentShardId)}
	}
	return shards, nil
}

func (s kinesisSource) iterator(ctx context.Context, shardID, position, after string) (*string, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(s.m.Stream), ShardId: aws.String(shardID),
		ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon}
	switch {
	case after != "":
		in.ShardIteratorType, in.StartingSequenceNumber = ktypes.ShardIteratorTypeAfterSequenceNumber, aws.String(after)
	case strings.EqualFold(position, "LATEST"):
		in.ShardIteratorType = ktypes.ShardIteratorTypeLatest
	}
	it, err := s.m.Client.GetShardIterator(ctx, in)
	if err != nil {
		return nil, err
	}
	return it.ShardIterator, nil
}

func (s kinesisSource) read(ctx context.Context, _ string, iter *string, _ string, limit int) ([]streamRecord, *string, error) {
	out, err := s.m.Client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(limit))})
	if err != nil {
		return nil, nil, err
	}
	recs := make([]streamRecord, len(out.Records))
	for i, r := range out.Records {
		recs[i] = streamRecord{seq: aws.ToString(r.SequenceNumber), arrival: aws.ToTime(r.ApproximateArrivalTimestamp), raw: r}
	}
	return recs, out.NextShardIterator, nil
}

func (s kinesisSource) event(shardID string, recs []streamRecord) any {
	ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, len(recs))}
	for i, sr := range recs {
		r := sr.raw.(ktypes.Record)
		ev.Records[i] = events.KinesisEventRecord{
			AwsRegion:      s.m.Region,
			EventID:        shardID + ":" + aws.ToString(r.SequenceNumber),
			EventName:      "aws:kinesis:record",
			EventSource:    "aws:kinesis",
			EventSourceArn: s.m.StreamARN,
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

func (s kinesisSource) setBatchInfo(rec *failures.Record, b *failures.BatchInfo) {
	b.StreamArn = s.m.StreamARN
	rec.KinesisBatchInfo = b
}

// identity is what a batch's fault decisions are about: its records' data (the events),
// not their sequence numbers or arrival times, which differ from run to run.
func (s kinesisSource) identity(recs []streamRecord) []byte {
	var b []byte
	for _, sr := range recs {
		b = append(append(b, sr.raw.(ktypes.Record).Data...), '\n')
	}
	return b
}
