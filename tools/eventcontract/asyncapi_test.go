package eventcontract

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The committed document and events/schemas/ say the same thing.
func TestRepositoryAsyncAPI(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, AsyncAPIPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range CheckAsyncAPI(AsyncAPIPath, doc, filepath.Join(repoRoot, filepath.Dir(AsyncAPIPath))) {
		t.Error(p)
	}
}

// testdata/asyncapi-drift.yaml is the document after hand edits that went unnoticed: the
// check names each.
func TestCheckAsyncAPIFixture(t *testing.T) {
	doc, err := os.ReadFile("testdata/asyncapi-drift.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps := CheckAsyncAPI("asyncapi-drift.yaml", doc, filepath.Join(repoRoot, "events"))
	var all []string
	for _, p := range ps {
		all = append(all, p.Message)
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{
		`no channel for "Order Rejected" (events/schemas/order-rejected.json)`,
		"channel orderConfirmed: detail schema: $ref ./schemas/order-created.json, want the file order-confirmed.json",
		"channel orderCreated: x-eventbridge-event-pattern detail-type [Order Confirmed], want [Order Created]",
		"message orderCancelled example 0: Order Cancelled: jsonschema validation failed",
		"message orderCreated: x-orderflow-delivery",
		"channel orderCancelled: no operation sends to it",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("no problem %q; got:\n%s", want, joined)
		}
	}
	if len(ps) != 6 {
		t.Errorf("%d problems, want the 6 edits:\n%s", len(ps), joined)
	}
}
