package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/pkg/retry"
)

// AsyncConfig mirrors a function's EventInvokeConfig.
type AsyncConfig struct {
	// MaxRetries is MaximumRetryAttempts (0-2; AWS's default is 2).
	MaxRetries int
	// MaxEventAge is MaximumEventAgeInSeconds (default 6 h).
	MaxEventAge time.Duration
	// OnFailureURL is the SQS on-failure destination's queue URL, if any.
	OnFailureURL string
	FunctionARN  string
}

// DefaultAsyncRetryDelay is Async's default pause before the first retry: 5 s, then 10 s.
// Shorter than AWS's 1 min and 2 min to keep local runs quick, but the last retry must
// still come after the leases that a function holds across a crash have run out: notify
// claims its marker for 10 s (notify.DefaultLease, NotifyFunction's Timeout) and a retry
// within the lease fails again on purpose, so with 1 s and 2 s both retries of a crashed
// notify failed and its notification went to the DLQ. 5 s + 10 s = 15 s after a failure.
const DefaultAsyncRetryDelay = 5 * time.Second

// Async runs asynchronous invokes (InvocationType Event) like Lambda's internal queue:
// the caller gets an immediate acceptance, the function runs later, a failure is retried
// MaxRetries times with a delay, and then the request and the error go to the
// on-failure destination.
type Async struct {
	Invoker Invoker
	Sender  Sender
	Configs map[string]AsyncConfig
	// RetryDelay is the pause before the first retry, doubled for each next one (AWS
	// waits 1 min, then 2 min). The local default, DefaultAsyncRetryDelay, is shorter.
	RetryDelay time.Duration
	Log        *slog.Logger

	mu      sync.Mutex
	wg      sync.WaitGroup
	ctx     context.Context
	pending int
}

// Start sets the context that bounds every later invoke.
func (a *Async) Start(ctx context.Context) { a.mu.Lock(); a.ctx = ctx; a.mu.Unlock() }

// Wait blocks until every accepted invoke has finished (or ctx ended).
func (a *Async) Wait() { a.wg.Wait() }

// Pending reports how many accepted invokes are not finished.
func (a *Async) Pending() int { a.mu.Lock(); defer a.mu.Unlock(); return a.pending }

// Invoke accepts an asynchronous invoke of function with payload.
func (a *Async) Invoke(function string, payload []byte) {
	a.mu.Lock()
	ctx := a.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	a.pending++
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() { a.mu.Lock(); a.pending--; a.mu.Unlock() }()
		a.run(ctx, function, payload, time.Now())
	}()
}

func (a *Async) logger() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

func (a *Async) run(ctx context.Context, function string, payload []byte, accepted time.Time) {
	cfg, ok := a.Configs[function]
	if !ok {
		cfg = AsyncConfig{MaxRetries: 2}
	}
	maxAge := cfg.MaxEventAge
	if maxAge <= 0 {
		maxAge = 6 * time.Hour
	}
	delay := a.RetryDelay
	if delay <= 0 {
		delay = DefaultAsyncRetryDelay
	}
	var out []byte
	var fnErr string
	attempts := 0
	for {
		attempts++
		var err error
		out, fnErr, err = a.Invoker.InvokeSync(ctx, function, payload)
		if err != nil {
			fnErr = "ServiceException"
			out = []byte(fmt.Sprintf(`{"errorMessage":%q}`, err.Error()))
		}
		if fnErr == "" || ctx.Err() != nil {
			return
		}
		if attempts > cfg.MaxRetries || time.Since(accepted) > maxAge {
			break
		}
		a.logger().Warn("async invoke failed; retrying", "function", function, "attempt", attempts, "response", truncate(out))
		_ = retry.Sleep(ctx, retry.Delay(attempts, delay, maxAge))
	}
	condition := "RetriesExhausted"
	if time.Since(accepted) > maxAge {
		condition = "EventAgeExceeded"
	}
	a.logger().Error("async invoke failed for good", "function", function, "attempts", attempts, "condition", condition, "response", truncate(out))
	if cfg.OnFailureURL == "" || a.Sender == nil {
		return
	}
	record := map[string]any{
		"version":   "1.0",
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"requestContext": map[string]any{
			"requestId": fmt.Sprintf("local-%d", time.Now().UnixNano()), "functionArn": cfg.FunctionARN + ":$LATEST",
			"condition": condition, "approximateInvokeCount": attempts,
		},
		"requestPayload":  json.RawMessage(payload),
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": fnErr},
		"responsePayload": rawOrString(out),
	}
	body, _ := json.Marshal(record)
	if err := sendReliably(ctx, a.Sender, &sqs.SendMessageInput{QueueUrl: aws.String(cfg.OnFailureURL), MessageBody: aws.String(string(body))}, a.logger()); err != nil {
		a.logger().Error("on-failure destination unreachable; event lost", "queue", cfg.OnFailureURL, "error", err)
	}
}

func rawOrString(b []byte) any {
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	return string(b)
}
