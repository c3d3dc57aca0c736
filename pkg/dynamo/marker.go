package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/event"
)

// MarkerAPI is the part of the DynamoDB client that MarkerStore uses.
type MarkerAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Marker statuses, in the status attribute (the API idempotency records of the same
// table use the same words).
const (
	markerInProgress = "IN_PROGRESS"
	markerDone       = "DONE"
)

// MarkerStore keeps processed-event markers (pk = prefix + id; status IN_PROGRESS or
// DONE, claimed_at in epoch milliseconds, TTL attribute expires_at) so that an effect of
// an at-least-once delivery happens once in the normal case and at least once always: a
// claim is a lease, and a delivery that died holding it (between the claim and Done) is
// taken over by a later delivery once the lease has run out.
type MarkerStore struct {
	c      MarkerAPI
	table  string
	prefix string
}

// NewMarkerStore returns a MarkerStore on table whose keys start with prefix
// (for example "notify#").
func NewMarkerStore(c MarkerAPI, table, prefix string) *MarkerStore {
	return &MarkerStore{c: c, table: table, prefix: prefix}
}

// expiry returns now+ttl in epoch seconds, rounded up so that a marker never
// expires early; 0 when ttl is not positive (never expires).
func expiry(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	t := now.Add(ttl)
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
}

// Claim takes the marker of id as IN_PROGRESS, claimed at now, when it is absent, expired
// (its ttl has passed at now: DynamoDB deletes expired items only eventually) or an
// IN_PROGRESS marker whose lease has run out (claimed more than lease before now: the
// delivery that claimed it died). Otherwise it reports AlreadyDone or InProgress and
// changes nothing. A marker written before leases existed (no status) counts as done.
// Each claim names itself (owner, a nonce), so a claim whose write landed but whose answer
// was lost, and which the SDK sent again, finds its own marker and is Claimed, not
// InProgress; another delivery's claim, even in the same millisecond, is not.
// ttl <= 0 keeps the marker for ever. It returns an error when lease is not positive or
// DynamoDB fails.
func (s *MarkerStore) Claim(ctx context.Context, id string, lease, ttl time.Duration, now time.Time) (event.ClaimResult, error) {
	if lease <= 0 {
		return 0, fmt.Errorf("claim %s%s: lease %s is not positive", s.prefix, id, lease)
	}
	item := map[string]types.AttributeValue{
		"pk":         attrS(s.prefix + id),
		"status":     attrS(markerInProgress),
		"claimed_at": attrN(now.UnixMilli()),
		"owner":      attrS(newNonce()),
	}
	if exp := expiry(now, ttl); exp > 0 {
		item["expires_at"] = attrN(exp)
	}
	_, err := s.c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item:      item,
		ConditionExpression: aws.String("attribute_not_exists(pk) OR expires_at <= :now" +
			" OR (#status = :in_progress AND claimed_at < :stale)"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":         attrN(now.Unix()),
			":in_progress": attrS(markerInProgress),
			":stale":       attrN(now.UnixMilli() - lease.Milliseconds()),
		},
		// The marker that made the condition fail says why, without a second read.
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		if ccf.Item == nil {
			return 0, fmt.Errorf("claim %s%s: condition failed but DynamoDB did not return the marker", s.prefix, id)
		}
		if ownWrite(ccf.Item, item) { // this claim landed before: its answer was lost
			return event.Claimed, nil
		}
		if getS(ccf.Item, "status") == markerInProgress {
			return event.InProgress, nil
		}
		return event.AlreadyDone, nil
	case err != nil:
		return 0, fmt.Errorf("claim %s%s: %w", s.prefix, id, err)
	}
	return event.Claimed, nil
}

// Done marks the marker of id DONE once the effect has happened: every later Claim (until
// the marker expires) reports AlreadyDone. A missing marker is left missing and is not an
// error (it expired or was never claimed; there is nothing to mark).
func (s *MarkerStore) Done(ctx context.Context, id string) error {
	_, err := s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{"pk": attrS(s.prefix + id)},
		UpdateExpression:          aws.String("SET #status = :done"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":done": attrS(markerDone)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("mark %s%s done: %w", s.prefix, id, err)
	}
	return nil
}

// Unclaim deletes the marker of id if it is still the IN_PROGRESS claim made at claimedAt
// (the now given to that Claim), so that a retry can claim it at once (call it when the
// effect failed). A claim taken over by another delivery since, a DONE marker and a
// missing one are left alone and are not errors.
func (s *MarkerStore) Unclaim(ctx context.Context, id string, claimedAt time.Time) error {
	_, err := s.c.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      map[string]types.AttributeValue{"pk": attrS(s.prefix + id)},
		ConditionExpression:      aws.String("#status = :in_progress AND claimed_at = :claimed_at"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":in_progress": attrS(markerInProgress),
			":claimed_at":  attrN(claimedAt.UnixMilli()),
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("unclaim %s%s: %w", s.prefix, id, err)
	}
	return nil
}

// MarkerGetAPI is the part of the DynamoDB client that LookupMarker uses.
type MarkerGetAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// MarkerState is what a processed-event marker says: IN_PROGRESS or DONE, and when it
// was (last) claimed.
type MarkerState struct {
	Status    string
	ClaimedAt time.Time
}

// Done reports whether the effect the marker guards has happened.
func (m MarkerState) Done() bool { return m.Status == markerDone }

// LookupMarker reads the marker prefix+id of table (a MarkerStore's), consistently. ok is
// false when there is none. For tools (the console's order timeline); it returns the
// DynamoDB error, wrapped.
func LookupMarker(ctx context.Context, c MarkerGetAPI, table, prefix, id string) (_ MarkerState, ok bool, _ error) {
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]types.AttributeValue{"pk": attrS(prefix + id)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return MarkerState{}, false, fmt.Errorf("read marker %s%s: %w", prefix, id, err)
	}
	if len(out.Item) == 0 {
		return MarkerState{}, false, nil
	}
	ms, err := getN(out.Item, "claimed_at")
	if err != nil {
		return MarkerState{}, false, fmt.Errorf("read marker %s%s: %w", prefix, id, err)
	}
	st := MarkerState{Status: getS(out.Item, "status")}
	if ms > 0 {
		st.ClaimedAt = time.UnixMilli(ms).UTC()
	}
	return st, true, nil
}
