package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/inventory"
)

// InventoryAPI is the part of the DynamoDB client that InventoryStore uses.
type InventoryAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// batchGetAttempts bounds the rounds of BatchGetItem that re-ask for
// unprocessed keys.
const batchGetAttempts = 8

// InventoryStore keeps the catalog, the stock and the reservations in the
// inventory table (key pk): SKU#<sku> items hold price, currency and stock;
// RES#<orderId> items hold an order's reserved lines and the reservation
// state.
type InventoryStore struct {
	c     InventoryAPI
	table string
}

// NewInventoryStore returns an InventoryStore on table.
func NewInventoryStore(c InventoryAPI, table string) *InventoryStore {
	return &InventoryStore{c: c, table: table}
}

func skuKey(sku string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": attrS("SKU#" + sku)}
}

func reservationKey(orderID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": attrS("RES#" + orderID)}
}

// Put sets the name, price, currency and stock of a SKU, replacing what was there.
// It returns an error for an empty SKU or a negative price or stock.
func (s *InventoryStore) Put(ctx context.Context, it inventory.Item) error {
	if it.SKU == "" || it.Price < 0 || it.Stock < 0 {
		return fmt.Errorf("put sku %q: invalid item (empty sku or negative price or stock)", it.SKU)
	}
	item := map[string]types.AttributeValue{
		"pk":       attrS("SKU#" + it.SKU),
		"sku":      attrS(it.SKU),
		"price":    attrN(it.Price),
		"currency": attrS(it.Currency),
		"stock":    attrN(it.Stock),
		// the conditional strategy's markers (ConditionalInventoryStore); a Put clears them
		"holds": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
	}
	putNonEmpty(item, "name", it.Name)
	_, err := s.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item})
	if err != nil {
		return fmt.Errorf("put sku %s: %w", it.SKU, err)
	}
	return nil
}

func decodeItem(item map[string]types.AttributeValue) (inventory.Item, error) {
	it := inventory.Item{SKU: getS(item, "sku"), Name: getS(item, "name"), Currency: getS(item, "currency")}
	var err error
	if it.Price, err = getN(item, "price"); err != nil {
		return it, err
	}
	if it.Stock, err = getN(item, "stock"); err != nil {
		return it, err
	}
	return it, nil
}

// Get returns the catalog item of sku, read consistently. It returns
// inventory.ErrUnknownSKU (wrapped) when the SKU is not in the catalog.
func (s *InventoryStore) Get(ctx context.Context, sku string) (inventory.Item, error) {
	out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            skuKey(sku),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return inventory.Item{}, fmt.Errorf("get sku %s: %w", sku, err)
	}
	if len(out.Item) == 0 {
		return inventory.Item{}, fmt.Errorf("get sku %s: %w", sku, inventory.ErrUnknownSKU)
	}
	it, err := decodeItem(out.Item)
	if err != nil {
		return inventory.Item{}, fmt.Errorf("get sku %s: %w", sku, err)
	}
	return it, nil
}

// Items returns the catalog items of skus keyed by SKU; SKUs not in the
// catalog are simply absent. Reads are eventually consistent (prices change
// rarely); unprocessed keys are asked for again with backoff.
func (s *InventoryStore) Items(ctx context.Context, skus []string) (map[string]inventory.Item, error) {
	uniq := slices.Compact(slices.Sorted(slices.Values(skus)))
	items := make(map[string]inventory.Item, len(uniq))
	for chunk := range slices.Chunk(uniq, 100) {
		keys := make([]map[string]types.AttributeValue, len(chunk))
		for i, sku := range chunk {
			keys[i] = skuKey(sku)
		}
		req := map[string]types.KeysAndAttributes{s.table: {Keys: keys}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt == batchGetAttempts {
				return nil, fmt.Errorf("get skus: %d keys still unprocessed after %d attempts", len(req[s.table].Keys), attempt)
			}
			if attempt > 0 {
				if err := backoff(ctx, attempt); err != nil {
					return nil, fmt.Errorf("get skus: %w", err)
				}
			}
			out, err := s.c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("get skus: %w", err)
			}
			for _, item := range out.Responses[s.table] {
				it, err := decodeItem(item)
				if err != nil {
					return nil, fmt.Errorf("get skus: %s: %w", it.SKU, err)
				}
				items[it.SKU] = it
			}
			req = out.UnprocessedKeys
		}
	}
	return items, nil
}

