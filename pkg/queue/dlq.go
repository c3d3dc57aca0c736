package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ReceiveAPI is the part of *sqs.Client that reads a queue without consuming it.
type ReceiveAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// MoveAPI is the part of *sqs.Client that moves messages between queues.
type MoveAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// AdminAPI is the part of *sqs.Client an Admin uses.
type AdminAPI interface {
	ReceiveAPI
	MoveAPI
}

// Admin inspects and redrives dead-letter queues, for the CLI and tests.
type Admin struct {
	// Wait is the long-poll wait of each receive: an empty answer after it means the
	// queue is drained (a short poll may answer empty while messages exist).
	Wait time.Duration
	// Hold is how long received messages stay invisible to others during a Peek or
	// before a Redrive deletes them.
	Hold time.Duration

	c AdminAPI
}

// NewAdmin returns an Admin with a 1 s long-poll wait and a 30 s hold.
func NewAdmin(c AdminAPI) *Admin {
	return &Admin{Wait: time.Second, Hold: 30 * time.Second, c: c}
}

// Message is a message as Peek shows it.
type Message struct {
	ID   string
	Body string
	// Attributes are the String and Number message attributes.
	Attributes map[string]string
	// ReceiveCount is SQS's ApproximateReceiveCount, this Peek included.
	ReceiveCount int
	// SentAt is when the message was first sent (to the source queue, for a DLQ).
	SentAt time.Time
	// System holds every system attribute SQS returned.
	System map[string]string
}

// Peek returns up to max messages of the queue at queueURL without consuming them: they
// are hidden while Peek reads and made visible again before it returns. Use it on
// dead-letter queues: on a queue with a redrive policy every Peek counts as a receive. It
// returns the SQS error, wrapped.
func (a *Admin) Peek(ctx context.Context, queueURL string, max int) (msgs []Message, err error) {
	var handles []string
	defer func() {
		if rerr := a.release(context.WithoutCancel(ctx), queueURL, handles); rerr != nil && err == nil {
			err = rerr
		}
	}()
	seen := map[string]bool{}
	for len(msgs) < max {
		out, err := a.receive(ctx, queueURL, min(MaxBatch, max-len(msgs)))
		if err != nil {
			return msgs, fmt.Errorf("peek %s: %w", queueURL, err)
		}
		fresh := 0
		for _, m := range out {
			handles = append(handles, aws.ToString(m.ReceiptHandle))
			if seen[aws.ToString(m.MessageId)] {
				continue
			}
			seen[aws.ToString(m.MessageId)] = true
			fresh++
			msgs = append(msgs, toMessage(m))
		}
		if fresh == 0 {
			break
		}
	}
	return msgs, nil
}

// Redrive moves every message of the queue at fromURL to the queue at toURL, keeping body
// and message attributes, deleting each from the source only once it was sent. It returns
// how many were moved, with an error naming messages that could not be sent (they stay in
// the source and reappear after Hold) or wrapping the SQS error that stopped it.
func (a *Admin) Redrive(ctx context.Context, fromURL, toURL string) (int, error) {
	if fromURL == toURL {
		return 0, errSameQueue
	}
	moved := 0
	var errs []error
	for {
		out, err := a.receive(ctx, fromURL, MaxBatch)
		if err != nil {
			return moved, errors.Join(append(errs, fmt.Errorf("redrive: receive from %s: %w", fromURL, err))...)
		}
		if len(out) == 0 {
			return moved, errors.Join(errs...)
		}
		entries := make([]types.SendMessageBatchRequestEntry, len(out))
		for i, m := range out {
			entries[i] = types.SendMessageBatchRequestEntry{
				Id:                aws.String(strconv.Itoa(i)),
				MessageBody:       m.Body,
				MessageAttributes: m.MessageAttributes,
			}
			if g := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]; g != "" {
				entries[i].MessageGroupId = aws.String(g)
				entries[i].MessageDeduplicationId = m.MessageId
			}
		}
		sent, err := a.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(toURL), Entries: entries})
		if err != nil {
			return moved, errors.Join(append(errs, fmt.Errorf("redrive: send to %s: %w", toURL, err))...)
		}
		for _, f := range sent.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			errs = append(errs, fmt.Errorf("redrive: message %s not sent: %s: %s", aws.ToString(out[i].MessageId), aws.ToString(f.Code), aws.ToString(f.Message)))
		}
		if len(sent.Successful) == 0 {
			continue
		}
		del := make([]types.DeleteMessageBatchRequestEntry, 0, len(sent.Successful))
		for _, s := range sent.Successful {
			i, _ := strconv.Atoi(aws.ToString(s.Id))
			del = append(del, types.DeleteMessageBatchRequestEntry{Id: s.Id, ReceiptHandle: out[i].ReceiptHandle})
		}
		dout, err := a.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(fromURL), Entries: del})
		if err != nil {
			// Sent but not deleted: the copies reappear in the source, a duplicate the
			// consumers' idempotency absorbs.
			return moved, errors.Join(append(errs, fmt.Errorf("redrive: delete from %s: %w", fromURL, err))...)
		}
		moved += len(dout.Successful)
		for _, f := range dout.Failed {
			errs = append(errs, fmt.Errorf("redrive: message sent but not deleted from source (entry %s): %s", aws.ToString(f.Id), aws.ToString(f.Message)))
		}
	}
}

func (a *Admin) receive(ctx context.Context, queueURL string, n int) ([]types.Message, error) {
	out, err := a.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(queueURL),
		MaxNumberOfMessages:         int32(n),
		VisibilityTimeout:           int32(a.Hold / time.Second),
		WaitTimeSeconds:             int32(a.Wait / time.Second),
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// release makes peeked messages visible again.
func (a *Admin) release(ctx context.Context, queueURL string, handles []string) error {
	for start := 0; start < len(handles); start += MaxBatch {
		chunk := handles[start:min(start+MaxBatch, len(handles))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for i, h := range chunk {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h), VisibilityTimeout: 0}
		}
		out, err := a.c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			return fmt.Errorf("peek %s: release messages: %w", queueURL, err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("peek %s: %d messages not released: %s", queueURL, len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
	}
	return nil
}

func toMessage(m types.Message) Message {
	out := Message{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), System: m.Attributes}
	if len(m.MessageAttributes) > 0 {
		out.Attributes = make(map[string]string, len(m.MessageAttributes))
		for k, v := range m.MessageAttributes {
			if v.StringValue != nil {
				out.Attributes[k] = *v.StringValue
			}
		}
	}
	out.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		out.SentAt = time.UnixMilli(ms).UTC()
	}
	return out
}
