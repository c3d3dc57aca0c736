package order_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/orderflow/orderflow/pkg/order"
)

// FuzzDecodeRequest feeds arbitrary bodies to DecodeRequest. Whatever the input, it must
// not panic, and it either returns a request that is valid by every documented limit
// (and decodes to itself again once re-encoded), or a *ValidationError naming at least
// one field, each with an issue. Seeds: f.Add below and testdata/fuzz/FuzzDecodeRequest.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"customerId":"c-1","currency":"USD","lines":[{"sku":"SKU-MUG-001","quantity":2}],"paymentToken":"tok_visa"}`,
		``,
		`{}`,
		`null`,
		`[]`,
		`{"customerId":1}`,
		`{"customerId":"c-1","currency":"usd","lines":[{"sku":"A","quantity":-1}],"paymentToken":"t"}`,
		`{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":1e400}],"paymentToken":"t"}`,
		`{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":1.5}],"paymentToken":"t"}`,
		`{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":1},{"sku":"A","quantity":1}],"paymentToken":"t"}`,
		`{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":1,"unitPrice":1}],"paymentToken":"t"}`,
		`{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":1}],"paymentToken":"t"} {}`,
		`{"customerId":"ü","currency":"USD","lines":[{"sku":"\u0000","quantity":1}],"paymentToken":"\u2028"}`,
		`{"customerId":"c-1","CUSTOMERID":"c-2","currency":" USD ","lines":[{"sku":"A","quantity":1}],"paymentToken":"t"}`,
		"{\"customerId\":\"c-1\xff\"}",
		`{"lines":{"sku":"A"}}`,
		`{"lines":[null]}`,
		`{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":9223372036854775808}],"paymentToken":"t"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := order.DecodeRequest(body)
		if err != nil {
			checkRejection(t, err)
			return
		}
		checkValid(t, req)
		// What was accepted is stable: encoded again, it decodes to the same request.
		again, err := order.DecodeRequest(encode(t, req))
		if err != nil {
			t.Fatalf("accepted request %+v is rejected once re-encoded: %v", req, err)
		}
		if !equal(req, again) {
			t.Fatalf("round trip changed the request: %+v -> %+v", req, again)
		}
	})
}

// checkRejection asserts err is a *ValidationError that names each problem.
func checkRejection(t *testing.T, err error) {
	t.Helper()
	var v *order.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("error %T (%v) is not a *order.ValidationError", err, err)
	}
	if len(v.Fields) == 0 {
		t.Fatalf("ValidationError with no field: %v", err)
	}
	for _, fi := range v.Fields {
		if fi.Field == "" || fi.Issue == "" {
			t.Fatalf("field issue without a field or an issue: %+v", fi)
		}
	}
	if v.Error() == "" {
		t.Fatal("empty error text")
	}
}

// checkValid asserts every documented limit (README "Limits") on an accepted request.
func checkValid(t *testing.T, r order.Request) {
	t.Helper()
	checkIdentifier(t, "customerId", r.CustomerID)
	if !order.IsCurrency(r.Currency) {
		t.Fatalf("accepted currency %q", r.Currency)
	}
	if len(r.Lines) < 1 || len(r.Lines) > order.MaxLines {
		t.Fatalf("accepted %d lines", len(r.Lines))
	}
	seen := map[string]bool{}
	for _, l := range r.Lines {
		checkIdentifier(t, "sku", l.SKU)
		if seen[l.SKU] {
			t.Fatalf("accepted duplicate sku %q", l.SKU)
		}
		seen[l.SKU] = true
		if l.Quantity < 1 || l.Quantity > order.MaxQuantity {
			t.Fatalf("accepted quantity %d", l.Quantity)
		}
		if l.UnitPrice != 0 {
			t.Fatalf("accepted a client unit price %d", l.UnitPrice)
		}
	}
	if r.PaymentToken == "" || len(r.PaymentToken) > order.MaxTokenLength || !utf8.ValidString(r.PaymentToken) {
		t.Fatalf("accepted payment token %q", r.PaymentToken)
	}
}

func checkIdentifier(t *testing.T, field, s string) {
	t.Helper()
	if s == "" || len(s) > order.MaxIDLength {
		t.Fatalf("accepted %s of %d bytes", field, len(s))
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:@", c)) {
			t.Fatalf("accepted %s %q with character %q", field, s, c)
		}
	}
}

// encode writes r in the wire form clients send (sku and quantity only).
func encode(t *testing.T, r order.Request) []byte {
	t.Helper()
	type line struct {
		SKU      string `json:"sku"`
		Quantity int64  `json:"quantity"`
	}
	w := struct {
		CustomerID   string `json:"customerId"`
		Currency     string `json:"currency"`
		Lines        []line `json:"lines"`
		PaymentToken string `json:"paymentToken"`
	}{CustomerID: r.CustomerID, Currency: r.Currency, PaymentToken: r.PaymentToken}
	for _, l := range r.Lines {
		w.Lines = append(w.Lines, line{SKU: l.SKU, Quantity: l.Quantity})
	}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equal(a, b order.Request) bool {
	if a.CustomerID != b.CustomerID || a.Currency != b.Currency || a.PaymentToken != b.PaymentToken || len(a.Lines) != len(b.Lines) {
		return false
	}
	for i := range a.Lines {
		if a.Lines[i] != b.Lines[i] {
			return false
		}
	}
	return true
}

// Inputs the fuzzer found: each rejection must name a field (regression tests).
func TestDecodeRequestRejectionsNameAField(t *testing.T) {
	cases := []struct {
		name, body, field string
	}{
		{name: "member with an empty name", body: `{"":0}`, field: "body"},
		{name: "unknown member", body: `{"x":0}`, field: "x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := order.DecodeRequest([]byte(tc.body))
			var v *order.ValidationError
			if !errors.As(err, &v) || len(v.Fields) != 1 || v.Fields[0].Field != tc.field {
				t.Fatalf("DecodeRequest(%s) = %v, want one issue on %q", tc.body, err, tc.field)
			}
		})
	}
}
