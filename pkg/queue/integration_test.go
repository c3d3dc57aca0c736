package queue_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/pkg/queue"
	"github.com/orderflow/orderflow/tools/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// send puts body on the queue at url with attrs as String message attributes.
func send(t *testing.T, c *sqs.Client, url, body string, attrs map[string]string) {
	t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}
	if len(attrs) > 0 {
		in.MessageAttributes = map[string]types.MessageAttributeValue{}
		for k, v := range attrs {
			in.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	if _, err := c.SendMessage(context.Background(), in); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// A message received three times without being deleted moves to the DLQ (maxReceiveCount
// 3); Peek shows it there without consuming it and Redrive moves it back.
func TestDLQPeekAndRedriveIntegration(t *testing.T) {
	env := awstest.Env(t)
	c := sqs.NewFromConfig(env.Config)
	q := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "work"), DLQ: true, MaxReceiveCount: 3})
	ctx := context.Background()
	send(t, c, q.URL, `{"poison":true}`, map[string]string{"orderId": "o-1"})
	admin := queue.NewAdmin(c)
	admin.Wait = 0
	var peeked []queue.Message
	receives := 0
	awstest.Eventually(t, 20*time.Second, func() (bool, string) {
		// VisibilityTimeout 0 is the SDK's zero value and is not sent: use 1 s. SQS moves
		// the message on the receive after the third.
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), VisibilityTimeout: 1, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		receives += len(out.Messages)
		peeked, err = admin.Peek(ctx, q.DLQ.URL, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(peeked) == 1, fmt.Sprintf("DLQ holds %d messages after %d receives", len(peeked), receives)
	})
	if receives != 3 {
		t.Errorf("message received %d times before the DLQ, want 3", receives)
	}
	m := peeked[0]
	if m.Body != `{"poison":true}` || m.Attributes["orderId"] != "o-1" || m.ReceiveCount < 3 || m.SentAt.IsZero() {
		t.Errorf("peeked %+v", m)
	}
	// Peek did not consume: a second Peek sees it again.
	again, err := admin.Peek(ctx, q.DLQ.URL, 10)
	if err != nil || len(again) != 1 || again[0].ID != m.ID {
		t.Fatalf("second Peek = %+v, %v; want the same message", again, err)
	}

	n, err := queue.NewAdmin(c).Redrive(ctx, q.DLQ.URL, q.URL)
	if err != nil || n != 1 {
		t.Fatalf("Redrive = %d, %v; want 1, nil", n, err)
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive after redrive = %v, %v", out, err)
	}
	if got := out.Messages[0]; aws.ToString(got.Body) != m.Body || aws.ToString(got.MessageAttributes["orderId"].StringValue) != "o-1" {
		t.Errorf("redriven message %q %v", aws.ToString(got.Body), got.MessageAttributes)
	}
	if left, err := admin.Peek(ctx, q.DLQ.URL, 10); err != nil || len(left) != 0 {
		t.Errorf("DLQ after redrive = %d messages, %v; want empty", len(left), err)
	}
}

func TestPeekManyIntegration(t *testing.T) {
	env := awstest.Env(t)
	c := sqs.NewFromConfig(env.Config)
	q := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "dlq")})
	ctx := context.Background()
	for _, b := range bodies(15) {
		send(t, c, q.URL, string(b), nil)
	}
	admin := queue.NewAdmin(c)
	cases := []struct {
		name string
		max  int
		want int
	}{
		{"fewer than present", 4, 4},
		{"more than one receive", 12, 12},
		{"all", 50, 15},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := admin.Peek(ctx, q.URL, tc.max)
			if err != nil || len(got) != tc.want {
				t.Fatalf("Peek(%d) = %d messages, %v; want %d", tc.max, len(got), err, tc.want)
			}
			ids := map[string]bool{}
			for _, m := range got {
				ids[m.ID] = true
			}
			if len(ids) != tc.want {
				t.Errorf("Peek returned duplicates: %d distinct of %d", len(ids), len(got))
			}
		})
	}
	// Everything is still there, visible.
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil || attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)] != "15" {
		t.Errorf("visible messages after Peek = %v, %v; want 15", attrs.Attributes, err)
	}
}
