package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// TargetKind is the kind of a rule target the emulator cannot deliver to itself.
type TargetKind string

// Target kinds delivered by the local stack.
const (
	TargetLambda  TargetKind = "lambda"
	TargetStates  TargetKind = "states"
	TargetKinesis TargetKind = "kinesis"
)

// StatesAPI starts state-machine executions.
type StatesAPI interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// KinesisPutter puts one record on a stream.
type KinesisPutter interface {
	PutRecord(ctx context.Context, in *kinesis.PutRecordInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error)
}

// QueueAPI is what a target delivery needs of SQS.
type QueueAPI interface {
	SQSAPI
	Sender
}

// Target is one EventBridge rule target, reached through an internal queue: the rule
// sends matching events to the queue (the emulator delivers to SQS targets) and the
// delivery forwards each to the real target, with the target's retry policy and DLQ.
type Target struct {
	Rule      string
	RuleARN   string
	ID        string
	Kind      TargetKind
	ARN       string
	QueueURL  string // the internal queue
	Function  string // TargetLambda
	Stream    string // TargetKinesis
	KeyPath   string // TargetKinesis: PartitionKeyPath, e.g. $.detail.data.orderId
	Retries   int    // RetryPolicy.MaximumRetryAttempts
	MaxAge    time.Duration
	DLQURL    string // DeadLetterConfig
	RetryBase time.Duration
}

// Delivery forwards events from internal queues to their targets.
type Delivery struct {
	Queue   QueueAPI
	Async   *Async
	States  StatesAPI
	Kinesis KinesisPutter
	Log     *slog.Logger
	// Duplicate, when set and true for an event, delivers it to the target twice, as
	// EventBridge's at-least-once delivery may (fault injection).
	Duplicate func() bool
	// LongPoll is the WaitTimeSeconds of each receive from an internal queue (default
	// DefaultLongPoll).
	LongPoll time.Duration
}

func (d *Delivery) logger() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// Run delivers events for t until ctx is cancelled.
func (d *Delivery) Run(ctx context.Context, t Target) {
	for ctx.Err() == nil {
		out, err := d.Queue.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(t.QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: longPollSeconds(d.LongPoll),
		})
		if err != nil {
			if ctx.Err() == nil {
				d.logger().Warn("rule target queue unreachable", "rule", t.Rule, "target", t.ID, "error", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			d.deliver(ctx, t, []byte(aws.ToString(m.Body)))
			if d.Duplicate != nil && d.Duplicate() {
				d.deliver(ctx, t, []byte(aws.ToString(m.Body)))
			}
			if ctx.Err() != nil {
				return // not deleted: the event is delivered again next time
			}
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if len(del) > 0 {
			if _, err := d.Queue.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(t.QueueURL), Entries: del}); err != nil {
				d.logger().Warn("delete from rule target queue failed; events may repeat", "rule", t.Rule, "error", err)
			}
		}
	}
}

// deliver sends one event to t with the retry policy, then to the DLQ.
func (d *Delivery) deliver(ctx context.Context, t Target, ev []byte) {
	base := t.RetryBase
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	start := time.Now()
	var err error
	for attempt := 0; ; attempt++ {
		if err = d.send(ctx, t, ev); err == nil || ctx.Err() != nil {
			return
		}
		if attempt >= t.Retries || (t.MaxAge > 0 && time.Since(start) > t.MaxAge) {
			break
		}
		sleep(ctx, base<<min(attempt, 6))
	}
	d.logger().Error("rule target delivery failed for good", "rule", t.Rule, "target", t.ID, "error", err)
	if t.DLQURL == "" {
		return
	}
	code := "SDK_CLIENT_ERROR"
	var te *targetError
	if errors.As(err, &te) {
		code = te.code
	}
	_, sendErr := d.Queue.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(t.DLQURL), MessageBody: aws.String(string(ev)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"RULE_ARN":      {DataType: aws.String("String"), StringValue: aws.String(t.RuleARN)},
			"TARGET_ARN":    {DataType: aws.String("String"), StringValue: aws.String(t.ARN)},
			"ERROR_CODE":    {DataType: aws.String("String"), StringValue: aws.String(code)},
			"ERROR_MESSAGE": {DataType: aws.String("String"), StringValue: aws.String(truncate([]byte(err.Error())))},
		},
	})
	if sendErr != nil {
		d.logger().Error("rule target DLQ unreachable; event lost", "queue", t.DLQURL, "error", sendErr)
	}
}

type targetError struct {
	code string
	err  error
}

func (e *targetError) Error() string { return e.code + ": " + e.err.Error() }
func (e *targetError) Unwrap() error { return e.err }

func (d *Delivery) send(ctx context.Context, t Target, ev []byte) error {
	switch t.Kind {
	case TargetLambda:
		// EventBridge invokes Lambda asynchronously: once accepted, failures are the
		// function's EventInvokeConfig's business, not the rule's.
		d.Async.Invoke(t.Function, ev)
		return nil
	case TargetStates:
		var meta struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(ev, &meta)
		name := meta.ID
		if name == "" {
			name = fmt.Sprintf("local-%d", time.Now().UnixNano())
		}
		_, err := d.States.StartExecution(ctx, &sfn.StartExecutionInput{
			StateMachineArn: aws.String(t.ARN), Name: aws.String(name), Input: aws.String(string(ev)),
		})
		var exists *sfntypes.ExecutionAlreadyExists
		if errors.As(err, &exists) {
			return nil // the same event delivered twice starts one execution
		}
		if err != nil {
			return &targetError{code: "SDK_CLIENT_ERROR", err: err}
		}
		return nil
	case TargetKinesis:
		key, err := JSONPath(ev, t.KeyPath)
		if err != nil || key == "" {
			key = fmt.Sprintf("%d", time.Now().UnixNano())
		}
		_, err = d.Kinesis.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: aws.String(t.ARN), Data: ev, PartitionKey: aws.String(key)})
		if err != nil {
			return &targetError{code: "SDK_CLIENT_ERROR", err: err}
		}
		return nil
	}
	return &targetError{code: "NO_PERMISSIONS", err: fmt.Errorf("unsupported target kind %q", t.Kind)}
}

// JSONPath evaluates a simple dotted JSONPath ($.a.b.c) on doc and returns a scalar as
// a string. It is what EventBridge's PartitionKeyPath and InputPath need.
func JSONPath(doc []byte, path string) (string, error) {
	if path == "" || path == "$" {
		return string(doc), nil
	}
	if !strings.HasPrefix(path, "$.") {
		return "", fmt.Errorf("unsupported path %q", path)
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return "", err
	}
	for _, part := range strings.Split(path[2:], ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("path %q: %q is not an object", path, part)
		}
		if v, ok = m[part]; !ok {
			return "", fmt.Errorf("path %q: no %q", path, part)
		}
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case nil:
		return "", nil
	default:
		b, _ := json.Marshal(x)
		return string(b), nil
	}
}
