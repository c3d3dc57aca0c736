package ingest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/orderflow/orderflow/events/samples"
	"github.com/orderflow/orderflow/pkg/order"
)

// TestEventFiles runs every events/ingest-*.json (what `sam local invoke` passes)
// through aws-lambda-go's handler wrapper and the ingest handler. A new file must get an
// entry in the table below, so no sample event goes untested. A file named *-jwt.json
// carries a JWT authorizer's claims and runs with CustomerClaim "sub" (ApiAuth=JWT).
func TestEventFiles(t *testing.T) {
	const storedID = "01956a1e-9c00-7abc-8def-0123456789ab"
	type outcome struct {
		status int
		code   string // error code, for error answers
	}
	want := map[string]outcome{
		"ingest-post-valid.json":   {202, ""},
		"ingest-post-invalid.json": {400, "VALIDATION_FAILED"},
		"ingest-get.json":          {200, ""},
		"ingest-list-jwt.json":     {200, ""},
	}
	samples.Run(t, "ingest", want, func(t *testing.T, raw []byte, tt outcome) {
		samples.RoundTrip(t, raw, &events.APIGatewayV2HTTPRequest{})

		w := newWorld()
		w.orders[storedID] = &order.Order{ID: storedID, CustomerID: "cust-42", Currency: "USD",
			Lines: []order.Line{{SKU: "SKU-BOOK-1", Quantity: 1}}, Status: order.StatusPending, Version: 1}
		h := newHandler(w, nil)
		jwt := strings.HasSuffix(t.Name(), "-jwt.json")
		if jwt {
			h.CustomerClaim = "sub"
		}
		out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), raw)
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response %s: %v", out, err)
		}
		if resp.StatusCode != tt.status {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
		}
		if tt.code != "" {
			if c := decodeError(t, resp).Error.Code; c != tt.code {
				t.Errorf("code %s, want %s", c, tt.code)
			}
			return
		}
		if jwt { // the caller's own orders
			var p struct{ Orders []order.Order }
			if err := json.Unmarshal([]byte(resp.Body), &p); err != nil || len(p.Orders) != 1 || p.Orders[0].CustomerID != "cust-42" {
				t.Errorf("body %s: %v", resp.Body, err)
			}
			return
		}
		var o order.Order
		if err := json.Unmarshal([]byte(resp.Body), &o); err != nil || !order.ValidID(o.ID) {
			t.Errorf("body %s: %v", resp.Body, err)
		}
	})
}
