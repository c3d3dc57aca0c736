package stack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/audit"
)

// isDLQ reports whether a queue's logical ID names a dead-letter queue or on-failure
// destination (what stays there waits for a person, not for the stack).
func isDLQ(logicalID string) bool { return strings.Contains(strings.ToLower(logicalID), "dlq") }

// Settled reports whether the stack holds no work in progress, and if not, what is still
// going on: an event source holds a message, record or event; an asynchronous invoke is
// pending; a stream mapping (Kinesis, a table's DynamoDB stream) has not read its stream
// to the end since the edge counted since writes; a queue work waits in (all but the
// DLQs) holds a message, visible or in flight; a state-machine execution is running. It reads through the direct client, so
// injected faults do not slow it down.
func (s *Stack) Settled(ctx context.Context, since int64) (bool, string, error) {
	if n := s.async.Pending(); n > 0 {
		return false, fmt.Sprintf("%d asynchronous invokes pending", n), nil
	}
	for _, src := range s.sources {
		if n := src.Busy(); n > 0 {
			return false, fmt.Sprintf("an event source holds %d messages, records or events", n), nil
		}
	}
	for _, m := range s.streams {
		if !m.CaughtUp(since) {
			return false, "the " + m.MappingID + " mapping has not read to the end of its stream", nil
		}
	}
	c := sqs.NewFromConfig(s.Config)
	for _, url := range s.work {
		n, err := audit.QueueDepth(ctx, c, url)
		if err != nil {
			return false, "", fmt.Errorf("queue %s: %w", url, err)
		}
		if n > 0 {
			return false, fmt.Sprintf("%d messages in %s", n, url[strings.LastIndex(url, "/")+1:]), nil
		}
	}
	if s.StateMachineARN != "" {
		out, err := sfn.NewFromConfig(s.Config).ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(s.StateMachineARN),
			StatusFilter: sfntypes.ExecutionStatusRunning, MaxResults: 1})
		if err != nil {
			return false, "", fmt.Errorf("running executions: %w", err)
		}
		if len(out.Executions) > 0 {
			return false, "state-machine executions running", nil
		}
	}
	return true, "", nil
}

// settlePoll is how often WaitSettled looks again.
const settlePoll = 500 * time.Millisecond

// WaitSettled returns once the stack is Settled, extra (when set) holds as well, and no
// AWS call that may change something reached the edge while both were checked; or, when
// ctx ends first, an error saying what was still going on. extra sees every round (a
// caller prints its progress there).
func (s *Stack) WaitSettled(ctx context.Context, extra func(context.Context) (bool, string, error)) error {
	for {
		before := s.Calls.Writes()
		ok, why, err := s.Settled(ctx, before)
		if err == nil && extra != nil {
			var ok2 bool
			var why2 string
			ok2, why2, err = extra(ctx)
			if ok && !ok2 {
				ok, why = false, why2
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("not settled: %w", ctx.Err())
			}
			return err
		}
		if ok && s.Calls.Writes() == before {
			return nil
		}
		if ok {
			why = "AWS calls still under way"
		}
		t := time.NewTimer(settlePoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("not settled (%s): %w", why, ctx.Err())
		case <-t.C:
		}
	}
}
