package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	dstypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
)

// DynamoDBStreamsAPI is what the DynamoDB stream mapping needs of the DynamoDB Streams
// client.
type DynamoDBStreamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// DynamoDBMapping is a DynamoDB Streams event source mapping (a table's stream): the same
// per-shard delivery as Kinesis (StreamConfig), with DynamoDBEvent batches and the
// DDBStreamBatchInfo of AWS's on-failure records. Shards are listed again every
// ShardRefresh, because DynamoDB closes a stream's shards and opens children (about every
// four hours on AWS); a child is read after its parent.
type DynamoDBMapping struct {
	StreamConfig
	Client    DynamoDBStreamsAPI
	StreamARN string
	// ShardRefresh is how often the shards are listed again (default 10 s).
	ShardRefresh time.Duration
	// ReadGate, when set, is held around each read (GetShardIterator and GetRecords):
	// the local stack holds its other side around the emulator's TransactWriteItems, so
	// that no read sees a transaction half applied (see read).
	ReadGate sync.Locker
}

// Run polls the stream's shards until ctx is cancelled.
func (m *DynamoDBMapping) Run(ctx context.Context) error {
	refresh := m.ShardRefresh
	if refresh <= 0 {
		refresh = 10 * time.Second
	}
	return m.run(ctx, dynamoSource{m}, refresh)
}

type dynamoSource struct{ m *DynamoDBMapping }

func (s dynamoSource) name() string { return s.m.StreamARN }

func (s dynamoSource) shards(ctx context.Context) ([]shardInfo, error) {
	var shards []shardInfo
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(s.m.StreamARN)}
	for {
		out, err := s.m.Client.DescribeStream(ctx, in)
		if err != nil {
			return nil, err
		}
		if out.StreamDescription == nil {
			return nil, fmt.Errorf("stream %s has no description", s.m.StreamARN)
		}
		for _, sh := range out.StreamDescription.Shards {
			shards = append(shards, shardInfo{id: aws.ToString(sh.ShardId), parent: aws.ToString(sh.ParentShardId)})
		}
		if out.StreamDescription.LastEvaluatedShardId == nil {
			return shards, nil
		}
		in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId
	}
}

func (s dynamoSource) iterator(ctx context.Context, shardID, position, after string) (*string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(s.m.StreamARN), ShardId: aws.String(shardID),
		ShardIteratorType: dstypes.ShardIteratorTypeTrimHorizon}
	switch {
	case after != "":
		in.ShardIteratorType, in.SequenceNumber = dstypes.ShardIteratorTypeAfterSequenceNumber, aws.String(after)
	case strings.EqualFold(position, "LATEST"):
		in.ShardIteratorType = dstypes.ShardIteratorTypeLatest
	}
	out, err := s.m.Client.GetShardIterator(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.ShardIterator, nil
}

