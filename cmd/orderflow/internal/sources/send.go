package sources

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/pkg/retry"
)

// sendAttempts bounds sendReliably: about 3 minutes of retries with backoff up to 10 s.
const sendAttempts = 20

// sendReliably sends a message to a DLQ or on-failure destination with keepReliably.
func sendReliably(ctx context.Context, s Sender, in *sqs.SendMessageInput, log *slog.Logger) error {
	return keepReliably(ctx, aws.ToString(in.QueueUrl), func(ctx context.Context) error {
		_, err := s.SendMessage(ctx, in)
		return err
	}, log)
}

// keepReliably runs keep, which writes to a DLQ or on-failure destination (named dest),
// retrying failures (throttling, a 5xx, an unreachable endpoint) with jittered backoff as
// AWS's own services do, until it succeeds, ctx ends, or sendAttempts failed; it returns
// the last error. What it writes exists nowhere else: giving up after one failed call
// (the SDK's own three attempts) would lose it.
func keepReliably(ctx context.Context, dest string, keep func(context.Context) error, log *slog.Logger) error {
	var err error
	for n := 1; n <= sendAttempts; n++ {
		if err = keep(ctx); err == nil || ctx.Err() != nil {
			return err
		}
		log.Warn("write to a DLQ or on-failure destination failed; retrying", "destination", dest, "attempt", n, "error", err)
		if retry.Sleep(ctx, retry.Backoff(n, 100*time.Millisecond, 10*time.Second)) != nil {
			return err
		}
	}
	return err
}

// busy counts the messages, records or events an event source holds: received and not
// yet processed, deleted or dead-lettered. Zero means the source holds nothing.
type busy struct{ n atomic.Int64 }

func (b *busy) add(n int) { b.n.Add(int64(n)) }

// Busy returns how many are held now.
func (b *busy) Busy() int { return int(b.n.Load()) }
