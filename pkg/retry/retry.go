// Package retry holds the one backoff and the one context-aware sleep of orderflow: the
// adapters that retry (pkg/bus, pkg/dynamo) and the local stack's tools share them.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff returns the wait before retry n (1-based): a random duration in [c/2, c] with
// c = min(maxDelay, base·2^(n-1)), so concurrent senders do not retry in lockstep.
func Backoff(n int, base, maxDelay time.Duration) time.Duration {
	c := base
	for i := 1; i < n && c < maxDelay; i++ {
		c *= 2
	}
	c = min(c, maxDelay)
	if c <= 0 {
		return 0
	}
	return c/2 + rand.N(c/2+1)
}

// Sleep waits d, or until ctx is done and then returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
