package capacity

import (
	"os"
	"strings"
	"testing"
)

// The sold-out short-cut (process.SoldOutError from ValidateAndPrice) cancels the order
// without the reservation's states: it never enters ReserveInventory.
func TestSoldOutShortCutPath(t *testing.T) {
	asl, err := os.ReadFile("../../../statemachine/order-processing.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	path, err := OutcomePath(asl, Outcome{Name: "sold out", Raises: map[string]string{"ValidateAndPrice": "SoldOutError"}})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(path, ",")
	if !strings.HasPrefix(got, "ValidateAndPrice,CancelOutOfStock,MarkCancelled,") || strings.Contains(got, "ReserveInventory") {
		t.Errorf("sold-out path %s, want ValidateAndPrice,CancelOutOfStock,MarkCancelled,... without ReserveInventory", got)
	}
}
