package dynamo

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/order"
)

// refOrder and refLine are order.Order and order.Line with the dynamodbav tags that
// described the orders table's layout before the hand-written codec: attributevalue's
// encoding of them is the layout the codec must keep, so that items written before and
// after read the same. The domain types carry no storage tags; refFields checks that
// these mirror them field by field.
type refOrder struct {
	ID             string       `dynamodbav:"order_id"`
	CustomerID     string       `dynamodbav:"customer_id"`
	Lines          []refLine    `dynamodbav:"lines"`
	Currency       string       `dynamodbav:"currency"`
	Total          int64        `dynamodbav:"total"`
	Status         order.Status `dynamodbav:"status"`
	FailureReason  order.Reason `dynamodbav:"failure_reason,omitempty"`
	CorrelationID  string       `dynamodbav:"correlation_id,omitempty"`
	PaymentToken   string       `dynamodbav:"payment_token,omitempty"`
	ExecutionID    string       `dynamodbav:"execution_id,omitempty"`
	IdempotencyKey string       `dynamodbav:"idempotency_key,omitempty"`
	CreatedAt      time.Time    `dynamodbav:"created_at"`
	UpdatedAt      time.Time    `dynamodbav:"updated_at"`
	Version        int64        `dynamodbav:"version"`
}

type refLine struct {
	SKU       string `dynamodbav:"sku"`
	Quantity  int64  `dynamodbav:"quantity"`
	UnitPrice int64  `dynamodbav:"unit_price,omitempty"`
}

// copyFields copies every field of src into the field of the same name of dst (both
// struct values), converting []order.Line and []refLine; it fails when the two types do
// not have the same fields.
func copyFields(t *testing.T, dst, src reflect.Value) {
	t.Helper()
	if dst.NumField() != src.NumField() {
		t.Fatalf("%s has %d fields, %s %d: refOrder must mirror order.Order", dst.Type(), dst.NumField(), src.Type(), src.NumField())
	}
	for i := range src.NumField() {
		name := src.Type().Field(i).Name
		d := dst.FieldByName(name)
		if !d.IsValid() {
			t.Fatalf("%s has no field %s: refOrder must mirror order.Order", dst.Type(), name)
		}
		sf := src.Field(i)
		if sf.Kind() == reflect.Slice && sf.Type() != d.Type() {
			if sf.IsNil() {
				continue
			}
			out := reflect.MakeSlice(d.Type(), sf.Len(), sf.Len())
			for j := range sf.Len() {
				out.Index(j).Set(sf.Index(j).Convert(d.Type().Elem()))
			}
			d.Set(out)
			continue
		}
		d.Set(sf)
	}
}

// referenceMarshal is the attributevalue encoding the hand-written codec replaced; the
// codec must write the same item.
func referenceMarshal(t *testing.T, o *order.Order) map[string]types.AttributeValue {
	t.Helper()
	var ref refOrder
	copyFields(t, reflect.ValueOf(&ref).Elem(), reflect.ValueOf(o).Elem())
	item, err := attributevalue.MarshalMapWithOptions(ref, func(eo *attributevalue.EncoderOptions) {
		eo.EncodeTime = func(tm time.Time) (types.AttributeValue, error) {
			return attrS(tm.UTC().Format(timeLayout)), nil
		}
	})
	if err != nil {
		t.Fatalf("attributevalue.MarshalMap: %v", err)
	}
	return item
}

// referenceUnmarshal is the attributevalue decoding the hand-written codec replaced.
func referenceUnmarshal(t *testing.T, item map[string]types.AttributeValue) *order.Order {
	t.Helper()
	var ref refOrder
	if err := attributevalue.UnmarshalMap(item, &ref); err != nil {
		t.Fatalf("attributevalue.UnmarshalMap: %v", err)
	}
	var o order.Order
	copyFields(t, reflect.ValueOf(&o).Elem(), reflect.ValueOf(&ref).Elem())
	return &o
}

