// Package idempotency holds the rules of the API's Idempotency-Key: the same key with the
// same body returns the first response; the same key with another body is a conflict.
// It has no AWS dependency.
//
// A key's record is written once, DONE, with the answer to replay, in the same
// transaction as the order it created (pkg/dynamo's IntakeStore): there is no moment at
// which the order exists without its record or the record without its order, so a
// retry after any crash either finds the record (and gets the first answer, the same
// order id) or finds nothing (and creates the order once).
package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Status is the state of an idempotency record.
type Status string

// Record states. Records are written DONE, with their response. IN_PROGRESS is the lock
// that versions before the transactional intake wrote first and completed later; such a
// record may still be found until it expires, and whether its request created an order
// cannot be known from it.
const (
	InProgress Status = "IN_PROGRESS"
	Done       Status = "DONE"
)

// DefaultTTL is how long a key is remembered.
const DefaultTTL = 24 * time.Hour

// Errors returned by idempotency stores.
var (
	// ErrInProgress means another request with this key is being committed at this very
	// moment (its transaction kept conflicting with ours), or the key holds a record left
	// IN_PROGRESS by an earlier version: retry later.
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
	Key      string
	BodyHash string
	Status   Status
	Response Response
	// OrderID is the order the first request created.
	OrderID   string
	ExpiresAt time.Time
}

// Hash returns the fingerprint stored for a request body.
func Hash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Check decides what an existing record means for a new request with bodyHash at now:
// replay (the stored response, nil), ErrMismatch, ErrInProgress, or (nil, nil) when there
// is no record or it has expired, so the request may run and write its own.
func Check(rec *Record, bodyHash string, now time.Time) (*Response, error) {
	switch {
	case rec == nil, !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt):
		return nil, nil
	case rec.BodyHash != bodyHash:
		return nil, ErrMismatch
	case rec.Status == Done:
		r := rec.Response
		return &r, nil
	}
	return nil, ErrInProgress
}

// ScopedKey returns the key under which a customer's Idempotency-Key is kept when the
// API knows its caller (ApiAuth=JWT): keys are then per customer, so one customer's key
// can neither replay nor block another's answer. A customer id cannot hold '/'
// (order.ValidCustomerID), so different pairs never give the same key.
func ScopedKey(customerID, key string) string {
	return customerID + "/" + key
}
