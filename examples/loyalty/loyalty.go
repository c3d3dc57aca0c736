// Package loyalty is an example consumer of orderflow's bus: a loyalty service that
// credits a customer one point per whole unit of currency on every Order Confirmed. It
// is what a consumer team writes (README "For consumers"): its own template
// (template.yaml: a rule on orderflow's bus, an SQS queue with a DLQ, this function),
// events/orderevents to decode, and idempotency on the event's dedupe key.
//
// Effect once per event: the credit and a marker item keyed by the event's DedupeKey
// are one DynamoDB transaction, conditional on the marker not existing. A second
// delivery of the same event (EventBridge and SQS deliver at least once; an archive
// replay delivers again) fails the condition and changes nothing.
package loyalty

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/events/orderevents"
)

// Item keys of the loyalty table (partition key pk): one balance per customer, one
// marker per credited event.
const (
	customerPrefix = "CUSTOMER#"
	eventPrefix    = "EVENT#"
)

// CustomerKey is the pk of a customer's balance item (attribute points, a number).
func CustomerKey(customerID string) string { return customerPrefix + customerID }

// EventKey is the pk of the marker of a credited event.
func EventKey(dedupeKey string) string { return eventPrefix + dedupeKey }

// Points is what an order earns: one point per whole unit of its currency (total is in
// minor units, 2 decimals for every currency orderflow accepts).
func Points(total int64) int64 { return total / 100 }

// Transactor is the one DynamoDB call the handler makes.
type Transactor interface {
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Handler consumes the loyalty queue: each message body is an orderflow event as the
// rule's SQS target delivers it.
type Handler struct {
	DB    Transactor
	Table string
	Log   *slog.Logger
}

// Handle credits every Order Confirmed of the batch once. A message that is not an
// orderflow event, or of a schema version this package cannot read, is reported as a
// failure: SQS redelivers it until the queue's maxReceiveCount moves it to the DLQ, where
// the log line says why. A transient DynamoDB failure is reported too, for the same
// message only. It never returns an error for the whole batch.
func (h *Handler) Handle(ctx context.Context, in events.SQSEvent) (events.SQSEventResponse, error) {
	var out events.SQSEventResponse
	for _, m := range in.Records {
		if err := h.handle(ctx, []byte(m.Body)); err != nil {
			h.log().ErrorContext(ctx, "message not credited", "messageId", m.MessageId, "error", err.Error())
			out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return out, nil
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}

func (h *Handler) handle(ctx context.Context, body []byte) error {
	ev, err := orderevents.Parse(body)
	var unknown *orderevents.UnknownDetailTypeError
	if errors.As(err, &unknown) {
		return nil // a newer kind of event: not ours to credit
	}
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if ev.DetailType != orderevents.OrderConfirmed {
		return nil
	}
	credited, err := h.Credit(ctx, ev.DedupeKey(), ev.Data.CustomerID, Points(ev.Data.Total))
	if err != nil {
		return err
	}
	h.log().InfoContext(ctx, "order credited", "orderId", ev.Data.OrderID, "eventId", ev.DedupeKey(), "new", credited)
	return nil
}

// Credit adds points to the customer's balance unless the event dedupeKey was credited
// before; it reports whether this call credited. Errors are DynamoDB's, wrapped.
func (h *Handler) Credit(ctx context.Context, dedupeKey, customerID string, points int64) (bool, error) {
	_, err := h.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
		{Put: &ddbtypes.Put{
			TableName: aws.String(h.Table),
			Item: map[string]ddbtypes.AttributeValue{
				"pk":         &ddbtypes.AttributeValueMemberS{Value: EventKey(dedupeKey)},
				"customerId": &ddbtypes.AttributeValueMemberS{Value: customerID},
				"points":     &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(points, 10)},
			},
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}},
		{Update: &ddbtypes.Update{
			TableName:                 aws.String(h.Table),
			Key:                       map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: CustomerKey(customerID)}},
			UpdateExpression:          aws.String("ADD points :p"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(points, 10)}},
		}},
	}})
	var canceled *ddbtypes.TransactionCanceledException
	if errors.As(err, &canceled) && len(canceled.CancellationReasons) > 0 &&
		aws.ToString(canceled.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return false, nil // credited before: this is a duplicate delivery
	}
	if err != nil {
		return false, fmt.Errorf("credit %s for event %s: %w", customerID, dedupeKey, err)
	}
	return true, nil
}
