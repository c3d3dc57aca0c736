// Package retry holds the one backoff schedule and the one context-aware sleep of
// orderflow: the adapters that retry (pkg/bus, pkg/dynamo), the local stack's emulated
// services and pollers, and the load generator share them.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay returns the deterministic wait before retry n (1-based): min(maxDelay,
// base·2^(n-1)). It is the schedule of the emulated services' own retries (Lambda's
// asynchronous retries, EventBridge's target retries), which a replayed run must repeat,
// and of pollers; senders that compete use Backoff.
func Delay(n int, base, maxDelay time.Duration) time.Duration {
	c := base
	for i := 1; i < n && c < maxDelay; i++ {
		c *= 2
	}
	return max(0, min(c, maxDelay))
}

// Backoff returns the wait before retry n (1-based): a random duration in [c/2, c] with
// c = Delay(n, base, maxDelay), so concurrent senders do not retry in lockstep.
func Backoff(n int, base, maxDelay time.Duration) time.Duration {
	c := Delay(n, base, maxDelay)
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
