package payment_test

import (
	"errors"
	"testing"

	"github.com/orderflow/orderflow/pkg/payment"
)

func TestAuthorize(t *testing.T) {
	cases := []struct {
		name     string
		limit    int64
		token    string
		total    int64
		declined bool
	}{
		{"authorized", 0, "tok_visa", 1000, false},
		{"decline token", 0, payment.DeclineToken, 1, true},
		{"at default limit", 0, "tok_visa", payment.DefaultLimit, false},
		{"above default limit", 0, "tok_visa", payment.DefaultLimit + 1, true},
		{"custom limit", 500, "tok_visa", 501, true},
		{"under custom limit", 500, "tok_visa", 500, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := payment.Gateway{Limit: tc.limit}.Authorize("o-1", tc.token, tc.total)
			var d *payment.PaymentDeclinedError
			if got := errors.As(err, &d); got != tc.declined || (err != nil && !got) {
				t.Fatalf("err = %v, want declined=%v", err, tc.declined)
			}
		})
	}
}
