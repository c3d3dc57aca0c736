package dynamo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/idempotency"
	"github.com/orderflow/orderflow/pkg/order"
)

// IntakeAPI is the part of the DynamoDB client that IntakeStore uses.
type IntakeAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// IdempotencyKeyPrefix is put before every API idempotency key in the pk of
// the idempotency table. The table also holds the notify function's
// processed-event markers (notify#<eventId>); the prefix keeps a client from
// choosing a key that is one of them.
const IdempotencyKeyPrefix = "api#"

// IntakeStore accepts new orders: the order in the orders table and, when the request
// carried an Idempotency-Key, the key's record (DONE, with the answer to replay and the
// order id) in the idempotency table, in ONE TransactWriteItems. Whatever fails where,
// either both items exist or neither does, so a client that retries with the same key
// gets the first answer and never a second order.
type IntakeStore struct {
	c      IntakeAPI
	orders string
	keys   string
}

// NewIntakeStore returns an IntakeStore on the orders and idempotency tables.
func NewIntakeStore(c IntakeAPI, ordersTable, keysTable string) *IntakeStore {
	return &IntakeStore{c: c, orders: ordersTable, keys: keysTable}
}

// Accept stores the new order o. Without a key (o.IdempotencyKey empty) it is one
// conditional PutItem. With a key it writes o and the key's record — bodyHash, o's id,
// resp (the answer to replay) and an expiry idempotency.DefaultTTL after now — in one
// transaction, on condition that the key has no record that is still valid at now
// (DynamoDB's TTL deletes expired items late, so expiry is decided here). It returns
// (nil, nil) when o was stored; when the key holds a record it stores nothing and
// returns, as idempotency.Check decides, the recorded response (same body: a replay)
// or idempotency.ErrMismatch or idempotency.ErrInProgress (wrapped). A transaction that
// keeps conflicting with another one on the same key returns idempotency.ErrInProgress;
// an order id that exists already returns order.ErrAlreadyExists (wrapped).
func (s *IntakeStore) Accept(ctx context.Context, o *order.Order, bodyHash string, resp idempotency.Response, now time.Time) (*idempotency.Response, error) {
	item, err := marshalOrder(o)
	if err != nil {
		return nil, fmt.Errorf("accept order %s: %w", o.ID, err)
	}
	putOrder := &types.Put{
		TableName:           aws.String(s.orders),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(order_id)"),
		// The order that made the condition fail comes back: when it is this very
		// order, the write landed and its answer was lost (see ownWrite).
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	key := o.IdempotencyKey
	if key == "" {
		_, err := s.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: putOrder.TableName, Item: item, ConditionExpression: putOrder.ConditionExpression,
			ReturnValuesOnConditionCheckFailure: putOrder.ReturnValuesOnConditionCheckFailure})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case errors.As(err, &ccf) && ownWrite(ccf.Item, item):
			return nil, nil
		case isConditionFailed(err):
			return nil, fmt.Errorf("accept order %s: %w", o.ID, order.ErrAlreadyExists)
		case err != nil:
			return nil, fmt.Errorf("accept order %s: %w", o.ID, err)
		}
		return nil, nil
	}
	rec := keyItem(idempotency.Record{Key: key, BodyHash: bodyHash, Status: idempotency.Done, Response: resp,
		OrderID: o.ID, ExpiresAt: now.Add(idempotency.DefaultTTL)})
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: putOrder},
		{Put: &types.Put{
			TableName:                 aws.String(s.keys),
			Item:                      rec,
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR expires_at <= :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": attrN(now.Unix())},
			// The record that made the condition fail comes back in the cancellation
			// reasons: a replay costs this one call, no second read.
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
	}}
	for attempt := range conflictAttempts {
		_, err := s.c.TransactWriteItems(ctx, in)
		if err == nil {
			return nil, nil
		}
		var tce *types.TransactionCanceledException
		switch {
		case isTransactionConflict(err):
			if attempt+1 < conflictAttempts {
				if err := backoff(ctx, attempt); err != nil {
					return nil, fmt.Errorf("accept order %s with key %s: %w", o.ID, key, err)
				}
			}
			continue
		case !errors.As(err, &tce) || len(tce.CancellationReasons) != 2:
			return nil, fmt.Errorf("accept order %s with key %s: %w", o.ID, key, err)
		case aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed":
			if ownWrite(tce.CancellationReasons[0].Item, item) {
				return nil, nil
			}
			return nil, fmt.Errorf("accept order %s: %w", o.ID, order.ErrAlreadyExists)
		case aws.ToString(tce.CancellationReasons[1].Code) != "ConditionalCheckFailed":
			return nil, fmt.Errorf("accept order %s with key %s: %w", o.ID, key, err)
		}
		old := tce.CancellationReasons[1].Item
		if len(old) == 0 {
			return nil, fmt.Errorf("accept order %s with key %s: the key's condition failed but DynamoDB did not return its record", o.ID, key)
		}
		found, err := readKey(key, old)
		if err != nil {
			return nil, fmt.Errorf("accept order %s with key %s: %w", o.ID, key, err)
		}
		replay, err := idempotency.Check(found, bodyHash, now)
		switch {
		case err != nil:
			return nil, fmt.Errorf("accept order %s with key %s: %w", o.ID, key, err)
		case replay == nil:
			// The record expired between DynamoDB's check and ours (clock skew): the
			// next attempt's condition sees it expired too.
			continue
		}
		return replay, nil
	}
	return nil, fmt.Errorf("accept order %s with key %s: %d attempts conflicted: %w", o.ID, key, conflictAttempts, idempotency.ErrInProgress)
}

