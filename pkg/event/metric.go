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

// MinuteMetrics are the counters of one minute: orders counted by status and revenue
// (minor units) summed by currency. A minute in which nothing happened has empty maps.
type MinuteMetrics struct {
	Count   map[string]int64
	Revenue map[string]int64
}

// NewMinuteMetrics returns the counters of a minute in which nothing happened.
func NewMinuteMetrics() MinuteMetrics {
	return MinuteMetrics{Count: map[string]int64{}, Revenue: map[string]int64{}}
}

// Add adds d to m: one to the count of d.Status and d.Revenue, when positive, to the
// revenue of d.Currency.
func (m MinuteMetrics) Add(d MetricDelta) {
	m.Count[d.Status]++
	if d.Revenue > 0 {
		m.Revenue[d.Currency] += d.Revenue
	}
}
