// Package inventory is the catalog and stock domain: a SKU has a price and a stock, and a
// reservation takes stock for every line of an order or for none. It has no AWS dependency.
package inventory

import (
	"errors"
	"fmt"
	"strings"
)

// Item is one SKU in the catalog. Price is in minor units of Currency; Name, for people,
// is optional.
type Item struct {
	SKU      string `json:"sku"`
	Name     string `json:"name,omitempty"`
	Price    int64  `json:"price"`
	Currency string `json:"currency"`
	Stock    int64  `json:"stock"`
}

// MaxReserveLines is the most lines one reservation can hold: DynamoDB transactions take
// 100 items, one of which is the reservation record. Every store keeps to it, so that the
// fakes refuse what the table refuses.
const MaxReserveLines = 99

// Line is a quantity of one SKU to reserve or release.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// ReservationState is the state of an order's reservation.
type ReservationState string

// Reservation states: a reservation is made once and released at most once. Pending
// and Releasing are the in-between states of a store that takes and gives back stock
// line by line (dynamo.ConditionalInventoryStore); a crash leaves them, and the next
// reserve or release of the order finishes the job.
const (
	Reserved  ReservationState = "RESERVED"
	Released  ReservationState = "RELEASED"
	Pending   ReservationState = "PENDING"
	Releasing ReservationState = "RELEASING"
	// Short is the conditional store's record of a reserve that found a line short and
	// gave back what it took: a redelivered reserve answers out of stock again, takes
	// nothing; a release has nothing to give back. Its lines are the short ones.
	Short ReservationState = "SHORT"
)

// ErrUnknownSKU is returned when a SKU is not in the catalog.
var ErrUnknownSKU = errors.New("unknown sku")

// ErrNoReservation is returned when a release names an order that never reserved stock.
var ErrNoReservation = errors.New("no reservation for order")

// OutOfStockError is returned when at least one line cannot be reserved. Nothing is
// reserved then. The state machine cancels the order (OUT_OF_STOCK) on this error.
type OutOfStockError struct {
	OrderID string
	SKUs    []string
}

func (e *OutOfStockError) Error() string {
	return fmt.Sprintf("order %s: out of stock: %s", e.OrderID, strings.Join(e.SKUs, ", "))
}

// ErrorName is the error name sent to Step Functions with SendTaskFailure.
const ErrorName = "OutOfStock"

// Reserve checks that stock covers every line and returns the stock left per SKU. It
// returns *OutOfStockError naming every short SKU, and changes nothing, when one is short.
// Stores apply the same rule atomically; this is the rule they apply.
func Reserve(orderID string, stock map[string]int64, lines []Line) (map[string]int64, error) {
	left := make(map[string]int64, len(lines))
	var short []string
	for _, l := range lines {
		have, ok := stock[l.SKU]
		if !ok {
			have = 0
		}
		if have < l.Quantity {
			short = append(short, l.SKU)
			continue
		}
		left[l.SKU] = have - l.Quantity
	}
	if len(short) > 0 {
		return nil, &OutOfStockError{OrderID: orderID, SKUs: short}
	}
	return left, nil
}

// Validate checks lines for a reserve or release: at least one line, positive quantities
// and no duplicate SKU (a transaction may touch an item only once).
func Validate(lines []Line) error {
	if len(lines) == 0 {
		return errors.New("no lines")
	}
	seen := make(map[string]bool, len(lines))
	for i, l := range lines {
		switch {
		case l.SKU == "":
			return fmt.Errorf("lines[%d]: empty sku", i)
		case l.Quantity <= 0:
			return fmt.Errorf("lines[%d]: quantity must be positive", i)
		case seen[l.SKU]:
			return fmt.Errorf("lines[%d]: duplicate sku %s", i, l.SKU)
		}
		seen[l.SKU] = true
	}
	return nil
}
