package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/event"
)

// MetricsAPI is the part of the DynamoDB client that MetricsStore uses.
type MetricsAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// MinuteLayout formats the minute of a metrics item key (MINUTE#<minute>), in UTC.
const MinuteLayout = "2006-01-02T15:04Z"

// MinuteKey returns the pk of the metrics item of t's minute.
func MinuteKey(t time.Time) string { return "MINUTE#" + t.UTC().Format(MinuteLayout) }

// MetricsStore keeps per-minute order counts and revenue in the metrics table,
// and a marker per applied event (EVENT#<eventId>) so that each event counts
// once.
type MetricsStore struct {
	c     MetricsAPI
	table string
}

// NewMetricsStore returns a MetricsStore on table.
func NewMetricsStore(c MetricsAPI, table string) *MetricsStore {
	return &MetricsStore{c: c, table: table}
}

// Apply adds d to its minute's counters and records eventID, in one
// transaction. It returns false, and changes nothing, when eventID was
// applied before; an error when d is invalid (see event.MetricDelta.Validate) or
// the write fails.
func (s *MetricsStore) Apply(ctx context.Context, eventID string, d event.MetricDelta) (bool, error) {
	if err := d.Validate(); err != nil {
		return false, fmt.Errorf("apply event %s: %w", eventID, err)
	}
	update := "ADD #c :one"
	names := map[string]string{"#c": "count_" + d.Status}
	values := map[string]types.AttributeValue{":one": attrN(1)}
	if d.Revenue > 0 {
		update += ", #r :rev"
		names["#r"] = "revenue_" + d.Currency
		values[":rev"] = attrN(d.Revenue)
	}
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{
			TableName:           aws.String(s.table),
			Item:                map[string]types.AttributeValue{"pk": attrS("EVENT#" + eventID)},
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}},
		{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       map[string]types.AttributeValue{"pk": attrS(MinuteKey(d.Minute))},
			UpdateExpression:          aws.String(update),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}},
	}}
	for attempt := 0; ; attempt++ {
		_, err := s.c.TransactWriteItems(ctx, in)
		if err == nil {
			return true, nil
		}
		if codes, ok := cancellationCodes(err); ok && len(codes) > 0 && codes[0] == "ConditionalCheckFailed" {
			return false, nil
		}
		if isTransient(err) && tryAgain(ctx, attempt) {
			if err := backoff(ctx, attempt); err != nil {
				return false, fmt.Errorf("apply event %s: %w", eventID, err)
			}
			continue
		}
		return false, fmt.Errorf("apply event %s: %w", eventID, err)
	}
}

// Minute returns the counters of minute, read consistently; empty ones when nothing
// happened in it. It returns the DynamoDB error or a malformed counter, wrapped.
func (s *MetricsStore) Minute(ctx context.Context, minute time.Time) (event.MinuteMetrics, error) {
	key := MinuteKey(minute)
	out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"pk": attrS(key)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return event.MinuteMetrics{}, fmt.Errorf("read metrics %s: %w", key, err)
	}
	m, err := counters(out.Item)
	if err != nil {
		return event.MinuteMetrics{}, fmt.Errorf("read metrics %s: %w", key, err)
	}
	return m, nil
}

// DecodeMinute reads an item of the metrics table (as Scan returns it): the counters of
// a minute, and false for an item that is not a minute's (the marker of an applied
// event). It returns an error naming a malformed counter.
func DecodeMinute(item map[string]types.AttributeValue) (event.MinuteMetrics, bool, error) {
	if !strings.HasPrefix(getS(item, "pk"), "MINUTE#") {
		return event.MinuteMetrics{}, false, nil
	}
	m, err := counters(item)
	return m, err == nil, err
}

// counters reads the count_<STATUS> and revenue_<CURRENCY> attributes of a minute's item.
func counters(item map[string]types.AttributeValue) (event.MinuteMetrics, error) {
	m := event.NewMinuteMetrics()
	for name := range item {
		into, key := m.Count, ""
		if k, ok := strings.CutPrefix(name, "count_"); ok {
			key = k
		} else if k, ok := strings.CutPrefix(name, "revenue_"); ok {
			into, key = m.Revenue, k
		} else {
			continue
		}
		n, err := getN(item, name)
		if err != nil {
			return event.MinuteMetrics{}, err
		}
		into[key] = n
	}
	return m, nil
}

// Applied reports whether eventID was applied (its EVENT#<eventId> marker exists), read
// consistently. It returns the DynamoDB error, wrapped.
func (s *MetricsStore) Applied(ctx context.Context, eventID string) (bool, error) {
	out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:            aws.String(s.table),
		Key:                  map[string]types.AttributeValue{"pk": attrS("EVENT#" + eventID)},
		ConsistentRead:       aws.Bool(true),
		ProjectionExpression: aws.String("pk"),
	})
	if err != nil {
		return false, fmt.Errorf("read event marker %s: %w", eventID, err)
	}
	return len(out.Item) > 0, nil
}
