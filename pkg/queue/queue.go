// Package queue sends messages to SQS queues and inspects and redrives dead-letter queues.
// SendMessageBatch is called in chunks of ten; entries SQS reports as failed through no
// fault of the sender are re-sent alone, with jittered exponential backoff.
package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/pkg/retry"
)

// MaxBatch is the most entries one SendMessageBatch or DeleteMessageBatch call accepts.
const MaxBatch = 10

// Defaults of the retry policy of a Sender.
const (
	DefaultMaxAttempts = 4
	DefaultBaseDelay   = 50 * time.Millisecond
	DefaultMaxDelay    = 1 * time.Second
)

// SendAPI is the part of *sqs.Client a Sender uses.
type SendAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Sender sends messages to one queue. Its exported fields tune the retry of failed batch
// entries; NewSender sets them to the defaults.
type Sender struct {
	// MaxAttempts bounds the SendMessageBatch calls made for one entry.
	MaxAttempts int
	// BaseDelay is the backoff ceiling before the second attempt; it doubles per attempt.
	BaseDelay time.Duration
	// MaxDelay caps the backoff ceiling.
	MaxDelay time.Duration
	// Sleep waits d or until ctx is done, returning ctx's error then. Tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error

	c   SendAPI
	url string
}

// NewSender returns a Sender to the queue at queueURL.
func NewSender(c SendAPI, queueURL string) *Sender {
	return &Sender{
		MaxAttempts: DefaultMaxAttempts,
		BaseDelay:   DefaultBaseDelay,
		MaxDelay:    DefaultMaxDelay,
		Sleep:       retry.Sleep,
		c:           c,
		url:         queueURL,
	}
}

// Send sends one message with attrs as String message attributes. It returns the SQS
// error, wrapped.
func (s *Sender) Send(ctx context.Context, body []byte, attrs map[string]string) error {
	_, err := s.c.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(s.url),
		MessageBody:       aws.String(string(body)),
		MessageAttributes: stringAttributes(attrs),
	})
	if err != nil {
		return fmt.Errorf("send message to %s: %w", s.url, err)
	}
	return nil
}

// FailedMessage names one message SendBatch could not send: its index in the bodies given.
type FailedMessage struct {
	Index   int
	Code    string
	Message string
}

// SendError reports the messages SendBatch could not send; every other one was sent. Err
// is the request error when a call failed as a whole, nil when only entries failed.
type SendError struct {
	Failed []FailedMessage
	Err    error
}

// Error implements error.
func (e *SendError) Error() string {
	idx := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		idx[i] = strconv.Itoa(f.Index)
		if f.Code != "" {
			idx[i] += " (" + f.Code + ")"
		}
	}
	msg := fmt.Sprintf("send messages: %d not sent: %s", len(e.Failed), strings.Join(idx, ", "))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the request error, if any.
func (e *SendError) Unwrap() error { return e.Err }

// SendBatch sends bodies in chunks of ten. Entries that failed without sender fault are
// re-sent, and only they, up to MaxAttempts calls each. It returns a *SendError naming by
// index every body not sent (sender faults, exhausted attempts, a failed request or a
// done ctx, which it wraps).
func (s *Sender) SendBatch(ctx context.Context, bodies [][]byte) error {
	var failed []FailedMessage
	for start := 0; start < len(bodies); start += MaxBatch {
		end := min(start+MaxBatch, len(bodies))
		idx := make([]int, 0, end-start)
		for i := start; i < end; i++ {
			idx = append(idx, i)
		}
		f, err := s.sendChunk(ctx, bodies, idx)
		failed = append(failed, f...)
		if err != nil {
			for i := end; i < len(bodies); i++ {
				failed = append(failed, FailedMessage{Index: i, Message: "not attempted"})
			}
			return &SendError{Failed: failed, Err: err}
		}
	}
	if len(failed) > 0 {
		return &SendError{Failed: failed}
	}
	return nil
}

func (s *Sender) sendChunk(ctx context.Context, bodies [][]byte, idx []int) ([]FailedMessage, error) {
	var failed []FailedMessage
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			if err := s.Sleep(ctx, retry.Backoff(attempt-1, s.BaseDelay, s.MaxDelay)); err != nil {
				return append(failed, asFailed(idx, err.Error())...), err
			}
		}
		entries := make([]types.SendMessageBatchRequestEntry, len(idx))
		for i, n := range idx {
			entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(n)), MessageBody: aws.String(string(bodies[n]))}
		}
		out, err := s.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.url), Entries: entries})
		if err != nil {
			err = fmt.Errorf("send message batch to %s: %w", s.url, err)
			return append(failed, asFailed(idx, err.Error())...), err
		}
		ok := make(map[string]bool, len(out.Successful))
		for _, e := range out.Successful {
			ok[aws.ToString(e.Id)] = true
		}
		bad := make(map[string]types.BatchResultErrorEntry, len(out.Failed))
		for _, e := range out.Failed {
			bad[aws.ToString(e.Id)] = e
		}
		var retry []int
		for _, n := range idx {
			id := strconv.Itoa(n)
			if ok[id] {
				continue
			}
			e, reported := bad[id]
			if reported && (e.SenderFault || attempt >= s.MaxAttempts) {
				failed = append(failed, FailedMessage{Index: n, Code: aws.ToString(e.Code), Message: aws.ToString(e.Message)})
				continue
			}
			if !reported && attempt >= s.MaxAttempts {
				failed = append(failed, FailedMessage{Index: n, Message: "no result entry"})
				continue
			}
			retry = append(retry, n)
		}
		if len(retry) == 0 {
			return failed, nil
		}
		idx = retry
	}
}

func asFailed(idx []int, msg string) []FailedMessage {
	out := make([]FailedMessage, len(idx))
	for i, n := range idx {
		out[i] = FailedMessage{Index: n, Message: msg}
	}
	return out
}

func stringAttributes(attrs map[string]string) map[string]types.MessageAttributeValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make(map[string]types.MessageAttributeValue, len(attrs))
	for k, v := range attrs {
		out[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return out
}

// errSameQueue is returned by Redrive when source and target are the same queue.
var errSameQueue = errors.New("redrive: source and target are the same queue")

var (
	_ SendAPI  = (*sqs.Client)(nil)
	_ AdminAPI = (*sqs.Client)(nil)
)
