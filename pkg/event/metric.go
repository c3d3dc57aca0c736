package event

import (
	"errors"
	"time"
)

// MetricDelta is what one order event adds to the metrics of its minute: one
// to the count of Status and, when Revenue is positive, Revenue (minor units)
// to the revenue of Currency.
type MetricDelta struct {
	Minute   time.Time
	Status   string
	Currency string
	Revenue  int64
}

// Validate returns an error when d cannot be applied: no status, a negative
// revenue, or revenue without a currency.
func (d MetricDelta) Validate() error {
	switch {
	case d.Status == "":
		return errors.New("metric delta: empty status")
	case d.Revenue < 0:
		return errors.New("metric delta: negative revenue")
	case d.Revenue > 0 && d.Currency == "":
		return errors.New("metric delta: revenue without currency")
	}
	return nil
}
