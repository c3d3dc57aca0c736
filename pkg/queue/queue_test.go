package queue_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/pkg/queue"
)

// fakeSQS is a hand-written fake: each method delegates to its function field.
type fakeSQS struct {
	send    func(in *sqs.SendMessageInput) (*sqs.SendMessageOutput, error)
	batch   func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error)
	receive func(in *sqs.ReceiveMessageInput) (*sqs.ReceiveMessageOutput, error)
	del     func(in *sqs.DeleteMessageBatchInput) (*sqs.DeleteMessageBatchOutput, error)
	vis     func(in *sqs.ChangeMessageVisibilityBatchInput) (*sqs.ChangeMessageVisibilityBatchOutput, error)

	batches []*sqs.SendMessageBatchInput
}

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	return f.send(in)
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

func bodiesOf(in *sqs.SendMessageBatchInput) []string {
	var out []string
	for _, e := range in.Entries {
		out = append(out, aws.ToString(e.MessageBody))
	}
	return out
}

type sleeps struct{ got []time.Duration }

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.got = append(s.got, d)
	return nil
}

func newSender(f *fakeSQS, s *sleeps) *queue.Sender {
	q := queue.NewSender(f, "https://sqs.test/q")
	q.Sleep = s.sleep
	return q
}

func TestSend(t *testing.T) {
	cases := []struct {
		name  string
		attrs map[string]string
	}{
		{"no attributes", nil},
		{"string attributes", map[string]string{"orderId": "o-1", "command": "reserve"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got *sqs.SendMessageInput
			f := &fakeSQS{send: func(in *sqs.SendMessageInput) (*sqs.SendMessageOutput, error) {
				got = in
				return &sqs.SendMessageOutput{}, nil
			}}
			if err := newSender(f, &sleeps{}).Send(context.Background(), []byte(`{"a":1}`), tc.attrs); err != nil {
				t.Fatal(err)
			}
			if aws.ToString(got.QueueUrl) != "https://sqs.test/q" || aws.ToString(got.MessageBody) != `{"a":1}` {
				t.Errorf("input = %q %q", aws.ToString(got.QueueUrl), aws.ToString(got.MessageBody))
			}
			if len(got.MessageAttributes) != len(tc.attrs) {
				t.Fatalf("attributes = %v, want %v", got.MessageAttributes, tc.attrs)
			}
			for k, v := range tc.attrs {
				a := got.MessageAttributes[k]
				if aws.ToString(a.DataType) != "String" || aws.ToString(a.StringValue) != v {
					t.Errorf("attribute %s = %s %s, want String %s", k, aws.ToString(a.DataType), aws.ToString(a.StringValue), v)
				}
			}
		})
	}
}

func TestSendError(t *testing.T) {
	boom := errors.New("boom")
	f := &fakeSQS{send: func(*sqs.SendMessageInput) (*sqs.SendMessageOutput, error) { return nil, boom }}
	if err := newSender(f, &sleeps{}).Send(context.Background(), []byte("x"), nil); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapping boom", err)
	}
}

func TestSendBatch(t *testing.T) {
	cases := []struct {
		name        string
		n           int
		code        string
		senderFault bool
		failOnce    []string // bodies failing on their first attempt only
		failAlways  []string
		wantCalls   [][]int // body counts per call, or the re-sent bodies
		wantResent  []string
		wantFailed  []int
	}{
		{name: "chunks of ten", n: 25, wantCalls: [][]int{{10}, {10}, {5}}},
		{name: "re-sends only failed entries", n: 25, code: "InternalError", failOnce: []string{`{"n":3}`, `{"n":8}`},
			wantCalls: [][]int{{10}, {2}, {10}, {5}}, wantResent: []string{`{"n":3}`, `{"n":8}`}},
		{name: "gives up after bounded attempts", n: 5, code: "InternalError", failAlways: []string{`{"n":4}`},
			wantCalls: [][]int{{5}, {1}, {1}, {1}}, wantFailed: []int{4}},
		{name: "sender fault is not retried", n: 12, code: "InvalidMessageContents", senderFault: true, failAlways: []string{`{"n":11}`},
			wantCalls: [][]int{{10}, {2}}, wantFailed: []int{11}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			once := map[string]bool{}
			for _, b := range tc.failOnce {
				once[b] = true
			}
			f := &fakeSQS{batch: func(_ int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
				return answer(in, tc.code, tc.senderFault, func(b string) bool {
					if once[b] {
						delete(once, b)
						return true
					}
					return slices.Contains(tc.failAlways, b)
				}), nil
			}}
			s := &sleeps{}
			err := newSender(f, s).SendBatch(context.Background(), bodies(tc.n))
			var counts [][]int
			for _, b := range f.batches {
				counts = append(counts, []int{len(b.Entries)})
			}
			if fmt.Sprint(counts) != fmt.Sprint(tc.wantCalls) {
				t.Errorf("calls = %v, want %v", counts, tc.wantCalls)
			}
			if tc.wantResent != nil && !slices.Equal(bodiesOf(f.batches[1]), tc.wantResent) {
				t.Errorf("re-sent %v, want %v", bodiesOf(f.batches[1]), tc.wantResent)
			}
			if len(s.got) != len(tc.wantCalls)-(tc.n+9)/10 {
				t.Errorf("slept %d times, want one per re-send", len(s.got))
			}
			if tc.wantFailed == nil {
				if err != nil {
					t.Fatalf("SendBatch: %v", err)
				}
				return
			}
			var se *queue.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SendError", err)
			}
			var idx []int
			for _, fm := range se.Failed {
				idx = append(idx, fm.Index)
				if fm.Code != tc.code {
					t.Errorf("code = %q, want %q", fm.Code, tc.code)
				}
			}
			if !slices.Equal(idx, tc.wantFailed) {
				t.Errorf("failed = %v, want %v", idx, tc.wantFailed)
			}
		})
	}
}

func TestSendBatchRequestErrorAndCancel(t *testing.T) {
	boom := errors.New("boom")
	t.Run("request error names the rest", func(t *testing.T) {
		f := &fakeSQS{batch: func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
			if call == 2 {
				return nil, boom
			}
			return answer(in, "", false, func(string) bool { return false }), nil
		}}
		err := newSender(f, &sleeps{}).SendBatch(context.Background(), bodies(25))
		var se *queue.SendError
		if !errors.As(err, &se) || !errors.Is(err, boom) {
			t.Fatalf("err = %v, want *SendError wrapping boom", err)
		}
		if len(se.Failed) != 15 || se.Failed[0].Index != 10 || se.Failed[14].Index != 24 {
			t.Errorf("failed = %+v, want 10..24", se.Failed)
		}
	})
	t.Run("context done during backoff", func(t *testing.T) {
		f := &fakeSQS{batch: func(_ int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
			return answer(in, "InternalError", false, func(string) bool { return true }), nil
		}}
		q := queue.NewSender(f, "u")
		q.Sleep = func(context.Context, time.Duration) error { return context.DeadlineExceeded }
		if err := q.SendBatch(context.Background(), bodies(2)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if len(f.batches) != 1 {
			t.Errorf("calls = %d, want 1", len(f.batches))
		}
	})
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
