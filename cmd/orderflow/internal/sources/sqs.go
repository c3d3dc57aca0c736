// Package sources delivers events to functions the way AWS's event source mappings and
// event invokes do, for the local stack: SQS batches with partial failures, Kinesis
// shards in order with bisection and an on-failure destination, and asynchronous invokes
// with retries and an on-failure destination.
package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/pkg/retry"
)

// Invoker runs a function synchronously; functionError is non-empty when it failed.
type Invoker interface {
	InvokeSync(ctx context.Context, function string, payload []byte) (out []byte, functionError string, err error)
}

// SQSAPI is what the SQS mapping needs of the SQS client.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// SQSMapping is an SQS event source mapping: it polls a queue and invokes a function with
// batches. Messages the function reports as failed (or all of them, when the invoke
// fails) are not deleted: they become visible again after the queue's visibility timeout
// and the queue's redrive policy moves them to its DLQ after maxReceiveCount receives.
type SQSMapping struct {
	Client   SQSAPI
	QueueURL string
	QueueARN string
	Function string
	Invoker  Invoker
	// BatchSize is the largest batch (1-10,000; default 10).
	BatchSize int
	// Window is MaximumBatchingWindowInSeconds: how long to gather a batch.
	Window time.Duration
	// ReportBatchItemFailures mirrors FunctionResponseTypes: [ReportBatchItemFailures].
	ReportBatchItemFailures bool
	// Pollers is how many batches may be in flight at once (default 2).
	Pollers int
	// LongPoll is the WaitTimeSeconds of a receive with no message in hand (default
	// DefaultLongPoll). A waiting receive returns as soon as a message arrives and
	// cancelling the context aborts it, so a long wait delays nothing; a short one only
	// adds empty receives for the emulator to answer.
	LongPoll time.Duration
	Region   string
	Log      *slog.Logger
	// Duplicate, when set and true for a batch (its payload), delivers a processed batch
	// again before it is deleted, as SQS's at-least-once delivery may (fault injection;
	// each copy is decided on again, see deliverCopies).
	Duplicate func(payload []byte) bool

	busy
}

