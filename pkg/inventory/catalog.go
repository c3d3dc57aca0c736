package inventory

import (
	"encoding/json"
	"fmt"
)

// ParseCatalog reads a catalog file ({"items":[{"sku", "name", "price", "currency",
// "stock"}]}, as local/catalog.json): the items the local stack loads and whose stock the
// audit starts from. It returns an error for malformed JSON or an invalid item (an empty
// SKU, a negative price or stock, a currency that is not three letters).
func ParseCatalog(b []byte) ([]Item, error) {
	var c struct {
		Items []Item `json:"items"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	for _, it := range c.Items {
		if it.SKU == "" || it.Price < 0 || it.Stock < 0 || len(it.Currency) != 3 {
			return nil, fmt.Errorf("invalid item %+v", it)
		}
	}
	return c.Items, nil
}
