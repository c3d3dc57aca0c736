package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/order"
)

// OrderAPI is the part of the DynamoDB client that OrderStore uses.
type OrderAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// CustomerIndex is the orders table's GSI: customer_id HASH, created_at RANGE.
const CustomerIndex = "customer-index"

// timeLayout writes times in UTC with a fixed number of fraction digits, so
// that created_at strings sort as the times do (RFC 3339 with trimmed zeros
// does not: "…:00.5Z" sorts before "…:00Z"). time.RFC3339Nano reads it.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// OrderStore keeps orders in the orders table (key order_id), one item per
// order, versioned for optimistic locking.
type OrderStore struct {
	c     OrderAPI
	table string
}

// NewOrderStore returns an OrderStore on table.
func NewOrderStore(c OrderAPI, table string) *OrderStore {
	return &OrderStore{c: c, table: table}
}

// Create stores a new order. It returns order.ErrAlreadyExists (wrapped) when
// an order with the same id exists.
func (s *OrderStore) Create(ctx context.Context, o *order.Order) error {
	item, err := marshalOrder(o)
	if err != nil {
		return fmt.Errorf("create order %s: %w", o.ID, err)
	}
	_, err = s.c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(order_id)"),
	})
	switch {
	case isConditionFailed(err):
		return fmt.Errorf("create order %s: %w", o.ID, order.ErrAlreadyExists)
	case err != nil:
		return fmt.Errorf("create order %s: %w", o.ID, err)
	}
	return nil
}

// Get returns the order with id, read consistently. It returns
// order.ErrNotFound (wrapped) when there is none.
func (s *OrderStore) Get(ctx context.Context, id string) (*order.Order, error) {
	o, err := s.get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get order %s: %w", id, err)
	}
	return o, nil
}

func (s *OrderStore) get(ctx context.Context, id string) (*order.Order, error) {
	out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"order_id": attrS(id)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, order.ErrNotFound
	}
	return unmarshalOrder(out.Item)
}

// Update reads the order, applies fn to it and writes it back on condition
// that nobody wrote it in between (version unchanged); the stored version is
// the read version plus one. On a lost lock it re-reads and calls fn again, up
// to UpdateAttempts times, then returns order.ErrConflict (wrapped). An error
// from fn is returned as it is, not wrapped, and nothing is written. It
// returns order.ErrNotFound (wrapped) when there is no such order.
func (s *OrderStore) Update(ctx context.Context, id string, fn func(*order.Order) error) (*order.Order, error) {
	for range order.UpdateAttempts {
		o, err := s.get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("update order %s: %w", id, err)
		}
		read := o.Version
		if err := fn(o); err != nil {
			return nil, err
		}
		if o.ID != id {
			return nil, fmt.Errorf("update order %s: the update changed the order id to %q", id, o.ID)
		}
		o.Version = read + 1
		item, err := marshalOrder(o)
		if err != nil {
			return nil, fmt.Errorf("update order %s: %w", id, err)
		}
		_, err = s.c.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(s.table),
			Item:                      item,
			ConditionExpression:       aws.String("#v = :v"),
			ExpressionAttributeNames:  map[string]string{"#v": "version"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": attrN(read)},
		})
		switch {
		case err == nil:
			return o, nil
		case !isConditionFailed(err):
			return nil, fmt.Errorf("update order %s: %w", id, err)
		}
	}
	return nil, fmt.Errorf("update order %s: %d attempts: %w", id, order.UpdateAttempts, order.ErrConflict)
}

