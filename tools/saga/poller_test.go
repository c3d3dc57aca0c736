package saga_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/pkg/retry"
)

// sqsBatchHandler handles one batch as a Lambda SQS event source mapping would deliver it
// and reports the messages to retry.
type sqsBatchHandler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// pollQueue is a minimal SQS event source mapping: until the test ends it receives
// batches of up to 10 messages from the queue, hands them to h, and deletes the messages
// h did not report in BatchItemFailures (all of them stay when h returns an error), so
// the others come back after the visibility timeout. Receive, delete and handler errors
// fail the test when it ends.
func pollQueue(t *testing.T, c *sqs.Client, queueURL, queueARN string, h sqsBatchHandler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	report := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if len(errs) < 10 {
			errs = append(errs, err)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
				QueueUrl:                    aws.String(queueURL),
				MaxNumberOfMessages:         10,
				WaitTimeSeconds:             1,
				MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
				MessageAttributeNames:       []string{"All"},
			})
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				report(fmt.Errorf("receive from %s: %w", queueURL, err))
				if retry.Sleep(ctx, 100*time.Millisecond) != nil {
					return
				}
				continue
			}
			if len(out.Messages) == 0 {
				continue
			}
			ev := sqsEvent(out.Messages, queueARN)
			resp, err := h(ctx, ev)
			if err != nil {
				report(fmt.Errorf("handler failed the whole batch: %w", err))
				continue
			}
			failed := map[string]bool{}
			for _, f := range resp.BatchItemFailures {
				failed[f.ItemIdentifier] = true
			}
			for _, m := range out.Messages {
				if failed[aws.ToString(m.MessageId)] {
					continue
				}
				if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil && ctx.Err() == nil {
					report(fmt.Errorf("delete message %s: %w", aws.ToString(m.MessageId), err))
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Errorf("poller of %s: %v", queueURL, err)
		}
	})
}

// sqsEvent converts received messages into the event Lambda's SQS mapping delivers.
func sqsEvent(msgs []sqstypes.Message, queueARN string) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		attrs := map[string]events.SQSMessageAttribute{}
		for k, v := range m.MessageAttributes {
			attrs[k] = events.SQSMessageAttribute{
				StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType)}
		}
		ev.Records[i] = events.SQSMessage{
			MessageId:         aws.ToString(m.MessageId),
			ReceiptHandle:     aws.ToString(m.ReceiptHandle),
			Body:              aws.ToString(m.Body),
			Md5OfBody:         aws.ToString(m.MD5OfBody),
			Attributes:        m.Attributes,
			MessageAttributes: attrs,
			EventSourceARN:    queueARN,
			EventSource:       "aws:sqs",
			AWSRegion:         "us-east-1",
		}
	}
	return ev
}
