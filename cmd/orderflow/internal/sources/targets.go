package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/pkg/retry"
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
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// LambdaAPI invokes a function asynchronously (InvocationType Event), as EventBridge does.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
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

// Delivery forwards events from internal queues to their targets. Each event is
// delivered on its own, as EventBridge does: its retries (with backoff, within the
// target's RetryPolicy) and its trip to the DLQ hold up no other event.
type Delivery struct {
	Queue QueueAPI
	// Lambda invokes Lambda targets (asynchronously, through the Lambda API); when nil,
	// Async takes the invoke directly.
	Lambda  LambdaAPI
	Async   *Async
	States  StatesAPI
	Kinesis KinesisPutter
	Log     *slog.Logger
	// Duplicate, when set and true for an event, delivers it to the target again, as
	// EventBridge's at-least-once delivery may (fault injection; each copy is decided on
	// again, see deliverCopies).
	Duplicate func(event []byte) bool
	// LongPoll is the WaitTimeSeconds of each receive from an internal queue (default
	// DefaultLongPoll).
	LongPoll time.Duration
	// MaxInFlight bounds the events of one target being delivered at once (default
	// DefaultTargetInFlight); the receive waits while that many are.
	MaxInFlight int

	busy
}

// DefaultTargetInFlight is how many events of one target are delivered at once.
const DefaultTargetInFlight = 32

func (d *Delivery) logger() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// Run delivers events for t until ctx is cancelled. An event leaves the internal queue
// once it is delivered or in the DLQ; while its retries wait, its message stays invisible.
func (d *Delivery) Run(ctx context.Context, t Target) {
	n := d.MaxInFlight
	if n <= 0 {
		n = DefaultTargetInFlight
	}
	slots := make(chan struct{}, n)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		free := n - len(slots)
		if free == 0 { // every slot taken: wait for one
			select {
			case slots <- struct{}{}:
				<-slots
			case <-ctx.Done():
			}
			continue
		}
		out, err := d.Queue.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(t.QueueURL), MaxNumberOfMessages: int32(min(10, free)), WaitTimeSeconds: longPollSeconds(d.LongPoll),
		})
		if err != nil {
			if ctx.Err() == nil {
				d.logger().Warn("rule target queue unreachable", "rule", t.Rule, "target", t.ID, "error", err)
				_ = retry.Sleep(ctx, time.Second)
			}
			continue
		}
		for _, m := range out.Messages {
			slots <- struct{}{}
			d.add(1)
			wg.Add(1)
			go func() {
				defer func() { d.add(-1); <-slots; wg.Done() }()
				d.handle(ctx, t, m)
			}()
		}
	}
}

// handle delivers one event of the internal queue (again when the fault injector says
// so) and deletes its message; a message left by a stop is delivered again next time.
func (d *Delivery) handle(ctx context.Context, t Target, m sqstypes.Message) {
	ev := []byte(aws.ToString(m.Body))
	d.deliver(ctx, t, ev, m.ReceiptHandle)
	deliverCopies(d.Duplicate, ev, func() { d.deliver(ctx, t, ev, m.ReceiptHandle) })
	if ctx.Err() != nil {
		return
	}
	_, err := d.Queue.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(t.QueueURL),
		Entries: []sqstypes.DeleteMessageBatchRequestEntry{{Id: aws.String("0"), ReceiptHandle: m.ReceiptHandle}}})
	if err != nil {
		d.logger().Warn("delete from rule target queue failed; the event may repeat", "rule", t.Rule, "error", err)
	}
}

// deliver sends one event to t with the retry policy, then to the DLQ. Before each wait
// it keeps the event's message invisible for the wait and more (when handle is set).
func (d *Delivery) deliver(ctx context.Context, t Target, ev []byte, handle *string) {
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
		wait := retry.Delay(attempt+1, base, 64*base)
		if handle != nil {
			_, _ = d.Queue.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(t.QueueURL),
				ReceiptHandle: handle, VisibilityTimeout: int32(wait/time.Second) + 30})
		}
		_ = retry.Sleep(ctx, wait)
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
	sendErr := sendReliably(ctx, d.Queue, &sqs.SendMessageInput{
		QueueUrl: aws.String(t.DLQURL), MessageBody: aws.String(string(ev)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"RULE_ARN":      {DataType: aws.String("String"), StringValue: aws.String(t.RuleARN)},
			"TARGET_ARN":    {DataType: aws.String("String"), StringValue: aws.String(t.ARN)},
			"ERROR_CODE":    {DataType: aws.String("String"), StringValue: aws.String(code)},
			"ERROR_MESSAGE": {DataType: aws.String("String"), StringValue: aws.String(truncate([]byte(err.Error())))},
		},
	}, d.logger())
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
		// function's EventInvokeConfig's business, not the rule's; a refused invoke (a
		// throttle, a 5xx) is retried under the rule's policy.
		if d.Lambda == nil {
			d.Async.Invoke(t.Function, ev)
			return nil
		}
		if _, err := d.Lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(t.Function),
			InvocationType: lambdatypes.InvocationTypeEvent, Payload: ev}); err != nil {
			return &targetError{code: "SDK_CLIENT_ERROR", err: err}
		}
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
