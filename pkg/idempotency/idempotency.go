// Package idempotency holds the rules of the API's Idempotency-Key: the same key with the
// same body returns the first response; the same key with another body is a conflict.
// It has no AWS dependency.
package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Status is the state of an idempotency record.
type Status string

// Record states: IN_PROGRESS while the first request runs (a lock), DONE once its
// response is stored.
const (
	InProgress Status = "IN_PROGRESS"
	Done       Status = "DONE"
)

// DefaultTTL is how long a key is remembered.
const DefaultTTL = 24 * time.Hour

// LockTimeout is how long an IN_PROGRESS record blocks the key before a retry may take
// it over (the first request's Lambda must have died).
const LockTimeout = 30 * time.Second

// Errors returned by idempotency stores.
var (
	// ErrInProgress means the first request with this key is still running.
	ErrInProgress = errors.New("a request with this idempotency key is in progress")
	// ErrMismatch means the key was used before with another body.
	ErrMismatch = errors.New("idempotency key reused with a different request body")
)

// Response is the stored first answer.
type Response struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       string            `json:"body"`
}

// Record is what a store keeps per key.
type Record struct {
	Key       string
	BodyHash  string
	Status    Status
	Response  Response
	LockedAt  time.Time
	ExpiresAt time.Time
}

// Hash returns the fingerprint stored for a request body.
func Hash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Check decides what an existing record means for a new request with bodyHash at now:
// replay (the stored response, nil), ErrMismatch, ErrInProgress, or take-over (nil, nil)
// when the record has expired or its lock is stale.
func Check(rec *Record, bodyHash string, now time.Time) (*Response, error) {
	switch {
	case rec == nil, !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt):
		return nil, nil
	case rec.BodyHash != bodyHash:
		return nil, ErrMismatch
	case rec.Status == Done:
		r := rec.Response
		return &r, nil
	case now.Sub(rec.LockedAt) >= LockTimeout:
		return nil, nil
	}
	return nil, ErrInProgress
}
