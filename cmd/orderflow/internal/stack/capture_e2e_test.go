package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/buscapture"
)

// capture is an SQS queue the test reads everything from: the messages it received,
// by SQS message id (a redelivered message counts once, a second delivery by the
// sender counts twice).
type capture struct {
	sqs    *sqs.Client
	url    string
	arn    string
	bodies map[string]string
}

// newCapture creates an SQS queue in the stack's emulator.
func newCapture(t *testing.T, s *Stack, name string) *capture {
	t.Helper()
	c := sqs.NewFromConfig(s.Config)
	ctx := context.Background()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("queue %s attributes: %v", name, err)
	}
	return &capture{sqs: c, url: aws.ToString(out.QueueUrl), arn: attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)],
		bodies: map[string]string{}}
}

// drain receives and deletes messages until the queue answers empty.
func (c *capture) drain(ctx context.Context) error {
	for {
		out, err := c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(c.url),
			MaxNumberOfMessages: 10, VisibilityTimeout: 60, MessageAttributeNames: []string{"All"}})
		if err != nil {
			return fmt.Errorf("receive from %s: %w", c.url, err)
		}
		if len(out.Messages) == 0 {
			return nil
		}
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, 0, len(out.Messages))
		for i, m := range out.Messages {
			c.bodies[aws.ToString(m.MessageId)] = aws.ToString(m.Body)
			entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if _, err := c.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(c.url), Entries: entries}); err != nil {
			return fmt.Errorf("delete from %s: %w", c.url, err)
		}
	}
}

// captureBus puts a rule on the stack's bus that sends every event of source to a new queue.
func captureBus(t *testing.T, s *Stack, source string) *capture {
	t.Helper()
	c := sqs.NewFromConfig(s.Config)
	pattern, _ := json.Marshal(map[string][]string{"source": {source}})
	bc, err := buscapture.New(context.Background(), c, eventbridge.NewFromConfig(s.Config), s.Bus, "e2e-bus-capture", string(pattern), buscapture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &capture{sqs: c, url: bc.QueueURL, arn: bc.QueueARN, bodies: map[string]string{}}
}

// captureTopic subscribes a new queue to the stack's topic with the SNS envelope (raw
// delivery off), so each message carries the topic's message attributes in its body.
func captureTopic(t *testing.T, s *Stack) *capture {
	t.Helper()
	q := newCapture(t, s, "e2e-notifications-capture")
	if _, err := sns.NewFromConfig(s.Config).Subscribe(context.Background(), &sns.SubscribeInput{TopicArn: aws.String(s.Topic),
		Protocol: aws.String("sqs"), Endpoint: aws.String(q.arn)}); err != nil {
		t.Fatalf("subscribe to %s: %v", s.Topic, err)
	}
	return q
}

// snsEnvelope is an SNS notification as a non-raw SQS subscription receives it.
type snsEnvelope struct {
	Type              string
	Message           string
	MessageAttributes map[string]struct{ Type, Value string }
}

// liveChildren lists the test process's children (Linux /proc); unlike childPIDs an
// empty list is an answer, not a failure.
func liveChildren() []int {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var pids []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}
