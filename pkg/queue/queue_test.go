package queue_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/pkg/queue"
)

// fakeSQS is a hand-written fake: each method delegates to its function field.
type fakeSQS struct {
	batch   func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error)
	receive func(in *sqs.ReceiveMessageInput) (*sqs.ReceiveMessageOutput, error)
	del     func(in *sqs.DeleteMessageBatchInput) (*sqs.DeleteMessageBatchOutput, error)
	vis     func(in *sqs.ChangeMessageVisibilityBatchInput) (*sqs.ChangeMessageVisibilityBatchOutput, error)

	batches []*sqs.SendMessageBatchInput
}

func (f *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.batches = append(f.batches, in)
	return f.batch(len(f.batches), in)
}

func (f *fakeSQS) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	return f.receive(in)
}

func (f *fakeSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	return f.del(in)
}

func (f *fakeSQS) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	return f.vis(in)
}

// answer reports every entry sent except those whose body fail picks.
func answer(in *sqs.SendMessageBatchInput, code string, senderFault bool, fail func(body string) bool) *sqs.SendMessageBatchOutput {
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if fail(aws.ToString(e.MessageBody)) {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String(code), Message: aws.String("boom"), SenderFault: senderFault})
			continue
		}
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m-" + aws.ToString(e.Id))})
	}
	return out
}

func bodies(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"n":%d}`, i)
	}
	return out
}

// Redrive deletes from the source only what reached the target.
func TestRedriveDeletesOnlySent(t *testing.T) {
	rounds := [][]types.Message{{
		{MessageId: aws.String("a"), Body: aws.String("A"), ReceiptHandle: aws.String("ra")},
		{MessageId: aws.String("b"), Body: aws.String("B"), ReceiptHandle: aws.String("rb")},
	}}
	var deleted []string
	f := &fakeSQS{
		receive: func(in *sqs.ReceiveMessageInput) (*sqs.ReceiveMessageOutput, error) {
			if aws.ToString(in.QueueUrl) != "dlq" {
				t.Errorf("receive from %s", aws.ToString(in.QueueUrl))
			}
			if len(rounds) == 0 {
				return &sqs.ReceiveMessageOutput{}, nil
			}
			r := rounds[0]
			rounds = rounds[1:]
			return &sqs.ReceiveMessageOutput{Messages: r}, nil
		},
		batch: func(_ int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
			if aws.ToString(in.QueueUrl) != "main" {
				t.Errorf("send to %s", aws.ToString(in.QueueUrl))
			}
			return answer(in, "InternalError", false, func(b string) bool { return b == "B" }), nil
		},
		del: func(in *sqs.DeleteMessageBatchInput) (*sqs.DeleteMessageBatchOutput, error) {
			out := &sqs.DeleteMessageBatchOutput{}
			for _, e := range in.Entries {
				deleted = append(deleted, aws.ToString(e.ReceiptHandle))
				out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
			}
			return out, nil
		},
	}
	n, err := queue.NewAdmin(f).Redrive(context.Background(), "dlq", "main")
	if n != 1 || !slices.Equal(deleted, []string{"ra"}) {
		t.Errorf("moved %d, deleted %v; want 1, [ra]", n, deleted)
	}
	if err == nil || !strings.Contains(err.Error(), "message b not sent") {
		t.Errorf("err = %v, want naming message b", err)
	}
	if _, err := queue.NewAdmin(f).Redrive(context.Background(), "dlq", "dlq"); err == nil {
		t.Error("redrive onto itself: want an error")
	}
}
