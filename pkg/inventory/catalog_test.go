package inventory_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/pkg/inventory"
)

func TestParseCatalog(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []inventory.Item
		wantErr string
	}{
		{name: "items", in: `{"items":[{"sku":"A","name":"Mug","price":1299,"currency":"USD","stock":5}]}`,
			want: []inventory.Item{{SKU: "A", Name: "Mug", Price: 1299, Currency: "USD", Stock: 5}}},
		{name: "empty", in: `{"items":[]}`, want: []inventory.Item{}},
		{name: "malformed", in: `{"items":`, wantErr: "unexpected end"},
		{name: "no sku", in: `{"items":[{"price":1,"currency":"USD","stock":1}]}`, wantErr: "invalid item"},
		{name: "negative stock", in: `{"items":[{"sku":"A","price":1,"currency":"USD","stock":-1}]}`, wantErr: "invalid item"},
		{name: "bad currency", in: `{"items":[{"sku":"A","price":1,"currency":"US","stock":1}]}`, wantErr: "invalid item"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inventory.ParseCatalog([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCatalog = %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseCatalog = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	t.Run("the demo catalog", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join("..", "..", "local", "catalog.json"))
		if err != nil {
			t.Fatal(err)
		}
		items, err := inventory.ParseCatalog(b)
		if err != nil || len(items) == 0 {
			t.Fatalf("ParseCatalog(local/catalog.json) = %d items, %v", len(items), err)
		}
	})
}