// read positions every read itself, just after the last record read (or at the shard's
// start), rather than following NextShardIterator, and holds ReadGate while it does. The
// emulator needs both: moto 5.2.1 applies a TransactWriteItems item by item, so a
// cancelled transaction appends the stream record of its put before it is rolled back;
// its stream reads take no lock; and upstream rolls back by replacing the table, stream
// shard included, with a copy taken before, while an iterator keeps reading the shard
// object it was made on (the shim's fix 10 rolls back in place, but a stack may run on an
// unpatched endpoint). Following NextShardIterator, a reader could publish the record of an
// order that was never written and then skip the real record that reuses its sequence
// number. On AWS this costs one GetShardIterator per read.
func (s dynamoSource) read(ctx context.Context, shardID string, iter *string, last string, limit int) ([]streamRecord, *string, error) {
	if g := s.m.ReadGate; g != nil {
		g.Lock()
		defer g.Unlock()
	}
	if last != "" || !strings.EqualFold(s.m.StartingPosition, "LATEST") {
		var err error
		if iter, err = s.iterator(ctx, shardID, s.m.StartingPosition, last); err != nil {
			return nil, nil, err
		}
	}
	in := &dynamodbstreams.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(min(limit, 1000)))}
	out, err := s.m.Client.GetRecords(ctx, in)
	var trimmed *dstypes.TrimmedDataAccessException
	if errors.As(err, &trimmed) {
		// The records after last were trimmed (the stream's retention, or the emulator's
		// bound) before they were read: as on AWS they are gone; read on from the oldest.
		s.m.logger().Error("stream records trimmed before they were read; reading on from the trim horizon",
			"stream", s.m.StreamARN, "shard", shardID, "after", last)
		if in.ShardIterator, err = s.iterator(ctx, shardID, "TRIM_HORIZON", ""); err == nil {
			out, err = s.m.Client.GetRecords(ctx, in)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	recs := make([]streamRecord, 0, len(out.Records))
	for _, r := range out.Records {
		sr := streamRecord{raw: r}
		if r.Dynamodb != nil {
			sr.seq = aws.ToString(r.Dynamodb.SequenceNumber)
			sr.arrival = aws.ToTime(r.Dynamodb.ApproximateCreationDateTime)
		}
		recs = append(recs, sr)
	}
	return recs, out.NextShardIterator, nil
}

func (s dynamoSource) event(_ string, recs []streamRecord) any {
	ev := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, len(recs))}
	for i, sr := range recs {
		r := sr.raw.(dstypes.Record)
		out := events.DynamoDBEventRecord{
			AWSRegion:      aws.ToString(r.AwsRegion),
			EventID:        aws.ToString(r.EventID),
			EventName:      string(r.EventName),
			EventSource:    aws.ToString(r.EventSource),
			EventVersion:   aws.ToString(r.EventVersion),
			EventSourceArn: s.m.StreamARN,
		}
		if out.AWSRegion == "" {
			out.AWSRegion = s.m.Region
		}
		if d := r.Dynamodb; d != nil {
			out.Change = events.DynamoDBStreamRecord{
				ApproximateCreationDateTime: events.SecondsEpochTime{Time: aws.ToTime(d.ApproximateCreationDateTime)},
				Keys:                        image(d.Keys),
				NewImage:                    image(d.NewImage),
				OldImage:                    image(d.OldImage),
				SequenceNumber:              aws.ToString(d.SequenceNumber),
				SizeBytes:                   aws.ToInt64(d.SizeBytes),
				StreamViewType:              string(d.StreamViewType),
			}
		}
		if u := r.UserIdentity; u != nil {
			out.UserIdentity = &events.DynamoDBUserIdentity{Type: aws.ToString(u.Type), PrincipalID: aws.ToString(u.PrincipalId)}
		}
		ev.Records[i] = out
	}
	return ev
}

func (s dynamoSource) setBatchInfo(rec *failures.Record, b *failures.BatchInfo) {
	b.StreamArn = s.m.StreamARN
	rec.DDBStreamBatchInfo = b
}

// image converts a stream image of the SDK into aws-lambda-go's attribute values, as
// Lambda puts them in the event.
func image(m map[string]dstypes.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = attributeValue(v)
	}
	return out
}

func attributeValue(v dstypes.AttributeValue) events.DynamoDBAttributeValue {
	switch x := v.(type) {
	case *dstypes.AttributeValueMemberS:
		return events.NewStringAttribute(x.Value)
	case *dstypes.AttributeValueMemberN:
		return events.NewNumberAttribute(x.Value)
	case *dstypes.AttributeValueMemberB:
		return events.NewBinaryAttribute(x.Value)
	case *dstypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(x.Value)
	case *dstypes.AttributeValueMemberNULL:
		return events.NewNullAttribute()
	case *dstypes.AttributeValueMemberSS:
		return events.NewStringSetAttribute(x.Value)
	case *dstypes.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(x.Value)
	case *dstypes.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(x.Value)
	case *dstypes.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(x.Value))
		for i, e := range x.Value {
			l[i] = attributeValue(e)
		}
		return events.NewListAttribute(l)
	case *dstypes.AttributeValueMemberM:
		return events.NewMapAttribute(image(x.Value))
	}
	return events.NewNullAttribute()
}

// identity is what a batch's fault decisions are about: its records' changes (event name,
// keys and new image), not their event ids, sequence numbers or times, which differ from
// run to run.
func (s dynamoSource) identity(recs []streamRecord) []byte {
	var b []byte
	for _, sr := range recs {
		r := sr.raw.(dstypes.Record)
		change := []any{string(r.EventName)}
		if d := r.Dynamodb; d != nil {
			change = append(change, image(d.Keys), image(d.NewImage))
		}
		line, _ := json.Marshal(change)
		b = append(append(b, line...), '\n')
	}
	return b
}
