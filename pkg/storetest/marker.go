package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/event"
)

// MarkerStoreContract checks a processed-event marker store with leases: the first claim
// wins; a claim while another is in progress with a fresh lease reports InProgress; a
// stale lease is taken over; a claim after Done reports AlreadyDone; Unclaim releases only
// its own claim; expired markers count as absent; of concurrent claims exactly one wins.
// newStore returns an empty store for each case.
func MarkerStoreContract(t *testing.T, newStore func(t *testing.T) MarkerStore) {
	ctx := context.Background()
	const (
		claim = iota
		done
		unclaim
	)
	type op struct {
		kind    int
		id      string
		ttl     time.Duration
		at      time.Duration // after t0: Claim's now, Unclaim's claimedAt
		want    event.ClaimResult
		comment string
	}
	const (
		day   = 24 * time.Hour
		lease = 10 * time.Second
		ms    = time.Millisecond
	)
	tests := []struct {
		name string
		ops  []op
	}{
		{name: "first claim wins", ops: []op{
			{id: "e1", ttl: day, want: event.Claimed},
		}},
		{name: "claim while fresh in progress", ops: []op{
			{id: "e1", ttl: day, want: event.Claimed},
			{id: "e1", ttl: day, want: event.InProgress, comment: "same instant"},
			{id: "e1", ttl: day, at: time.Second, want: event.InProgress},
			{id: "e1", ttl: day, at: lease, want: event.InProgress, comment: "the lease lasts up to the claim time + lease"},
		}},
		{name: "take-over of a stale lease", ops: []op{
			{id: "e1", ttl: day, want: event.Claimed},
			{id: "e1", ttl: day, at: lease + ms, want: event.Claimed, comment: "the first claimer died"},
			{id: "e1", ttl: day, at: lease + time.Second, want: event.InProgress, comment: "the new lease is fresh"},
			{kind: unclaim, id: "e1", at: 0, comment: "the first claimer's late Unclaim"},
			{id: "e1", ttl: day, at: lease + 2*time.Second, want: event.InProgress, comment: "did not release the new claim"},
			{id: "e1", ttl: day, at: 2*lease + 2*ms, want: event.Claimed, comment: "the new lease ran out too"},
		}},
		{name: "claim after done", ops: []op{
			{id: "e1", ttl: day, want: event.Claimed},
			{kind: done, id: "e1"},
			{id: "e1", ttl: day, at: time.Second, want: event.AlreadyDone},
			{id: "e1", ttl: day, at: 100 * lease, want: event.AlreadyDone, comment: "done has no lease"},
			{kind: unclaim, id: "e1", at: 0},
			{id: "e1", ttl: day, at: 101 * lease, want: event.AlreadyDone, comment: "Unclaim leaves a done marker"},
		}},
		{name: "done after a take-over", ops: []op{
			{id: "e1", ttl: day, want: event.Claimed},
			{id: "e1", ttl: day, at: lease + ms, want: event.Claimed},
			{kind: done, id: "e1"},
			{id: "e1", ttl: day, at: lease + 2*ms, want: event.AlreadyDone},
		}},
		{name: "ids are independent", ops: []op{
			{id: "e1", ttl: day, want: event.Claimed},
			{id: "e2", ttl: day, want: event.Claimed},
			{kind: done, id: "e2"},
			{id: "e1", ttl: day, want: event.InProgress},
			{id: "e2", ttl: day, want: event.AlreadyDone},
		}},
		{name: "unclaim allows a retry at once", ops: []op{
			{id: "e1", ttl: day, want: event.Claimed},
			{kind: unclaim, id: "e1", at: 0},
			{id: "e1", ttl: day, at: time.Second, want: event.Claimed},
			{id: "e1", ttl: day, at: 2 * time.Second, want: event.InProgress},
		}},
		{name: "unclaim and done of an unknown id", ops: []op{
			{kind: unclaim, id: "e1", at: 0},
			{kind: done, id: "e1"},
			{id: "e1", ttl: day, want: event.Claimed, comment: "Done did not create a marker"},
		}},
		{name: "expired marker counts as absent", ops: []op{
			{id: "e1", ttl: time.Hour, want: event.Claimed},
			{kind: done, id: "e1"},
			{id: "e1", ttl: time.Hour, at: time.Hour - time.Second, want: event.AlreadyDone},
			{id: "e1", ttl: time.Hour, at: time.Hour, want: event.Claimed},
			{id: "e1", ttl: time.Hour, at: time.Hour + time.Second, want: event.InProgress},
		}},
		{name: "no ttl keeps the marker", ops: []op{
			{id: "e1", want: event.Claimed},
			{kind: done, id: "e1"},
			{id: "e1", at: 1000 * day, want: event.AlreadyDone},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			for i, o := range tt.ops {
				switch o.kind {
				case done:
					if err := s.Done(ctx, o.id); err != nil {
						t.Fatalf("op %d: Done %s: %v", i, o.id, err)
					}
				case unclaim:
					if err := s.Unclaim(ctx, o.id, t0.Add(o.at)); err != nil {
						t.Fatalf("op %d: Unclaim %s: %v", i, o.id, err)
					}
				default:
					got, err := s.Claim(ctx, o.id, lease, o.ttl, t0.Add(o.at))
					if err != nil {
						t.Fatalf("op %d: Claim %s: %v", i, o.id, err)
					}
					if got != o.want {
						t.Fatalf("op %d: Claim %s at +%s = %v, want %v %s", i, o.id, o.at, got, o.want, o.comment)
					}
				}
			}
		})
	}

	t.Run("lease must be positive", func(t *testing.T) {
		s := newStore(t)
		for _, l := range []time.Duration{0, -time.Second} {
			if got, err := s.Claim(ctx, "e1", l, day, t0); err == nil {
				t.Errorf("Claim with lease %s = %v, want an error", l, got)
			}
		}
	})

	// concurrent claims, n at once at the instant at; before is the claim made earlier, if any.
	concurrentClaims := []struct {
		name   string
		before bool
		at     time.Duration
	}{
		{name: "one of concurrent first claims wins"},
		{name: "one of concurrent take-overs of a stale lease wins", before: true, at: lease + time.Second},
	}
	for _, tt := range concurrentClaims {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if tt.before {
				if got, err := s.Claim(ctx, "e1", lease, day, t0); err != nil || got != event.Claimed {
					t.Fatalf("first Claim = %v, %v", got, err)
				}
			}
			const n = 10
			var mu sync.Mutex
			results := map[event.ClaimResult]int{}
			concurrently(n, func(int) {
				got, err := s.Claim(ctx, "e1", lease, day, t0.Add(tt.at))
				if err != nil {
					t.Errorf("Claim: %v", err)
				}
				mu.Lock()
				defer mu.Unlock()
				results[got]++
			})
			if results[event.Claimed] != 1 || results[event.InProgress] != n-1 {
				t.Errorf("%d concurrent claims: %v, want 1 Claimed and %d InProgress", n, results, n-1)
			}
		})
	}
}
