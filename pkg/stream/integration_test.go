package stream_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/orderflow/orderflow/pkg/awstest"
	"github.com/orderflow/orderflow/pkg/stream"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// Records put with several partition keys come back from the shards' TRIM_HORIZON
// iterators, each key's records in order on one shard.
func TestPutRoundTripIntegration(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	c := kinesis.NewFromConfig(env.Config)
	name := env.Name(t, "order-stream")
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	t.Cleanup(func() { c.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(name)}) })
	awstest.Eventually(t, 30*time.Second, func() (bool, string) {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			return false, err.Error()
		}
		s := out.StreamDescriptionSummary.StreamStatus
		return s == types.StreamStatusActive, "stream " + string(s)
	})

	p := stream.NewProducer(c, name)
	want := map[string][]string{} // partition key -> data in put order
	seqOf := map[string]string{}  // data -> sequence number Put returned
	for i := range 24 {
		key := fmt.Sprintf("order-%d", i%8)
		data := fmt.Sprintf(`{"orderId":%q,"n":%d}`, key, i)
		seq, err := p.Put(ctx, key, []byte(data))
		if err != nil || seq == "" {
			t.Fatalf("Put = %q, %v", seq, err)
		}
		seqOf[data] = seq
		want[key] = append(want[key], data)
	}

	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil || len(shards.Shards) != 2 {
		t.Fatalf("ListShards = %v, %v; want 2 shards", shards, err)
	}
	got := map[string][]string{}
	keyShard := map[string]string{}
	nonEmpty := 0
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name),
			ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1000)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Records) > 0 {
			nonEmpty++
		}
		for _, r := range out.Records {
			k := aws.ToString(r.PartitionKey)
			if prev, ok := keyShard[k]; ok && prev != aws.ToString(sh.ShardId) {
				t.Errorf("key %s on shards %s and %s", k, prev, aws.ToString(sh.ShardId))
			}
			keyShard[k] = aws.ToString(sh.ShardId)
			got[k] = append(got[k], string(r.Data))
			if seq := aws.ToString(r.SequenceNumber); seq != seqOf[string(r.Data)] {
				t.Errorf("record %s has sequence number %s, Put returned %s", r.Data, seq, seqOf[string(r.Data)])
			}
		}
	}
	if nonEmpty != 2 {
		t.Errorf("records on %d shards, want both", nonEmpty)
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("key %s: got %v, want %v in order", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got keys %d, want %d", len(got), len(want))
	}
}
