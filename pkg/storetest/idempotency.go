package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/idempotency"
	"github.com/orderflow/orderflow/pkg/order"
)

// IntakeStoreContract checks an intake store together with the order store it writes to:
// an order without a key, an order with its key in one write, replays of the first
// answer with no second order, mismatches, take-over of expired records, an order id
// that exists (nothing written, not even the key), and one winner among concurrent
// requests with the same key. newStores returns empty stores for each case.
func IntakeStoreContract(t *testing.T, newStores func(t *testing.T) (IntakeStore, OrderStore)) {
	ctx := context.Background()
	hash1, hash2 := idempotency.Hash([]byte(`{"a":1}`)), idempotency.Hash([]byte(`{"a":2}`))
	answer := func(id string) idempotency.Response {
		return idempotency.Response{StatusCode: 202, Headers: map[string]string{"Location": "/orders/" + id}, Body: `{"orderId":"` + id + `"}`}
	}
	keyed := func(t *testing.T, id, key string) *order.Order {
		o := newOrder(t, id, "c-1", t0)
		o.IdempotencyKey = key
		return o
	}

	// op is one Accept; the cases are sequences of them.
	type op struct {
		id, key, hash string
		at            time.Duration // after t0
		wantReplayOf  string        // the order whose answer is replayed
		wantErr       error         // matched with errors.Is
	}
	tests := []struct {
		name string
		ops  []op
		// stored are the order ids that must exist afterwards, absent those that must not.
		stored, absent []string
	}{
		{name: "without a key", ops: []op{{id: "o-1"}, {id: "o-2"}}, stored: []string{"o-1", "o-2"}},
		{name: "with a key", ops: []op{{id: "o-1", key: "k", hash: hash1}}, stored: []string{"o-1"}},
		{name: "same key and body replays the first answer and stores nothing", ops: []op{
			{id: "o-1", key: "k", hash: hash1},
			{id: "o-2", key: "k", hash: hash1, at: time.Second, wantReplayOf: "o-1"},
			{id: "o-3", key: "k", hash: hash1, at: time.Hour, wantReplayOf: "o-1"},
		}, stored: []string{"o-1"}, absent: []string{"o-2", "o-3"}},
		{name: "same key with another body mismatches", ops: []op{
			{id: "o-1", key: "k", hash: hash1},
			{id: "o-2", key: "k", hash: hash2, at: time.Minute, wantErr: idempotency.ErrMismatch},
		}, stored: []string{"o-1"}, absent: []string{"o-2"}},
		{name: "keys are independent", ops: []op{
			{id: "o-1", key: "k", hash: hash1},
			{id: "o-2", key: "k2", hash: hash1},
			{id: "o-3", key: "k2", hash: hash1, wantReplayOf: "o-2"},
		}, stored: []string{"o-1", "o-2"}, absent: []string{"o-3"}},
		{name: "an expired key is taken over by any body", ops: []op{
			{id: "o-1", key: "k", hash: hash1},
			{id: "o-2", key: "k", hash: hash2, at: idempotency.DefaultTTL - time.Second, wantErr: idempotency.ErrMismatch},
			{id: "o-3", key: "k", hash: hash2, at: idempotency.DefaultTTL},
			{id: "o-4", key: "k", hash: hash2, at: idempotency.DefaultTTL + time.Hour, wantReplayOf: "o-3"},
			{id: "o-5", key: "k", hash: hash1, at: idempotency.DefaultTTL + time.Hour, wantErr: idempotency.ErrMismatch},
		}, stored: []string{"o-1", "o-3"}, absent: []string{"o-2", "o-4", "o-5"}},
		{name: "a taken order id writes nothing, not even the key", ops: []op{
			{id: "o-1"},
			{id: "o-1", key: "k", hash: hash1, wantErr: order.ErrAlreadyExists},
			{id: "o-2", key: "k", hash: hash1, at: time.Second},
		}, stored: []string{"o-1", "o-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			intake, orders := newStores(t)
			for i, o := range tt.ops {
				ord := keyed(t, o.id, o.key)
				got, err := intake.Accept(ctx, ord, o.hash, answer(o.id), t0.Add(o.at))
				switch {
				case o.wantErr != nil:
					if !errors.Is(err, o.wantErr) {
						t.Fatalf("op %d (%s, key %q): %v, want %v", i, o.id, o.key, err, o.wantErr)
					}
				case err != nil:
					t.Fatalf("op %d (%s, key %q): %v", i, o.id, o.key, err)
				}
				var want *idempotency.Response
				if o.wantReplayOf != "" {
					r := answer(o.wantReplayOf)
					want = &r
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("op %d (%s, key %q): replay %+v, want %+v", i, o.id, o.key, got, want)
				}
			}
			for _, id := range tt.stored {
				got, err := orders.Get(ctx, id)
				if err != nil {
					t.Fatalf("Get %s: %v", id, err)
				}
				for _, o := range tt.ops {
					if o.id == id && o.wantErr == nil && o.wantReplayOf == "" && got.IdempotencyKey != o.key {
						t.Errorf("order %s has key %q, want %q", id, got.IdempotencyKey, o.key)
					}
				}
			}
			for _, id := range tt.absent {
				if _, err := orders.Get(ctx, id); !errors.Is(err, order.ErrNotFound) {
					t.Errorf("Get %s = %v, want ErrNotFound (no second order)", id, err)
				}
			}
		})
	}

	t.Run("one of concurrent requests with one key creates the order", func(t *testing.T) {
		intake, orders := newStores(t)
		const n = 8
		var mu sync.Mutex
		var created []string
		replays := map[string]int{}
		concurrently(n, func(i int) {
			id := fmt.Sprintf("o-%d", i)
			got, err := intake.Accept(ctx, keyed(t, id, "k"), hash1, answer(id), t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && got == nil:
				created = append(created, id)
			case err == nil:
				replays[got.Body]++
			default:
				t.Errorf("Accept %s = %+v, %v", id, got, err)
			}
		})
		if len(created) != 1 {
			t.Fatalf("%d requests created an order (%v), want 1", len(created), created)
		}
		if want := answer(created[0]).Body; replays[want] != n-1 || len(replays) != 1 {
			t.Errorf("replays %v, want %d of %s", replays, n-1, want)
		}
		for i := range n {
			id := fmt.Sprintf("o-%d", i)
			_, err := orders.Get(ctx, id)
			if id == created[0] && err != nil || id != created[0] && !errors.Is(err, order.ErrNotFound) {
				t.Errorf("Get %s = %v", id, err)
			}
		}
	})
}
