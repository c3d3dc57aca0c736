package inventory

import (
	"context"
	"testing"

	stock "github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/memstore"
)

// TestWithMemstore runs the handler over the in-memory store, which applies the same
// all-or-nothing and idempotency rules as the DynamoDB store (pkg/storetest).
func TestWithMemstore(t *testing.T) {
	ctx := context.Background()
	store := memstore.NewInventoryStore(stock.Item{SKU: "SKU-1", Price: 1250, Currency: "USD", Stock: 3})
	tokens := &fakeTokens{}
	h := &Handler{Store: store, Tokens: tokens, Log: quiet()}
	stockLeft := func() int64 {
		it, err := store.Get(ctx, "SKU-1")
		if err != nil {
			t.Fatal(err)
		}
		return it.Stock
	}
	steps := []struct {
		name      string
		body      string
		token     string
		wantKind  string
		wantStock int64
	}{
		{"reserve 2 of 3", reserveBody("o1", "t1"), "t1", "succeed", 1},
		{"the same reserve redelivered takes nothing more", reserveBody("o1", "t2"), "t2", "succeed", 1},
		{"another order for 2 is out of stock", reserveBody("o2", "t3"), "t3", "fail", 1},
		{"release gives the stock back", releaseBody("o1", "t4"), "t4", "succeed", 3},
		{"release redelivered gives nothing more", releaseBody("o1", "t5"), "t5", "succeed", 3},
		{"now the other order fits", reserveBody("o2", "t6"), "t6", "succeed", 1},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			resp, err := h.Handle(ctx, sqsEvent(msg("m"+string(rune('a'+i)), s.body)))
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("Handle = %v, %v", resp, err)
			}
			if got := tokens.byToken()[s.token].Kind; got != s.wantKind {
				t.Errorf("answer = %q, want %q", got, s.wantKind)
			}
			if got := stockLeft(); got != s.wantStock {
				t.Errorf("stock = %d, want %d", got, s.wantStock)
			}
		})
	}
}
