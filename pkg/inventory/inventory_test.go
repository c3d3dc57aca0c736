package inventory_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/orderflow/orderflow/pkg/inventory"
)

func TestReserve(t *testing.T) {
	stock := map[string]int64{"A": 5, "B": 1}
	cases := []struct {
		name      string
		lines     []inventory.Line
		wantLeft  map[string]int64
		wantShort []string
	}{
		{"all fit", []inventory.Line{{SKU: "A", Quantity: 5}, {SKU: "B", Quantity: 1}}, map[string]int64{"A": 0, "B": 0}, nil},
		{"one short", []inventory.Line{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 2}}, nil, []string{"B"}},
		{"unknown sku is short", []inventory.Line{{SKU: "Z", Quantity: 1}}, nil, []string{"Z"}},
		{"all short", []inventory.Line{{SKU: "A", Quantity: 6}, {SKU: "B", Quantity: 9}}, nil, []string{"A", "B"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			left, err := inventory.Reserve("o-1", stock, tc.lines)
			var oos *inventory.OutOfStockError
			switch {
			case tc.wantShort == nil && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantShort != nil && (!errors.As(err, &oos) || !reflect.DeepEqual(oos.SKUs, tc.wantShort)):
				t.Fatalf("err = %v, want out of stock %v", err, tc.wantShort)
			case !reflect.DeepEqual(left, tc.wantLeft):
				t.Fatalf("left = %v, want %v", left, tc.wantLeft)
			}
			if stock["A"] != 5 || stock["B"] != 1 {
				t.Fatalf("input stock changed: %v", stock)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		lines []inventory.Line
		ok    bool
	}{
		{"ok", []inventory.Line{{SKU: "A", Quantity: 1}}, true},
		{"none", nil, false},
		{"empty sku", []inventory.Line{{Quantity: 1}}, false},
		{"zero quantity", []inventory.Line{{SKU: "A"}}, false},
		{"negative quantity", []inventory.Line{{SKU: "A", Quantity: -1}}, false},
		{"duplicate", []inventory.Line{{SKU: "A", Quantity: 1}, {SKU: "A", Quantity: 1}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := inventory.Validate(tc.lines); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