// fullOrder sets every field of order.Order, found by reflection, to a non-zero value,
// so that a field added to order.Order and not to the codec makes TestOrderCodec fail.
func fullOrder(t *testing.T) *order.Order {
	t.Helper()
	var o order.Order
	v := reflect.ValueOf(&o).Elem()
	stamp := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		switch {
		case sf.Type == reflect.TypeOf(time.Time{}):
			f.Set(reflect.ValueOf(stamp.Add(time.Duration(i) * time.Hour)))
		case sf.Type == reflect.TypeOf([]order.Line{}):
			f.Set(reflect.ValueOf([]order.Line{{SKU: "SKU-A", Quantity: 2, UnitPrice: 1299}, {SKU: "SKU-B", Quantity: 1}}))
		case f.Kind() == reflect.String:
			f.SetString("value-of-" + strings.ToLower(sf.Name))
		case f.Kind() == reflect.Int64:
			f.SetInt(int64(1000 + i))
		default:
			t.Fatalf("order.Order.%s has type %s, which fullOrder and the codec in ordercodec.go do not handle", sf.Name, sf.Type)
		}
	}
	return &o
}

func TestOrderCodec(t *testing.T) {
	created := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name  string
		order *order.Order
	}{
		{name: "every field set", order: fullOrder(t)},
		{name: "zero order", order: &order.Order{}},
		{name: "empty line list", order: &order.Order{ID: "o-1", Lines: []order.Line{}, CreatedAt: created, UpdatedAt: created}},
		{name: "pending order without optional fields", order: &order.Order{ID: "o-2", CustomerID: "c-1", Currency: "EUR",
			Lines: []order.Line{{SKU: "SKU-A", Quantity: 3}}, Status: order.StatusPending, CreatedAt: created, UpdatedAt: created, Version: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := marshalOrder(tt.order)
			if err != nil {
				t.Fatalf("marshalOrder: %v", err)
			}
			if want := referenceMarshal(t, tt.order); !reflect.DeepEqual(got, want) {
				t.Fatalf("marshalOrder wrote\n%#v\nattributevalue writes\n%#v", got, want)
			}
			back, err := unmarshalOrder(got)
			if err != nil {
				t.Fatalf("unmarshalOrder: %v", err)
			}
			if !reflect.DeepEqual(back, tt.order) {
				t.Fatalf("round trip: got %+v, want %+v", back, tt.order)
			}
			if ref := referenceUnmarshal(t, got); !reflect.DeepEqual(back, ref) {
				t.Fatalf("unmarshalOrder read %+v, attributevalue reads %+v", back, ref)
			}
		})
	}
}

func TestUnmarshalOrderErrors(t *testing.T) {
	tests := []struct {
		name string
		item map[string]types.AttributeValue
		want string
	}{
		{name: "string attribute holds a number", item: map[string]types.AttributeValue{"order_id": attrN(1)}, want: "order_id: not a string"},
		{name: "number attribute holds a string", item: map[string]types.AttributeValue{"version": attrS("1")}, want: "version: not a number"},
		{name: "malformed number", item: map[string]types.AttributeValue{"total": &types.AttributeValueMemberN{Value: "1.5"}}, want: "total: not an integer"},
		{name: "malformed time", item: map[string]types.AttributeValue{"created_at": attrS("yesterday")}, want: "created_at: not an RFC 3339 time"},
		{name: "lines not a list", item: map[string]types.AttributeValue{"lines": attrS("x")}, want: "lines: not a list"},
		{name: "line not a map", item: map[string]types.AttributeValue{"lines": &types.AttributeValueMemberL{Value: []types.AttributeValue{attrS("x")}}},
			want: "lines: line 0 is not a map"},
		{name: "bad quantity in a line", item: map[string]types.AttributeValue{"lines": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"quantity": attrS("2")}}}}}, want: "quantity: not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := unmarshalOrder(tt.item)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("unmarshalOrder: error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestUnmarshalOrderReadsNullAsZero(t *testing.T) {
	null := &types.AttributeValueMemberNULL{Value: true}
	got, err := unmarshalOrder(map[string]types.AttributeValue{"order_id": attrS("o-1"), "lines": null, "failure_reason": null, "version": null})
	if err != nil {
		t.Fatalf("unmarshalOrder: %v", err)
	}
	if want := (&order.Order{ID: "o-1"}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
