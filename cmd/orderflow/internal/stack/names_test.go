package stack

import (
	"path/filepath"
	"testing"

	"github.com/orderflow/orderflow/tools/template"
)

// TestNames: the names of a deployed stack follow from the template and its Stage.
func TestNames(t *testing.T) {
	tpl, err := template.Load(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	names, err := Names(tpl, map[string]string{"Stage": "prod"})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"OrdersTable": "orders-prod", "InventoryCommandQueue": "inventory-commands-prod",
		"InventoryCommandDlq": "inventory-commands-dlq-prod", "OrderProcessingStateMachine": "order-processing-prod",
		"OrdersBus": "orders-prod", "OrderCreatedRule": "orders-prod-order-created", "IngestFunction": "orderflow-prod-ingest"} {
		if names[id] != want {
			t.Errorf("%s = %q, want %q", id, names[id], want)
		}
	}
	if n, ok := names["DataLake"]; ok {
		t.Errorf("DataLake = %q: a nested stack's bucket is not knowable from the template", n)
	}
	if _, err := Names(tpl, map[string]string{"Stage": "qa"}); err == nil {
		t.Error("Stage=qa (not an allowed value) was accepted")
	}
}