// Run polls until ctx is cancelled.
func (m *SQSMapping) Run(ctx context.Context) {
	n := m.Pollers
	if n <= 0 {
		n = 2
	}
	done := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				if err := m.Poll(ctx); err != nil && ctx.Err() == nil {
					m.logger().Warn("sqs poll failed", "queue", m.QueueURL, "error", err)
					_ = retry.Sleep(ctx, time.Second)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
}

func (m *SQSMapping) logger() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

// Poll gathers one batch, invokes the function once with it and deletes what succeeded.
// It returns nil when the queue was empty.
func (m *SQSMapping) Poll(ctx context.Context) error {
	size := m.BatchSize
	if size <= 0 {
		size = 10
	}
	// The first receive long-polls (LongPoll); once a message is in hand, more are
	// gathered until the batch is full or the batching window has passed.
	var msgs []sqstypes.Message
	var deadline time.Time
	for len(msgs) < size {
		wait := longPollSeconds(m.LongPoll)
		if len(msgs) > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			wait = int32(min(20, int(left/time.Second)))
		}
		out, err := m.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(m.QueueURL),
			MaxNumberOfMessages:         int32(min(10, size-len(msgs))),
			WaitTimeSeconds:             wait,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if len(msgs) > 0 {
				break // deliver what is in hand; the error will show on the next poll
			}
			return fmt.Errorf("receive from %s: %w", m.QueueURL, err)
		}
		if len(msgs) == 0 {
			deadline = time.Now().Add(m.Window)
		}
		msgs = append(msgs, out.Messages...)
		if m.Window <= 0 || (len(out.Messages) == 0 && len(msgs) > 0 && wait == 0) {
			break
		}
		if len(msgs) == 0 {
			return nil
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	m.add(len(msgs))
	defer m.add(-len(msgs))
	return m.deliver(ctx, msgs)
}

// DefaultLongPoll is the WaitTimeSeconds of an idle receive of the SQS mappings and
// rule-target deliveries: 20 s, SQS's maximum, as AWS's own pollers use. Each idle queue
// then costs the emulator one ReceiveMessage per 20 s instead of one a second.
const DefaultLongPoll = 20 * time.Second

// longPollSeconds returns d (DefaultLongPoll when 0 or less) as WaitTimeSeconds, within
// SQS's 1-20 s.
func longPollSeconds(d time.Duration) int32 {
	if d <= 0 {
		d = DefaultLongPoll
	}
	return int32(min(20, max(1, int(d/time.Second))))
}

func (m *SQSMapping) deliver(ctx context.Context, msgs []sqstypes.Message) error {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, msg := range msgs {
		ev.Records[i] = toSQSRecord(msg, m.QueueARN, m.Region)
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	out, fnErr, err := m.Invoker.InvokeSync(ctx, m.Function, payload)
	failed := map[string]bool{}
	switch {
	case err != nil || fnErr != "":
		m.logger().Warn("sqs batch failed; messages return after the visibility timeout",
			"function", m.Function, "messages", len(msgs), "functionError", fnErr, "error", err, "response", truncate(out))
		return nil
	case m.ReportBatchItemFailures:
		ids, ok := batchFailures(out)
		if !ok {
			m.logger().Warn("invalid batch response; the whole batch is retried", "function", m.Function, "response", truncate(out))
			return nil
		}
		for _, id := range ids {
			failed[id] = true
		}
	}
	deliverCopies(m.Duplicate, payload, func() { _, _, _ = m.Invoker.InvokeSync(ctx, m.Function, payload) })
	var del []sqstypes.DeleteMessageBatchRequestEntry
	for i, msg := range msgs {
		if failed[aws.ToString(msg.MessageId)] {
			continue
		}
		del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msg.ReceiptHandle})
	}
	for len(del) > 0 {
		chunk := del[:min(10, len(del))]
		del = del[len(chunk):]
		if _, err := m.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(m.QueueURL), Entries: chunk}); err != nil {
			return fmt.Errorf("delete from %s: %w", m.QueueURL, err)
		}
	}
	return nil
}

// batchFailures parses an SQSEventResponse. An empty or null response means success; a
// response naming an id that is empty is invalid, as in AWS.
func batchFailures(out []byte) ([]string, bool) {
	trimmed := strings.TrimSpace(string(out))
	if trimmed == "" || trimmed == "null" || trimmed == "{}" {
		return nil, true
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, false
	}
	ids := make([]string, 0, len(resp.BatchItemFailures))
	for _, f := range resp.BatchItemFailures {
		if f.ItemIdentifier == "" {
			return nil, false
		}
		ids = append(ids, f.ItemIdentifier)
	}
	return ids, true
}

func toSQSRecord(msg sqstypes.Message, queueARN, region string) events.SQSMessage {
	attrs := make(map[string]string, len(msg.Attributes))
	for k, v := range msg.Attributes {
		attrs[k] = v
	}
	mattrs := make(map[string]events.SQSMessageAttribute, len(msg.MessageAttributes))
	for k, v := range msg.MessageAttributes {
		mattrs[k] = events.SQSMessageAttribute{
			StringValue: v.StringValue, BinaryValue: v.BinaryValue,
			StringListValues: v.StringListValues, BinaryListValues: v.BinaryListValues,
			DataType: aws.ToString(v.DataType),
		}
	}
	return events.SQSMessage{
		MessageId:         aws.ToString(msg.MessageId),
		ReceiptHandle:     aws.ToString(msg.ReceiptHandle),
		Body:              aws.ToString(msg.Body),
		Md5OfBody:         aws.ToString(msg.MD5OfBody),
		Attributes:        attrs,
		MessageAttributes: mattrs,
		EventSource:       "aws:sqs",
		EventSourceARN:    queueARN,
		AWSRegion:         region,
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
