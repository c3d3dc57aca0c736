package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/idempotency"
)

// IdempotencyAPI is the part of the DynamoDB client that IdempotencyStore uses.
type IdempotencyAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// IdempotencyKeyPrefix is put before every API idempotency key in the pk of
// the idempotency table. The table also holds the notify function's
// processed-event markers (notify#<eventId>); the prefix keeps a client from
// choosing a key that is one of them.
const IdempotencyKeyPrefix = "api#"

// beginAttempts bounds Begin's rounds of "create, else read and decide" when
// other requests with the same key change the record in between.
const beginAttempts = 4

// IdempotencyStore keeps the records of the API's Idempotency-Key in the
// idempotency table: a lock while the first request runs, then its response.
type IdempotencyStore struct {
	c     IdempotencyAPI
	table string
}

// NewIdempotencyStore returns an IdempotencyStore on table.
func NewIdempotencyStore(c IdempotencyAPI, table string) *IdempotencyStore {
	return &IdempotencyStore{c: c, table: table}
}

func (s *IdempotencyStore) key(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": attrS(IdempotencyKeyPrefix + key)}
}

// Begin takes the lock of key for a request whose body hashes to bodyHash. It
// returns (nil, nil) when the caller holds the lock and must run the request
// (then Complete or Abandon); the stored response when a request with the same
// body completed before (a replay); idempotency.ErrMismatch (wrapped) when the
// key was used with another body; idempotency.ErrInProgress (wrapped) while
// the first request still runs. An expired record or a stale lock (see
// idempotency.Check) is taken over. Expiry is decided here, at now, not by
// DynamoDB's TTL, which deletes items late or (in emulators) never.
func (s *IdempotencyStore) Begin(ctx context.Context, key, bodyHash string, now time.Time) (*idempotency.Response, error) {
	item := map[string]types.AttributeValue{
		"pk":         attrS(IdempotencyKeyPrefix + key),
		"body_hash":  attrS(bodyHash),
		"status":     attrS(string(idempotency.InProgress)),
		"locked_at":  attrN(now.UnixMilli()),
		"expires_at": attrN(now.Add(idempotency.DefaultTTL).Unix()),
	}
	for range beginAttempts {
		_, err := s.c.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:           aws.String(s.table),
			Item:                item,
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		if err == nil {
			return nil, nil
		}
		if !isConditionFailed(err) {
			return nil, fmt.Errorf("begin idempotency key %s: %w", key, err)
		}
		rec, raw, err := s.get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("begin idempotency key %s: %w", key, err)
		}
		if rec == nil {
			continue // abandoned in between: try to create it again
		}
		resp, err := idempotency.Check(rec, bodyHash, now)
		switch {
		case err != nil:
			return nil, fmt.Errorf("begin idempotency key %s: %w", key, err)
		case resp != nil:
			return resp, nil
		}
		// Take over the expired or stale record, on condition that nobody
		// else changed or took it over since we read it.
		cond, names, values := unchanged(raw, "status", "locked_at", "expires_at")
		_, err = s.c.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(s.table),
			Item:                      item,
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
		if err == nil {
			return nil, nil
		}
		if !isConditionFailed(err) {
			return nil, fmt.Errorf("begin idempotency key %s: %w", key, err)
		}
	}
	return nil, fmt.Errorf("begin idempotency key %s: record keeps changing: %w", key, idempotency.ErrInProgress)
}

// unchanged builds a condition that holds while the named attributes still
// have the values (or the absence) they have in item.
func unchanged(item map[string]types.AttributeValue, attrs ...string) (string, map[string]string, map[string]types.AttributeValue) {
	cond := "attribute_exists(pk)"
	names := make(map[string]string, len(attrs))
	values := make(map[string]types.AttributeValue, len(attrs))
	for i, a := range attrs {
		n := "#a" + strconv.Itoa(i)
		names[n] = a
		if v, ok := item[a]; ok {
			values[":v"+strconv.Itoa(i)] = v
			cond += " AND " + n + " = :v" + strconv.Itoa(i)
		} else {
			cond += " AND attribute_not_exists(" + n + ")"
		}
	}
	return cond, names, values
}

// get returns the record of key and its raw item, or nils when there is none.
func (s *IdempotencyStore) get(ctx context.Context, key string) (*idempotency.Record, map[string]types.AttributeValue, error) {
	out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            s.key(key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil || len(out.Item) == 0 {
		return nil, nil, err
	}
	it := out.Item
	rec := &idempotency.Record{
		Key:      key,
		BodyHash: getS(it, "body_hash"),
		Status:   idempotency.Status(getS(it, "status")),
		Response: idempotency.Response{Body: getS(it, "response_body")},
	}
	code, err := getN(it, "response_status")
	if err != nil {
		return nil, nil, err
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
	if ms, err := getN(it, "locked_at"); err != nil {
		return nil, nil, err
	} else if _, ok := it["locked_at"]; ok {
		rec.LockedAt = time.UnixMilli(ms)
	}
	if sec, err := getN(it, "expires_at"); err != nil {
		return nil, nil, err
	} else if _, ok := it["expires_at"]; ok {
		rec.ExpiresAt = time.Unix(sec, 0)
	}
	return rec, it, nil
}

// Complete stores resp as the answer for key and marks the record DONE, to be
// replayed until idempotency.DefaultTTL after now. It returns an error when
// key is not IN_PROGRESS (never begun, abandoned or completed already).
func (s *IdempotencyStore) Complete(ctx context.Context, key string, resp idempotency.Response, now time.Time) error {
	headers := make(map[string]types.AttributeValue, len(resp.Headers))
	for k, v := range resp.Headers {
		headers[k] = attrS(v)
	}
	_, err := s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key:       s.key(key),
		UpdateExpression: aws.String("SET #s = :done, response_status = :code, response_body = :body, " +
			"response_headers = :headers, expires_at = :exp"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND #s = :inprogress"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":done":       attrS(string(idempotency.Done)),
			":inprogress": attrS(string(idempotency.InProgress)),
			":code":       attrN(int64(resp.StatusCode)),
			":body":       attrS(resp.Body),
			":headers":    &types.AttributeValueMemberM{Value: headers},
			":exp":        attrN(now.Add(idempotency.DefaultTTL).Unix()),
		},
	})
	switch {
	case isConditionFailed(err):
		return fmt.Errorf("complete idempotency key %s: no request in progress", key)
	case err != nil:
		return fmt.Errorf("complete idempotency key %s: %w", key, err)
	}
	return nil
}

// Abandon deletes the IN_PROGRESS record of key, so that a retry of the
// request can run (call it when the request failed without an answer worth
// replaying). A missing or completed record is left as it is and Abandon
// returns nil.
func (s *IdempotencyStore) Abandon(ctx context.Context, key string) error {
	_, err := s.c.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       s.key(key),
		ConditionExpression:       aws.String("#s = :inprogress"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":inprogress": attrS(string(idempotency.InProgress))},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("abandon idempotency key %s: %w", key, err)
	}
	return nil
}