// Reserve takes the stock of every line for orderID in one transaction, or
// none: each SKU's stock drops by its quantity on condition that the SKU
// exists and has at least that much, and the reservation record RES#orderID
// is created on condition that it does not exist yet. A reservation that
// exists already makes Reserve a no-op that returns nil, so redelivered
// commands are harmless. When lines are short it returns
// *inventory.OutOfStockError (not wrapped) naming them; a SKU not in the
// catalog counts as out of stock. Lines must pass inventory.Validate and be at
// most MaxReserveLines.
func (s *InventoryStore) Reserve(ctx context.Context, orderID string, lines []inventory.Line) error {
	if err := checkReserve(orderID, lines); err != nil {
		return err
	}
	items := make([]types.TransactWriteItem, 0, len(lines)+1)
	for _, l := range lines {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       skuKey(l.SKU),
			UpdateExpression:          aws.String("SET stock = stock - :q"),
			ConditionExpression:       aws.String("attribute_exists(pk) AND stock >= :q"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":q": attrN(l.Quantity)},
		}})
	}
	items = append(items, types.TransactWriteItem{Put: &types.Put{
		TableName:           aws.String(s.table),
		Item:                reservationItem(orderID, inventory.Reserved, lines),
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}})

	for attempt := 0; ; attempt++ {
		_, err := s.c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return nil
		}
		if isTransient(err) && tryAgain(ctx, attempt) {
			if err := backoff(ctx, attempt); err != nil {
				return fmt.Errorf("reserve order %s: %w", orderID, err)
			}
			continue
		}
		codes, ok := cancellationCodes(err)
		if !ok || len(codes) != len(items) {
			return fmt.Errorf("reserve order %s: %w", orderID, err)
		}
		if codes[len(lines)] == "ConditionalCheckFailed" {
			return nil // reserved before: an idempotent no-op
		}
		var short []string
		for i, l := range lines {
			if codes[i] == "ConditionalCheckFailed" {
				short = append(short, l.SKU)
			}
		}
		if len(short) == 0 {
			return fmt.Errorf("reserve order %s: %w", orderID, err)
		}
		return &inventory.OutOfStockError{OrderID: orderID, SKUs: short}
	}
}

// Release gives back the stock of orderID's reservation in one transaction
// that adds every quantity back and moves the reservation from RESERVED to
// RELEASED (on condition that it is still RESERVED). Releasing twice returns
// nil: it is a compensation that may run more than once. Releasing an order
// that reserved nothing writes a RELEASED reservation with no lines, a
// tombstone, so that a reserve command delivered late (after the saga gave
// up on it and compensated) is a no-op instead of taking stock that nobody
// would give back.
func (s *InventoryStore) Release(ctx context.Context, orderID string) error {
	for attempt := 0; ; attempt++ {
		state, lines, err := s.reservation(ctx, orderID)
		switch {
		case errors.Is(err, inventory.ErrNoReservation):
			if placed, err := s.releaseUnreserved(ctx, orderID); placed || err != nil {
				return err
			}
			continue // a reservation appeared meanwhile: release it
		case err != nil:
			return fmt.Errorf("release order %s: %w", orderID, err)
		case state != inventory.Reserved:
			return nil
		}
		items := make([]types.TransactWriteItem, 0, len(lines)+1)
		for _, l := range lines {
			items = append(items, types.TransactWriteItem{Update: &types.Update{
				TableName:                 aws.String(s.table),
				Key:                       skuKey(l.SKU),
				UpdateExpression:          aws.String("SET stock = stock + :q"),
				ConditionExpression:       aws.String("attribute_exists(pk)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":q": attrN(l.Quantity)},
			}})
		}
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                aws.String(s.table),
			Key:                      reservationKey(orderID),
			UpdateExpression:         aws.String("SET #s = :released"),
			ConditionExpression:      aws.String("#s = :reserved"),
			ExpressionAttributeNames: map[string]string{"#s": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":released": attrS(string(inventory.Released)),
				":reserved": attrS(string(inventory.Reserved)),
			},
		}})
		_, err = s.c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return nil
		}
		if codes, ok := cancellationCodes(err); ok && len(codes) == len(items) && codes[len(lines)] == "ConditionalCheckFailed" {
			return nil // released concurrently by another delivery
		}
		if isTransient(err) && tryAgain(ctx, attempt) {
			if err := backoff(ctx, attempt); err != nil {
				return fmt.Errorf("release order %s: %w", orderID, err)
			}
			continue
		}
		return fmt.Errorf("release order %s: %w", orderID, err)
	}
}

// Reservation returns the state and lines of orderID's reservation, read
// consistently. It returns inventory.ErrNoReservation (wrapped) when the
// order reserved nothing.
func (s *InventoryStore) Reservation(ctx context.Context, orderID string) (inventory.ReservationState, []inventory.Line, error) {
	state, lines, err := s.reservation(ctx, orderID)
	if err != nil {
		return "", nil, fmt.Errorf("reservation of order %s: %w", orderID, err)
	}
	return state, lines, nil
}

// releaseUnreserved is the release of an order that reserved nothing: it leaves the
// tombstone and reports true, or reports false when a reservation appeared meanwhile
// (release it).
func (s *InventoryStore) releaseUnreserved(ctx context.Context, orderID string) (bool, error) {
	placed, err := s.tombstone(ctx, orderID)
	if err != nil {
		return false, fmt.Errorf("release order %s: %w", orderID, err)
	}
	return placed, nil
}

