package storetest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/idempotency"
)

// IdempotencyStoreContract checks an idempotency store: the first Begin takes
// the lock, replays, mismatches, in-progress, take-over of expired records and
// stale locks, Abandon, and one winner among concurrent Begins. newStore
// returns an empty store for each case.
func IdempotencyStoreContract(t *testing.T, newStore func(t *testing.T) IdempotencyStore) {
	ctx := context.Background()
	hash1, hash2 := idempotency.Hash([]byte(`{"a":1}`)), idempotency.Hash([]byte(`{"a":2}`))
	first := idempotency.Response{StatusCode: 201, Headers: map[string]string{"Location": "/orders/o-1"}, Body: `{"orderId":"o-1"}`}
	later := idempotency.Response{StatusCode: 201, Body: `{"orderId":"o-2"}`}

	// op is one call on the store; the cases are sequences of them.
	type op struct {
		do       string // begin, complete, abandon
		key      string // default "k"
		hash     string
		at       time.Duration // after t0
		resp     idempotency.Response
		wantResp *idempotency.Response // begin: the replayed response
		wantErr  error                 // matched with errors.Is
		anyErr   bool                  // any error is expected
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{name: "first begin holds the lock", ops: []op{
			{do: "begin", hash: hash1},
		}},
		{name: "same body while in progress", ops: []op{
			{do: "begin", hash: hash1},
			{do: "begin", hash: hash1, at: time.Second, wantErr: idempotency.ErrInProgress},
		}},
		{name: "other body while in progress", ops: []op{
			{do: "begin", hash: hash1},
			{do: "begin", hash: hash2, at: time.Second, wantErr: idempotency.ErrMismatch},
		}},
		{name: "same body after complete replays", ops: []op{
			{do: "begin", hash: hash1},
			{do: "complete", resp: first, at: time.Second},
			{do: "begin", hash: hash1, at: time.Hour, wantResp: &first},
			{do: "begin", hash: hash1, at: 2 * time.Hour, wantResp: &first},
		}},
		{name: "other body after complete mismatches", ops: []op{
			{do: "begin", hash: hash1},
			{do: "complete", resp: first},
			{do: "begin", hash: hash2, at: time.Minute, wantErr: idempotency.ErrMismatch},
		}},
		{name: "keys are independent", ops: []op{
			{do: "begin", hash: hash1},
			{do: "begin", key: "k2", hash: hash2},
			{do: "complete", key: "k2", resp: later},
			{do: "begin", hash: hash1, wantErr: idempotency.ErrInProgress},
			{do: "begin", key: "k2", hash: hash2, wantResp: &later},
		}},
		{name: "stale lock is taken over once", ops: []op{
			{do: "begin", hash: hash1},
			{do: "begin", hash: hash1, at: idempotency.LockTimeout - time.Second, wantErr: idempotency.ErrInProgress},
			{do: "begin", hash: hash1, at: idempotency.LockTimeout},
			{do: "begin", hash: hash1, at: idempotency.LockTimeout + time.Second, wantErr: idempotency.ErrInProgress},
			{do: "complete", resp: first, at: idempotency.LockTimeout + time.Second},
			{do: "begin", hash: hash1, at: time.Hour, wantResp: &first},
		}},
		{name: "stale lock with another body still mismatches", ops: []op{
			{do: "begin", hash: hash1},
			{do: "begin", hash: hash2, at: idempotency.LockTimeout, wantErr: idempotency.ErrMismatch},
		}},
		{name: "expired record is taken over by any body", ops: []op{
			{do: "begin", hash: hash1},
			{do: "complete", resp: first},
			{do: "begin", hash: hash2, at: idempotency.DefaultTTL - time.Second, wantErr: idempotency.ErrMismatch},
			{do: "begin", hash: hash2, at: idempotency.DefaultTTL},
			{do: "complete", resp: later, at: idempotency.DefaultTTL},
			{do: "begin", hash: hash2, at: idempotency.DefaultTTL + time.Hour, wantResp: &later},
			{do: "begin", hash: hash1, at: idempotency.DefaultTTL + time.Hour, wantErr: idempotency.ErrMismatch},
		}},
		{name: "abandon lets a retry run", ops: []op{
			{do: "begin", hash: hash1},
			{do: "abandon"},
			{do: "begin", hash: hash2, at: time.Second},
			{do: "begin", hash: hash2, at: 2 * time.Second, wantErr: idempotency.ErrInProgress},
		}},
		{name: "abandon keeps a completed answer", ops: []op{
			{do: "begin", hash: hash1},
			{do: "complete", resp: first},
			{do: "abandon"},
			{do: "begin", hash: hash1, at: time.Second, wantResp: &first},
		}},
		{name: "abandon of an unknown key", ops: []op{
			{do: "abandon"},
			{do: "begin", hash: hash1},
		}},
		{name: "complete without begin fails", ops: []op{
			{do: "complete", resp: first, anyErr: true},
			{do: "begin", hash: hash1},
		}},
		{name: "complete twice fails and keeps the first answer", ops: []op{
			{do: "begin", hash: hash1},
			{do: "complete", resp: first},
			{do: "complete", resp: later, anyErr: true},
			{do: "begin", hash: hash1, wantResp: &first},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			for i, o := range tt.ops {
				key := o.key
				if key == "" {
					key = "k"
				}
				now := t0.Add(o.at)
				var (
					resp *idempotency.Response
					err  error
				)
				switch o.do {
				case "begin":
					resp, err = s.Begin(ctx, key, o.hash, now)
				case "complete":
					err = s.Complete(ctx, key, o.resp, now)
				case "abandon":
					err = s.Abandon(ctx, key)
				default:
					t.Fatalf("op %d: unknown op %q", i, o.do)
				}
				switch {
				case o.anyErr:
					if err == nil {
						t.Fatalf("op %d %s %s: no error, want one", i, o.do, key)
					}
				case o.wantErr != nil:
					if !errors.Is(err, o.wantErr) {
						t.Fatalf("op %d %s %s: %v, want %v", i, o.do, key, err, o.wantErr)
					}
				case err != nil:
					t.Fatalf("op %d %s %s: %v", i, o.do, key, err)
				}
				if !reflect.DeepEqual(resp, o.wantResp) {
					t.Fatalf("op %d %s %s: response %+v, want %+v", i, o.do, key, resp, o.wantResp)
				}
			}
		})
	}

	t.Run("one of concurrent begins holds the lock", func(t *testing.T) {
		s := newStore(t)
		const n = 8
		var mu sync.Mutex
		locked, busy := 0, 0
		concurrently(n, func(int) {
			resp, err := s.Begin(ctx, "k", hash1, t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && resp == nil:
				locked++
			case errors.Is(err, idempotency.ErrInProgress):
				busy++
			default:
				t.Errorf("Begin = %+v, %v", resp, err)
			}
		})
		if locked != 1 || busy != n-1 {
			t.Errorf("%d begins got the lock and %d were told in progress, want 1 and %d", locked, busy, n-1)
		}
	})
}
