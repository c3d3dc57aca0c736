package stream_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/orderflow/orderflow/pkg/stream"
)

type fakeKinesis struct {
	put func(in *kinesis.PutRecordInput) (*kinesis.PutRecordOutput, error)
}

func (f fakeKinesis) PutRecord(_ context.Context, in *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
	return f.put(in)
}

func TestPut(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name    string
		key     string
		err     error
		wantSeq string
		wantErr error
	}{
		{"ok", "o-1", nil, "4955001", nil},
		{"empty key", "", nil, "", stream.ErrNoPartitionKey},
		{"kinesis error", "o-1", boom, "", boom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got *kinesis.PutRecordInput
			p := stream.NewProducer(fakeKinesis{put: func(in *kinesis.PutRecordInput) (*kinesis.PutRecordOutput, error) {
				got = in
				if tc.err != nil {
					return nil, tc.err
				}
				return &kinesis.PutRecordOutput{SequenceNumber: aws.String("4955001"), ShardId: aws.String("shardId-000000000000")}, nil
			}}, "order-stream")
			seq, err := p.Put(context.Background(), tc.key, []byte(`{"a":1}`))
			if seq != tc.wantSeq || !errors.Is(err, tc.wantErr) {
				t.Fatalf("Put = %q, %v; want %q, %v", seq, err, tc.wantSeq, tc.wantErr)
			}
			if tc.key == "" {
				if got != nil {
					t.Error("PutRecord called with an empty key")
				}
				return
			}
			if aws.ToString(got.StreamName) != "order-stream" || aws.ToString(got.PartitionKey) != tc.key || string(got.Data) != `{"a":1}` {
				t.Errorf("input = %q %q %q", aws.ToString(got.StreamName), aws.ToString(got.PartitionKey), got.Data)
			}
		})
	}
}