// tombstone creates a RELEASED reservation with no lines for orderID unless a
// reservation exists; it reports whether it created one.
func (s *InventoryStore) tombstone(ctx context.Context, orderID string) (bool, error) {
	_, err := s.c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                reservationItem(orderID, inventory.Released, nil),
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ccf):
		return false, nil
	default:
		return false, err
	}
}

// reservation returns inventory.ErrNoReservation itself, not wrapped.
func (s *InventoryStore) reservation(ctx context.Context, orderID string) (inventory.ReservationState, []inventory.Line, error) {
	item, err := s.reservationItem(ctx, orderID)
	if err != nil {
		return "", nil, err
	}
	r, err := decodeReservation(item)
	if err != nil {
		return "", nil, err
	}
	return r.State, r.Lines, nil
}

// reservationItem reads orderID's reservation item consistently; it returns
// inventory.ErrNoReservation itself, not wrapped, when there is none.
func (s *InventoryStore) reservationItem(ctx context.Context, orderID string) (map[string]types.AttributeValue, error) {
	out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            reservationKey(orderID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, inventory.ErrNoReservation
	}
	return out.Item, nil
}

// checkReserve checks the lines of a reserve: inventory.Validate, and at most
// inventory.MaxReserveLines.
func checkReserve(orderID string, lines []inventory.Line) error {
	if err := inventory.Validate(lines); err != nil {
		return fmt.Errorf("reserve order %s: %w", orderID, err)
	}
	if len(lines) > inventory.MaxReserveLines {
		return fmt.Errorf("reserve order %s: %d lines, at most %d", orderID, len(lines), inventory.MaxReserveLines)
	}
	return nil
}

// reservationItem is the reservation record of orderID in state with lines.
func reservationItem(orderID string, state inventory.ReservationState, lines []inventory.Line) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk":       attrS("RES#" + orderID),
		"order_id": attrS(orderID),
		"lines":    encodeLines(lines),
		"state":    attrS(string(state)),
	}
}

// encodeLines is the lines attribute of a reservation record.
func encodeLines(lines []inventory.Line) types.AttributeValue {
	stored := make([]types.AttributeValue, len(lines))
	for i, l := range lines {
		stored[i] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"sku": attrS(l.SKU), "quantity": attrN(l.Quantity),
		}}
	}
	return &types.AttributeValueMemberL{Value: stored}
}

// Reservation is the reservation of one order, as DecodeInventory reads it.
type Reservation struct {
	OrderID string
	State   inventory.ReservationState
	Lines   []inventory.Line
}

// decodeReservation reads a reservation item; its lines are required.
func decodeReservation(item map[string]types.AttributeValue) (Reservation, error) {
	r := Reservation{OrderID: strings.TrimPrefix(getS(item, "pk"), "RES#"), State: inventory.ReservationState(getS(item, "state"))}
	list, _ := item["lines"].(*types.AttributeValueMemberL)
	if list == nil {
		return r, errors.New("reservation record has no lines")
	}
	r.Lines = make([]inventory.Line, 0, len(list.Value))
	for _, v := range list.Value {
		m, ok := v.(*types.AttributeValueMemberM)
		if !ok {
			return r, errors.New("reservation record: line is not a map")
		}
		q, err := getN(m.Value, "quantity")
		if err != nil {
			return r, err
		}
		r.Lines = append(r.Lines, inventory.Line{SKU: getS(m.Value, "sku"), Quantity: q})
	}
	return r, nil
}

// InventoryRecord is one item of the inventory table, as a tool that scans the table
// reads it: a catalog item or the reservation of an order; neither is set for an item
// this package did not write.
type InventoryRecord struct {
	Item        *inventory.Item
	Reservation *Reservation
}

// DecodeInventory reads an item of the inventory table (as GetItem or Scan return it). It
// returns an error naming a malformed attribute.
func DecodeInventory(item map[string]types.AttributeValue) (InventoryRecord, error) {
	pk := getS(item, "pk")
	switch {
	case strings.HasPrefix(pk, "SKU#"):
		it, err := decodeItem(item)
		if err != nil {
			return InventoryRecord{}, fmt.Errorf("inventory item %s: %w", pk, err)
		}
		it.SKU = strings.TrimPrefix(pk, "SKU#")
		return InventoryRecord{Item: &it}, nil
	case strings.HasPrefix(pk, "RES#"):
		r, err := decodeReservation(item)
		if err != nil {
			return InventoryRecord{}, fmt.Errorf("inventory item %s: %w", pk, err)
		}
		return InventoryRecord{Reservation: &r}, nil
	}
	return InventoryRecord{}, nil
}