// keyItem is the item of an API idempotency record.
func keyItem(r idempotency.Record) map[string]types.AttributeValue {
	headers := make(map[string]types.AttributeValue, len(r.Response.Headers))
	for k, v := range r.Response.Headers {
		headers[k] = attrS(v)
	}
	return map[string]types.AttributeValue{
		"pk":               attrS(IdempotencyKeyPrefix + r.Key),
		"body_hash":        attrS(r.BodyHash),
		"status":           attrS(string(r.Status)),
		"order_id":         attrS(r.OrderID),
		"response_status":  attrN(int64(r.Response.StatusCode)),
		"response_body":    attrS(r.Response.Body),
		"response_headers": &types.AttributeValueMemberM{Value: headers},
		"expires_at":       attrN(r.ExpiresAt.Unix()),
	}
}

// readKey reads the record of key from its item (written by keyItem, or an IN_PROGRESS
// lock of an earlier version, which has no response).
func readKey(key string, it map[string]types.AttributeValue) (*idempotency.Record, error) {
	rec := &idempotency.Record{
		Key:      key,
		BodyHash: getS(it, "body_hash"),
		Status:   idempotency.Status(getS(it, "status")),
		OrderID:  getS(it, "order_id"),
		Response: idempotency.Response{Body: getS(it, "response_body")},
	}
	code, err := getN(it, "response_status")
	if err != nil {
		return nil, err
	}
	rec.Response.StatusCode = int(code)
	if h, ok := it["response_headers"].(*types.AttributeValueMemberM); ok && len(h.Value) > 0 {
		rec.Response.Headers = make(map[string]string, len(h.Value))
		for k, v := range h.Value {
			if sv, ok := v.(*types.AttributeValueMemberS); ok {
				rec.Response.Headers[k] = sv.Value
			}
		}
	}
	sec, err := getN(it, "expires_at")
	if err != nil {
		return nil, err
	}
	if _, ok := it["expires_at"]; ok {
		rec.ExpiresAt = time.Unix(sec, 0)
	}
	return rec, nil
}

// ownWrite reports whether old, the item that failed a write's condition, is the item
// the write puts: the write landed before and its answer was lost, and the SDK retried
// it (AWS makes a retried transaction idempotent with its ClientRequestToken, not a
// retried PutItem; the emulator neither). Order ids are new for every request, so only
// the request's own write can have put the same order.
func ownWrite(old, item map[string]types.AttributeValue) bool {
	return len(old) > 0 && reflect.DeepEqual(old, item)
}
