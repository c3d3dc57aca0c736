package idempotency_test

import (
	"errors"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/idempotency"
)

func TestCheck(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	h := idempotency.Hash([]byte(`{"a":1}`))
	done := &idempotency.Record{Key: "k", BodyHash: h, Status: idempotency.Done, OrderID: "o-1",
		ExpiresAt: now.Add(time.Hour), Response: idempotency.Response{StatusCode: 202, Body: "first"}}
	// A lock written by a version before the transactional intake: whether its request
	// created an order cannot be known, so it is never taken over before it expires.
	legacy := &idempotency.Record{Key: "k", BodyHash: h, Status: idempotency.InProgress, ExpiresAt: now.Add(time.Hour)}
	expired := &idempotency.Record{Key: "k", BodyHash: "other", Status: idempotency.Done, ExpiresAt: now}
	cases := []struct {
		name       string
		rec        *idempotency.Record
		hash       string
		wantReplay bool
		wantErr    error
	}{
		{"no record", nil, h, false, nil},
		{"replay", done, h, true, nil},
		{"other body", done, idempotency.Hash([]byte(`{"a":2}`)), false, idempotency.ErrMismatch},
		{"legacy lock", legacy, h, false, idempotency.ErrInProgress},
		{"legacy lock with another body", legacy, "other", false, idempotency.ErrMismatch},
		{"expired taken over", expired, h, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := idempotency.Check(tc.rec, tc.hash, now)
			if !errors.Is(err, tc.wantErr) || (err == nil && tc.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if (resp != nil) != tc.wantReplay || (resp != nil && resp.Body != "first") {
				t.Fatalf("resp = %+v", resp)
			}
		})
	}
	if idempotency.Hash([]byte("a")) == idempotency.Hash([]byte("b")) {
		t.Fatal("hash collision")
	}
}

func TestScopedKey(t *testing.T) {
	if idempotency.ScopedKey("c-1", "k") == idempotency.ScopedKey("c-2", "k") {
		t.Error("two customers' keys are the same key")
	}
	if idempotency.ScopedKey("c-1", "k") == "k" {
		t.Error("a scoped key is the caller's key as it is: it would meet the same key of an unscoped caller")
	}
}
