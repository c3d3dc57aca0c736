package order_test

import (
	"math"
	"testing"

	"github.com/orderflow/orderflow/pkg/order"
)

func TestAmount(t *testing.T) {
	tests := []struct {
		minor    int64
		currency string
		want     string
	}{
		{2500, "USD", "25.00"},
		{5, "EUR", "0.05"},
		{0, "GBP", "0.00"},
		{2500, "JPY", "2500"},
		{0, "KRW", "0"},
		{1500, "KWD", "1.500"},
		{7, "BHD", "0.007"},
		{-150, "USD", "-1.50"},
		{-5, "USD", "-0.05"},
		{123456789, "XXX", "1234567.89"},
		{100, "", "1.00"},
		{math.MaxInt64, "USD", "92233720368547758.07"},
		{math.MinInt64, "USD", "-92233720368547758.08"},
		{math.MinInt64, "JPY", "-9223372036854775808"},
	}
	for _, tt := range tests {
		t.Run(tt.want+" "+tt.currency, func(t *testing.T) {
			if got := order.Amount(tt.minor, tt.currency); got != tt.want {
				t.Errorf("Amount(%d, %q) = %q, want %q", tt.minor, tt.currency, got, tt.want)
			}
		})
	}
}
