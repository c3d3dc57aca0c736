package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/cli"
	"github.com/orderflow/orderflow/pkg/order"
)

// orderRow is one order as the orders list shows it.
type orderRow struct {
	ID         string    `json:"id"`
	Customer   string    `json:"customer"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	Total      string    `json:"total"`
	Lines      int       `json:"lines"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	AgeSeconds float64   `json:"ageSeconds"`
}

func rowOf(o *order.Order, now time.Time) orderRow {
	return orderRow{ID: o.ID, Customer: o.CustomerID, Status: string(o.Status), Reason: string(o.FailureReason),
		Total: cli.FormatMoney(o.Total, o.Currency), Lines: len(o.Lines), CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		AgeSeconds: now.Sub(o.CreatedAt).Seconds()}
}

// listLimit is how many orders the list shows.
const listLimit = 100

// apiOrders lists the latest orders (newest first), filtered by ?status=, or those that
// ?q= names: an order id, else a customer id (the customer-index GSI).
func (c *Console) apiOrders(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	status := strings.ToUpper(strings.TrimSpace(r.URL.Query().Get("status")))
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	now := time.Now()
	var found []*order.Order
	counts := map[string]int{}
	total := 0
	if q == "" {
		s := c.snapshot(ctx)
		found, counts, total = s.latest, s.Orders, s.OrderTotal
	} else {
		o, err := c.orders.Get(ctx, q)
		switch {
		case err == nil:
			found = append(found, o)
		case !errors.Is(err, order.ErrNotFound):
			writeError(w, http.StatusBadGateway, "READ_FAILED", err.Error())
			return
		}
		byCustomer, err := c.orders.ListByCustomer(ctx, q, listLimit)
		if err != nil {
			writeError(w, http.StatusBadGateway, "READ_FAILED", err.Error())
			return
		}
		found = append(found, byCustomer...)
		for _, o := range found {
			counts[string(o.Status)]++
		}
		total = len(found)
	}
	rows := []orderRow{}
	for _, o := range found {
		if status != "" && string(o.Status) != status {
			continue
		}
		if len(rows) == listLimit {
			break
		}
		rows = append(rows, rowOf(o, now))
	}
	writeJSON(w, map[string]any{"orders": rows, "counts": counts, "total": total})
}
