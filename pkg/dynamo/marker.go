package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// MarkerAPI is the part of the DynamoDB client that MarkerStore uses.
type MarkerAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// MarkerStore keeps processed-event markers (pk = prefix + id, TTL attribute
// expires_at) so that an effect of an at-least-once delivery happens once.
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

// Claim records that id is being processed and reports whether this is the
// first claim: false means another delivery claimed it and the effect must
// be skipped. A marker whose ttl has passed at now counts as absent (DynamoDB
// deletes expired items only eventually); ttl <= 0 keeps the marker for ever.
func (s *MarkerStore) Claim(ctx context.Context, id string, ttl time.Duration, now time.Time) (bool, error) {
	item := map[string]types.AttributeValue{"pk": attrS(s.prefix + id)}
	if exp := expiry(now, ttl); exp > 0 {
		item["expires_at"] = attrN(exp)
	}
	_, err := s.c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR expires_at <= :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": attrN(now.Unix())},
	})
	switch {
	case isConditionFailed(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("claim %s%s: %w", s.prefix, id, err)
	}
	return true, nil
}

// Unclaim deletes the marker of id, so that a retry can claim it again (call
// it when the effect failed). A missing marker is not an error.
func (s *MarkerStore) Unclaim(ctx context.Context, id string) error {
	_, err := s.c.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key:       map[string]types.AttributeValue{"pk": attrS(s.prefix + id)},
	})
	if err != nil {
		return fmt.Errorf("unclaim %s%s: %w", s.prefix, id, err)
	}
	return nil
}
