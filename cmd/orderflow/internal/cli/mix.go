package cli

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/payment"
)

// orderKind is the kind of order the load generator sends, each with a known outcome.
type orderKind string

// Kinds of generated orders.
const (
	kindValid      orderKind = "valid"
	kindOutOfStock orderKind = "out-of-stock"
	kindDeclined   orderKind = "declined"
	kindUnknownSKU orderKind = "unknown-sku"
	kindInvalid    orderKind = "invalid"
)

var allKinds = []orderKind{kindValid, kindOutOfStock, kindDeclined, kindUnknownSKU, kindInvalid}

// expected returns the outcome a kind of order must end with: a terminal status and
// failure reason, or an HTTP status for a request the API refuses.
func (k orderKind) expected() string {
	switch k {
	case kindValid:
		return string(order.StatusConfirmed)
	case kindOutOfStock:
		return string(order.StatusCancelled) + "/" + string(order.ReasonOutOfStock)
	case kindDeclined:
		return string(order.StatusCancelled) + "/" + string(order.ReasonPaymentDeclined)
	case kindUnknownSKU:
		return string(order.StatusRejected) + "/" + string(order.ReasonUnknownSKU)
	}
	return "HTTP 400"
}

// weightedKind is one entry of a mix.
type weightedKind struct {
	Kind   orderKind
	Weight int
}

// namedMixes are the mixes --mix accepts by name.
var namedMixes = map[string][]weightedKind{
	"default": {{kindValid, 80}, {kindOutOfStock, 5}, {kindDeclined, 5}, {kindUnknownSKU, 5}, {kindInvalid, 5}},
	"valid":   {{kindValid, 100}},
}

// parseMix returns the mix named by s ("default", "valid") or spelled out as
// kind=weight pairs ("valid=90,declined=10").
func parseMix(s string) ([]weightedKind, error) {
	if m, ok := namedMixes[s]; ok {
		return m, nil
	}
	var out []weightedKind
	total := 0
	for _, part := range strings.Split(s, ",") {
		k, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("mix %q: want a name (default, valid) or kind=weight,... ", s)
		}
		known := false
		for _, a := range allKinds {
			known = known || a == orderKind(k)
		}
		if !known {
			return nil, fmt.Errorf("mix %q: unknown kind %q (kinds: %v)", s, k, allKinds)
		}
		out = append(out, weightedKind{orderKind(k), n})
		total += n
	}
	if total == 0 {
		return nil, fmt.Errorf("mix %q: weights add up to 0", s)
	}
	return out, nil
}

// The load catalog: SKUs the generator sets up before sending, so that each kind of
// order has a known outcome. Prices keep every valid order far below the payment limit.
var (
	loadSKUs = []inventory.Item{
		{SKU: "LOAD-A", Price: 199, Currency: "USD", Stock: loadStock},
		{SKU: "LOAD-B", Price: 550, Currency: "USD", Stock: loadStock},
		{SKU: "LOAD-C", Price: 1299, Currency: "USD", Stock: loadStock},
		{SKU: "LOAD-D", Price: 2500, Currency: "USD", Stock: loadStock},
		{SKU: "LOAD-E", Price: 4999, Currency: "USD", Stock: loadStock},
	}
	// loadScarce has no stock: any line of it is out of stock.
	loadScarce = inventory.Item{SKU: "LOAD-SCARCE", Price: 100, Currency: "USD", Stock: 0}
)

const loadStock = 10_000_000

// loadCatalog returns every item the load generator needs in the catalog.
func loadCatalog() []inventory.Item {
	return append(append([]inventory.Item(nil), loadSKUs...), loadScarce)
}

// plannedOrder is one order of a load run: its kind and request body.
type plannedOrder struct {
	Index int
	Kind  orderKind
	Body  []byte
}

// planOrders returns n orders drawn from mix with a generator seeded by seed: the same
// seed and mix always give the same sequence.
func planOrders(n int, seed uint64, mix []weightedKind) []plannedOrder {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	total := 0
	for _, w := range mix {
		total += w.Weight
	}
	out := make([]plannedOrder, n)
	for i := range out {
		r := rng.IntN(total)
		kind := mix[len(mix)-1].Kind
		for _, w := range mix {
			if r < w.Weight {
				kind = w.Kind
				break
			}
			r -= w.Weight
		}
		out[i] = plannedOrder{Index: i, Kind: kind, Body: orderBody(rng, kind)}
	}
	return out
}

// orderBody draws the request body of one order of kind.
func orderBody(rng *rand.Rand, kind orderKind) []byte {
	req := orderRequest{
		CustomerID:   fmt.Sprintf("load-c%03d", rng.IntN(200)),
		Currency:     "USD",
		PaymentToken: "tok_visa",
	}
	// 1 to 3 distinct SKUs of the catalog, 1 to 5 of each.
	perm := rng.Perm(len(loadSKUs))[:1+rng.IntN(3)]
	sort.Ints(perm)
	for _, p := range perm {
		req.Lines = append(req.Lines, order.LineRequest{SKU: loadSKUs[p].SKU, Quantity: int64(1 + rng.IntN(5))})
	}
	switch kind {
	case kindOutOfStock:
		// All lines or none: the available lines must not be reserved either.
		req.Lines = append(req.Lines, order.LineRequest{SKU: loadScarce.SKU, Quantity: loadScarce.Stock + int64(1+rng.IntN(5))})
	case kindDeclined:
		req.PaymentToken = payment.DeclineToken
	case kindUnknownSKU:
		req.Lines = append(req.Lines, order.LineRequest{SKU: fmt.Sprintf("LOAD-NOSUCH-%d", rng.IntN(1000)), Quantity: 1})
	case kindInvalid:
		return invalidBody(rng, req)
	}
	b, _ := json.Marshal(req) // plain strings and numbers: cannot fail
	return b
}

// invalidBody spoils a valid request in one of the ways a client gets wrong.
func invalidBody(rng *rand.Rand, req orderRequest) []byte {
	switch rng.IntN(5) {
	case 0:
		req.CustomerID = ""
	case 1:
		req.Lines[0].Quantity = 0
	case 2:
		req.Currency = "DOLLARS"
	case 3:
		// Clients may not set prices.
		b, _ := json.Marshal(map[string]any{
			"customerId": req.CustomerID, "currency": req.Currency, "paymentToken": req.PaymentToken,
			"lines": []map[string]any{{"sku": req.Lines[0].SKU, "quantity": 1, "unitPrice": 1}},
		})
		return b
	default:
		b, _ := json.Marshal(req)
		return b[:len(b)/2] // truncated JSON
	}
	b, _ := json.Marshal(req)
	return b
}
