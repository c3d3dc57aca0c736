package dynamo

import (
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/order"
)

// The order item is written and read by hand rather than with the SDK's attributevalue
// package: its reflection-driven codec (and the DynamoDB Streams types it pulls in) cost
// every function that stores orders 128 KiB of binary and a package initialisation at
// cold start, for one struct. The layout is attributevalue's for the dynamodbav tags
// order.Order carried before (refOrder in the test mirrors them), so items written before
// and after read the same; TestOrderCodec holds the two codecs to each other field by
// field, and fails when order.Order gains a field this file does not know.

// marshalOrder returns o as a DynamoDB item.
func marshalOrder(o *order.Order) (map[string]types.AttributeValue, error) {
	item := make(map[string]types.AttributeValue, 14)
	item["order_id"] = attrS(o.ID)
	item["customer_id"] = attrS(o.CustomerID)
	item["lines"] = marshalLines(o.Lines)
	item["currency"] = attrS(o.Currency)
	item["total"] = attrN(o.Total)
	item["status"] = attrS(string(o.Status))
	putNonEmpty(item, "failure_reason", string(o.FailureReason))
	putNonEmpty(item, "correlation_id", o.CorrelationID)
	putNonEmpty(item, "payment_token", o.PaymentToken)
	putNonEmpty(item, "execution_id", o.ExecutionID)
	putNonEmpty(item, "idempotency_key", o.IdempotencyKey)
	item["created_at"] = attrS(o.CreatedAt.UTC().Format(timeLayout))
	item["updated_at"] = attrS(o.UpdatedAt.UTC().Format(timeLayout))
	item["version"] = attrN(o.Version)
	return item, nil
}

// marshalLines writes a nil slice as NULL and any other as a list, as attributevalue does.
func marshalLines(lines []order.Line) types.AttributeValue {
	if lines == nil {
		return &types.AttributeValueMemberNULL{Value: true}
	}
	l := make([]types.AttributeValue, len(lines))
	for i, ln := range lines {
		m := map[string]types.AttributeValue{"sku": attrS(ln.SKU), "quantity": attrN(ln.Quantity)}
		if ln.UnitPrice != 0 {
			m["unit_price"] = attrN(ln.UnitPrice)
		}
		l[i] = &types.AttributeValueMemberM{Value: m}
	}
	return &types.AttributeValueMemberL{Value: l}
}

// putNonEmpty is the omitempty of a string field.
func putNonEmpty(item map[string]types.AttributeValue, name, v string) {
	if v != "" {
		item[name] = attrS(v)
	}
}

// DecodeOrder reads an item of the orders table (as GetItem, Scan or a stream image
// return it) into an order: the one decoder of the table's layout, for the tools and the
// stream's publisher. It returns an error naming the attribute that is of the wrong type,
// a malformed number or time.
func DecodeOrder(item map[string]types.AttributeValue) (*order.Order, error) {
	return unmarshalOrder(item)
}

// OrderID returns the order id of an item of the orders table (its key), "" when it has
// none: for a reader that must name an item DecodeOrder cannot read.
func OrderID(item map[string]types.AttributeValue) string {
	return getS(item, "order_id")
}

// unmarshalOrder reads an order item. Absent and NULL attributes leave their field at
// its zero value; an attribute of the wrong type, a malformed number or time is an error.
func unmarshalOrder(item map[string]types.AttributeValue) (*order.Order, error) {
	var o order.Order
	d := decoder{item: item}
	o.ID = d.str("order_id")
	o.CustomerID = d.str("customer_id")
	o.Lines = d.lines("lines")
	o.Currency = d.str("currency")
	o.Total = d.num("total")
	o.Status = order.Status(d.str("status"))
	o.FailureReason = order.Reason(d.str("failure_reason"))
	o.CorrelationID = d.str("correlation_id")
	o.PaymentToken = d.str("payment_token")
	o.ExecutionID = d.str("execution_id")
	o.IdempotencyKey = d.str("idempotency_key")
	o.CreatedAt = d.time("created_at")
	o.UpdatedAt = d.time("updated_at")
	o.Version = d.num("version")
	if d.err != nil {
		return nil, d.err
	}
	return &o, nil
}

// decoder reads attributes of one item and keeps the first error.
type decoder struct {
	item map[string]types.AttributeValue
	err  error
}

func (d *decoder) fail(name, msg string) {
	if d.err == nil {
		d.err = errors.New("unmarshal order: attribute " + name + ": " + msg)
	}
}

// present returns the attribute name, or nil when it is absent or NULL.
func (d *decoder) present(name string) types.AttributeValue {
	v, ok := d.item[name]
	if !ok {
		return nil
	}
	if _, null := v.(*types.AttributeValueMemberNULL); null {
		return nil
	}
	return v
}

func (d *decoder) str(name string) string {
	switch v := d.present(name).(type) {
	case nil:
		return ""
	case *types.AttributeValueMemberS:
		return v.Value
	default:
		d.fail(name, "not a string")
		return ""
	}
}

func (d *decoder) num(name string) int64 {
	switch v := d.present(name).(type) {
	case nil:
		return 0
	case *types.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			d.fail(name, "not an integer: "+v.Value)
		}
		return n
	default:
		d.fail(name, "not a number")
		return 0
	}
}

func (d *decoder) time(name string) time.Time {
	s := d.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d.fail(name, "not an RFC 3339 time: "+s)
	}
	return t
}

func (d *decoder) lines(name string) []order.Line {
	var list []types.AttributeValue
	switch v := d.present(name).(type) {
	case nil:
		return nil
	case *types.AttributeValueMemberL:
		list = v.Value
	default:
		d.fail(name, "not a list")
		return nil
	}
	lines := make([]order.Line, len(list))
	for i, av := range list {
		m, ok := av.(*types.AttributeValueMemberM)
		if !ok {
			d.fail(name, "line "+strconv.Itoa(i)+" is not a map")
			return nil
		}
		ld := decoder{item: m.Value}
		lines[i] = order.Line{SKU: ld.str("sku"), Quantity: ld.num("quantity"), UnitPrice: ld.num("unit_price")}
		if ld.err != nil {
			d.fail(name, ld.err.Error())
			return nil
		}
	}
	return lines
}
