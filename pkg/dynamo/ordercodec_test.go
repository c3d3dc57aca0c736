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

// referenceMarshal is the attributevalue encoding the hand-written codec replaced; the
// codec must write the same item.
func referenceMarshal(t *testing.T, o *order.Order) map[string]types.AttributeValue {
	t.Helper()
	item, err := attributevalue.MarshalMapWithOptions(o, func(eo *attributevalue.EncoderOptions) {
		eo.EncodeTime = func(tm time.Time) (types.AttributeValue, error) {
			return attrS(tm.UTC().Format(timeLayout)), nil
		}
	})
	if err != nil {
		t.Fatalf("attributevalue.MarshalMap: %v", err)
	}
	return item
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
			var ref order.Order
			if err := attributevalue.UnmarshalMap(got, &ref); err != nil {
				t.Fatalf("attributevalue.UnmarshalMap: %v", err)
			}
			if !reflect.DeepEqual(back, &ref) {
				t.Fatalf("unmarshalOrder read %+v, attributevalue reads %+v", back, &ref)
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
