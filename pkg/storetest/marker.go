package storetest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// MarkerStoreContract checks a processed-event marker store: the first claim
// wins, Unclaim allows a retry, expired markers count as absent, and one of
// concurrent claims wins. newStore returns an empty store for each case.
func MarkerStoreContract(t *testing.T, newStore func(t *testing.T) MarkerStore) {
	ctx := context.Background()
	type op struct {
		unclaim bool
		id      string
		ttl     time.Duration
		at      time.Duration // after t0
		want    bool          // Claim's answer
	}
	const day = 24 * time.Hour
	tests := []struct {
		name string
		ops  []op
	}{
		{name: "second claim loses", ops: []op{
			{id: "e1", ttl: day, want: true},
			{id: "e1", ttl: day, at: time.Second, want: false},
		}},
		{name: "ids are independent", ops: []op{
			{id: "e1", ttl: day, want: true},
			{id: "e2", ttl: day, want: true},
			{id: "e1", ttl: day, want: false},
		}},
		{name: "unclaim allows a retry", ops: []op{
			{id: "e1", ttl: day, want: true},
			{unclaim: true, id: "e1"},
			{id: "e1", ttl: day, at: time.Second, want: true},
			{id: "e1", ttl: day, at: 2 * time.Second, want: false},
		}},
		{name: "unclaim of an unknown id", ops: []op{
			{unclaim: true, id: "e1"},
			{id: "e1", ttl: day, want: true},
		}},
		{name: "expired marker counts as absent", ops: []op{
			{id: "e1", ttl: time.Hour, want: true},
			{id: "e1", ttl: time.Hour, at: time.Hour - time.Second, want: false},
			{id: "e1", ttl: time.Hour, at: time.Hour, want: true},
			{id: "e1", ttl: time.Hour, at: time.Hour + time.Second, want: false},
		}},
		{name: "no ttl keeps the marker", ops: []op{
			{id: "e1", want: true},
			{id: "e1", at: 1000 * day, want: false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			for i, o := range tt.ops {
				if o.unclaim {
					if err := s.Unclaim(ctx, o.id); err != nil {
						t.Fatalf("op %d: Unclaim %s: %v", i, o.id, err)
					}
					continue
				}
				got, err := s.Claim(ctx, o.id, o.ttl, t0.Add(o.at))
				if err != nil {
					t.Fatalf("op %d: Claim %s: %v", i, o.id, err)
				}
				if got != o.want {
					t.Fatalf("op %d: Claim %s at +%s = %v, want %v", i, o.id, o.at, got, o.want)
				}
			}
		})
	}

	t.Run("one of concurrent claims wins", func(t *testing.T) {
		s := newStore(t)
		const n = 10
		var mu sync.Mutex
		won := 0
		concurrently(n, func(int) {
			ok, err := s.Claim(ctx, "e1", day, t0)
			if err != nil {
				t.Errorf("Claim: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				won++
			}
		})
		if won != 1 {
			t.Errorf("%d of %d concurrent claims won, want 1", won, n)
		}
	})
}