// ListByCustomer returns up to limit orders of a customer, newest first, from
// the customer-index GSI (eventually consistent). A limit of 0 or less
// returns all of them.
func (s *OrderStore) ListByCustomer(ctx context.Context, customerID string, limit int32) ([]*order.Order, error) {
	in := s.customerQuery(customerID)
	var orders []*order.Order
	for {
		if limit > 0 {
			in.Limit = aws.Int32(limit - int32(len(orders)))
		}
		out, err := s.c.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list orders of customer %s: %w", customerID, err)
		}
		for _, item := range out.Items {
			o, err := unmarshalOrder(item)
			if err != nil {
				return nil, fmt.Errorf("list orders of customer %s: %w", customerID, err)
			}
			orders = append(orders, o)
		}
		if len(out.LastEvaluatedKey) == 0 || (limit > 0 && int32(len(orders)) >= limit) {
			return orders, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// customerQuery reads a customer's orders from the customer-index GSI, newest first.
func (s *OrderStore) customerQuery(customerID string) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(CustomerIndex),
		KeyConditionExpression:    aws.String("customer_id = :c"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": attrS(customerID)},
		ScanIndexForward:          aws.Bool(false),
	}
}

// PageByCustomer returns one page of a customer's orders, newest first, from the
// customer-index GSI (eventually consistent): up to limit orders (at least 1) after the
// position pageToken names ("" = from the newest), and the token of the next page, ""
// when there are no more. A token names only a position (a creation time and an order
// id), never a customer: the customer is always customerID, so a token cannot open
// another customer's orders. It returns order.ErrBadPageToken (wrapped) for a token it
// did not make.
func (s *OrderStore) PageByCustomer(ctx context.Context, customerID string, limit int, pageToken string) ([]*order.Order, string, error) {
	limit = max(limit, 1)
	in := s.customerQuery(customerID)
	if pageToken != "" {
		created, id, err := decodePageToken(pageToken)
		if err != nil {
			return nil, "", fmt.Errorf("list orders of customer %s: %w", customerID, err)
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			"customer_id": attrS(customerID), "created_at": attrS(created), "order_id": attrS(id),
		}
	}
	// One order more than the page: whether it exists says whether there is a next page
	// (a query that stops at its Limit returns a LastEvaluatedKey even when nothing follows).
	var orders []*order.Order
	for len(orders) <= limit {
		in.Limit = aws.Int32(int32(limit + 1 - len(orders)))
		out, err := s.c.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list orders of customer %s: %w", customerID, err)
		}
		for _, item := range out.Items {
			o, err := unmarshalOrder(item)
			if err != nil {
				return nil, "", fmt.Errorf("list orders of customer %s: %w", customerID, err)
			}
			orders = append(orders, o)
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(orders) <= limit {
		return orders, "", nil
	}
	orders = orders[:limit]
	last := orders[limit-1]
	return orders, encodePageToken(last.CreatedAt.UTC().Format(timeLayout), last.ID), nil
}

// pagePosition is what a page token holds: the created_at and order_id of the last
// order of the page before.
type pagePosition struct {
	CreatedAt string `json:"c"`
	OrderID   string `json:"o"`
}

func encodePageToken(createdAt, id string) string {
	b, _ := json.Marshal(pagePosition{CreatedAt: createdAt, OrderID: id}) // two strings: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(tok string) (createdAt, id string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	var p pagePosition
	if err != nil || json.Unmarshal(b, &p) != nil || p.OrderID == "" {
		return "", "", order.ErrBadPageToken
	}
	if _, err := time.Parse(time.RFC3339Nano, p.CreatedAt); err != nil {
		return "", "", order.ErrBadPageToken
	}
	return p.CreatedAt, p.OrderID, nil
}

// OrderScanAPI is the part of the DynamoDB client that ScanOrders uses.
type OrderScanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// ScanOrders calls each for every order of table, page by page (eventually consistent),
// and stops after max orders when max is positive. It returns the scan's or the codec's
// error, wrapped, or the first error each returns, as it is. For tools (the console,
// the audit): the functions read orders by key or by customer.
func ScanOrders(ctx context.Context, c OrderScanAPI, table string, max int, each func(*order.Order) error) error {
	var start map[string]types.AttributeValue
	n := 0
	for {
		out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start})
		if err != nil {
			return fmt.Errorf("scan orders %s: %w", table, err)
		}
		for _, item := range out.Items {
			o, err := unmarshalOrder(item)
			if err != nil {
				return fmt.Errorf("scan orders %s: %w", table, err)
			}
			if err := each(o); err != nil {
				return err
			}
			if n++; max > 0 && n >= max {
				return nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}

// CountOrders counts the orders of table in one of statuses, page by page (eventually
// consistent). The table answers counts only (Select COUNT), so it serialises no item:
// for progress lines that look often (the chaos run), where ScanOrders would cost the
// emulator a copy of every order each time.
func CountOrders(ctx context.Context, c OrderScanAPI, table string, statuses ...order.Status) (int, error) {
	in := &dynamodb.ScanInput{TableName: aws.String(table), Select: types.SelectCount,
		ExpressionAttributeNames: map[string]string{"#status": "status"}, ExpressionAttributeValues: map[string]types.AttributeValue{}}
	filter := ""
	for i, s := range statuses {
		name := fmt.Sprintf(":s%d", i)
		in.ExpressionAttributeValues[name] = attrS(string(s))
		if i > 0 {
			filter += ", "
		}
		filter += name
	}
	if len(statuses) > 0 {
		in.FilterExpression = aws.String("#status IN (" + filter + ")")
	} else {
		in.ExpressionAttributeNames, in.ExpressionAttributeValues = nil, nil
	}
	n := 0
	for {
		out, err := c.Scan(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("count orders %s: %w", table, err)
		}
		n += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
