package order_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/order"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func pending(t *testing.T) *order.Order {
	t.Helper()
	o, err := order.New("o-1", order.Request{
		CustomerID: "c-1", Currency: "USD", PaymentToken: "tok_visa",
		Lines: []order.Line{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 1}},
	}, "corr", t0)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestTransitions(t *testing.T) {
	all := []order.Status{order.StatusPending, order.StatusValidated, order.StatusReserved, order.StatusPaid,
		order.StatusConfirmed, order.StatusRejected, order.StatusCancelled}
	legal := map[[2]order.Status]bool{
		{order.StatusPending, order.StatusValidated}:   true,
		{order.StatusPending, order.StatusRejected}:    true,
		{order.StatusPending, order.StatusCancelled}:   true,
		{order.StatusValidated, order.StatusReserved}:  true,
		{order.StatusValidated, order.StatusRejected}:  true,
		{order.StatusValidated, order.StatusCancelled}: true,
		{order.StatusReserved, order.StatusPaid}:       true,
		{order.StatusReserved, order.StatusCancelled}:  true,
		{order.StatusPaid, order.StatusConfirmed}:      true,
		{order.StatusPaid, order.StatusCancelled}:      true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := order.CanTransition(from, to); got != legal[[2]order.Status{from, to}] {
				t.Errorf("CanTransition(%s, %s) = %v", from, to, got)
			}
		}
		if from.Terminal() {
			for _, to := range all {
				if order.CanTransition(from, to) {
					t.Errorf("terminal %s may move to %s", from, to)
				}
			}
		}
	}
}

func TestLifecycle(t *testing.T) {
	prices := map[string]int64{"A": 1250, "B": 999}
	cases := []struct {
		name       string
		run        func(o *order.Order) error
		wantStatus order.Status
		wantReason order.Reason
		wantErr    func(error) bool
	}{
		{"happy path", func(o *order.Order) error {
			return all(o.Price(prices, t0), o.MarkReserved(t0), o.MarkPaid(t0), o.Confirm(t0))
		}, order.StatusConfirmed, "", nil},
		{"unknown sku", func(o *order.Order) error { return o.Price(map[string]int64{"A": 1}, t0) },
			order.StatusPending, "", func(err error) bool {
				var e *order.UnknownSKUError
				return errors.As(err, &e) && len(e.SKUs) == 1 && e.SKUs[0] == "B"
			}},
		{"confirm before paid", func(o *order.Order) error { return o.Confirm(t0) },
			order.StatusPending, "", isIllegal},
		{"price twice", func(o *order.Order) error { return all(o.Price(prices, t0), o.Price(prices, t0)) },
			order.StatusValidated, "", isIllegal},
		{"reject after reserve", func(o *order.Order) error {
			return all(o.Price(prices, t0), o.MarkReserved(t0), o.Reject(order.ReasonUnknownSKU, t0))
		}, order.StatusReserved, "", isIllegal},
		{"cancel paid", func(o *order.Order) error {
			return all(o.Price(prices, t0), o.MarkReserved(t0), o.MarkPaid(t0), o.Cancel(order.ReasonPaymentDeclined, t0))
		}, order.StatusCancelled, order.ReasonPaymentDeclined, nil},
		{"cancel confirmed", func(o *order.Order) error {
			return all(o.Price(prices, t0), o.MarkReserved(t0), o.MarkPaid(t0), o.Confirm(t0), o.Cancel(order.ReasonOutOfStock, t0))
		}, order.StatusConfirmed, "", isIllegal},
		{"overflow", func(o *order.Order) error {
			return o.Price(map[string]int64{"A": math.MaxInt64 / 2, "B": math.MaxInt64 / 2}, t0)
		},
			order.StatusPending, "", func(err error) bool {
				var e *order.InvalidOrderError
				return errors.As(err, &e)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := pending(t)
			err := tc.run(o)
			if (err != nil) != (tc.wantErr != nil) || (err != nil && !tc.wantErr(err)) {
				t.Fatalf("err = %v", err)
			}
			if o.Status != tc.wantStatus || o.FailureReason != tc.wantReason {
				t.Fatalf("status %s/%s, want %s/%s", o.Status, o.FailureReason, tc.wantStatus, tc.wantReason)
			}
		})
	}
}

func TestPriceSetsTotalAndVersion(t *testing.T) {
	o := pending(t)
	if err := o.Price(map[string]int64{"A": 1250, "B": 999}, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if o.Total != 2*1250+999 || o.Lines[0].UnitPrice != 1250 || o.Lines[1].UnitPrice != 999 {
		t.Fatalf("total %d lines %+v", o.Total, o.Lines)
	}
	if o.Version != 2 || !o.UpdatedAt.Equal(t0.Add(time.Second)) || !o.CreatedAt.Equal(t0) {
		t.Fatalf("version %d updated %v created %v", o.Version, o.UpdatedAt, o.CreatedAt)
	}
}

func isIllegal(err error) bool {
	var e *order.IllegalTransitionError
	return errors.As(err, &e)
}

func all(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestDecodeRequest(t *testing.T) {
	long := strings.Repeat("x", order.MaxIDLength+1)
	manyLines := `[` + strings.TrimSuffix(strings.Repeat(`{"sku":"A","quantity":1},`, order.MaxLines+1), ",") + `]`
	cases := []struct {
		name      string
		body      string
		wantField string // "" means valid
	}{
		{"valid", `{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":2}],"paymentToken":"tok_visa"}`, ""},
		{"empty body", ``, "body"},
		{"not json", `hello`, "body"},
		{"array", `[]`, "body"},
		{"two objects", `{"customerId":"c"} {}`, "body"},
		{"truncated", `{"customerId":"c-1"`, "body"},
		{"unknown field", `{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":1}],"paymentToken":"t","x":1}`, "x"},
		{"client price", `{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":1,"unitPrice":1}],"paymentToken":"t"}`, "unitPrice"},
		{"quantity string", `{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":"1"}],"paymentToken":"t"}`, "lines.quantity"},
		{"quantity float", `{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":1.5}],"paymentToken":"t"}`, "lines.quantity"},
		{"quantity huge", `{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":99999999999999999999}],"paymentToken":"t"}`, "lines.quantity"},
		{"quantity zero", `{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":0}],"paymentToken":"t"}`, "lines[0].quantity"},
		{"quantity negative", `{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":-3}],"paymentToken":"t"}`, "lines[0].quantity"},
		{"quantity too big", `{"customerId":"c-1","currency":"USD","lines":[{"sku":"A","quantity":1001}],"paymentToken":"t"}`, "lines[0].quantity"},
		{"missing customer", `{"currency":"USD","lines":[{"sku":"A","quantity":1}],"paymentToken":"t"}`, "customerId"},
		{"customer too long", `{"customerId":"` + long + `","currency":"USD","lines":[{"sku":"A","quantity":1}],"paymentToken":"t"}`, "customerId"},
		{"customer unicode", `{"customerId":"cüstomer","currency":"USD","lines":[{"sku":"A","quantity":1}],"paymentToken":"t"}`, "customerId"},
		{"currency lower", `{"customerId":"c","currency":"usd","lines":[{"sku":"A","quantity":1}],"paymentToken":"t"}`, "currency"},
		{"currency unknown", `{"customerId":"c","currency":"XYZ","lines":[{"sku":"A","quantity":1}],"paymentToken":"t"}`, "currency"},
		{"no lines", `{"customerId":"c","currency":"USD","lines":[],"paymentToken":"t"}`, "lines"},
		{"too many lines", `{"customerId":"c","currency":"USD","lines":` + manyLines + `,"paymentToken":"t"}`, "lines"},
		{"duplicate sku", `{"customerId":"c","currency":"USD","lines":[{"sku":"A","quantity":1},{"sku":"A","quantity":2}],"paymentToken":"t"}`, "lines[1].sku"},
		{"empty sku", `{"customerId":"c","currency":"USD","lines":[{"sku":"","quantity":1}],"paymentToken":"t"}`, "lines[0].sku"},
		{"missing token", `{"customerId":"c","currency":"USD","lines":[{"sku":"A","quantity":1}]}`, "paymentToken"},
		{"token control char", `{"customerId":"c","currency":"USD","lines":[{"sku":"A","quantity":1}],"paymentToken":"a\u0000b"}`, "paymentToken"},
		{"lines object", `{"customerId":"c","currency":"USD","lines":{},"paymentToken":"t"}`, "lines"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := order.DecodeRequest([]byte(tc.body))
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if req.CustomerID != "c-1" || len(req.Lines) != 1 || req.Lines[0].Quantity != 2 {
					t.Fatalf("decoded %+v", req)
				}
				return
			}
			var ve *order.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			for _, f := range ve.Fields {
				if f.Field == tc.wantField && f.Issue != "" {
					return
				}
			}
			t.Fatalf("fields %+v do not name %q", ve.Fields, tc.wantField)
		})
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 1000; i++ {
		id := order.NewID(t0.Add(time.Duration(i) * time.Millisecond))
		if !order.ValidID(id) || id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Fatalf("%q is not a UUIDv7", id)
		}
		if seen[id] || id <= prev {
			t.Fatalf("%q repeats or does not sort after %q", id, prev)
		}
		seen[id], prev = true, id
	}
	for _, bad := range []string{"", "0190", strings.Repeat("g", 36), "0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaA"} {
		if order.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestParseReason(t *testing.T) {
	if r, err := order.ParseReason("OUT_OF_STOCK"); err != nil || r != order.ReasonOutOfStock {
		t.Fatalf("ParseReason = %q, %v", r, err)
	}
	if _, err := order.ParseReason("BORED"); err == nil {
		t.Fatal("unknown reason accepted")
	}
}

func TestClaim(t *testing.T) {
	tests := []struct {
		name      string
		owner     string // stored ExecutionID
		execution string
		wantOwner string
		wantErr   bool
	}{
		{name: "unowned order is claimed", execution: "exec-a", wantOwner: "exec-a"},
		{name: "owner claims again", owner: "exec-a", execution: "exec-a", wantOwner: "exec-a"},
		{name: "another execution is refused", owner: "exec-a", execution: "exec-b", wantOwner: "exec-a", wantErr: true},
		{name: "no execution claims nothing", owner: "exec-a", wantOwner: "exec-a"},
		{name: "no execution on an unowned order", wantOwner: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := pending(t)
			o.ExecutionID = tt.owner
			err := o.Claim(tt.execution)
			var ape *order.AlreadyProcessingError
			if got := errors.As(err, &ape); got != tt.wantErr {
				t.Fatalf("Claim(%q) = %v, want AlreadyProcessingError %v", tt.execution, err, tt.wantErr)
			}
			if tt.wantErr && (ape.Owner != tt.owner || ape.Execution != tt.execution || ape.OrderID != o.ID) {
				t.Errorf("error = %+v", ape)
			}
			if o.ExecutionID != tt.wantOwner {
				t.Errorf("ExecutionID = %q, want %q", o.ExecutionID, tt.wantOwner)
			}
			if cerr := o.CheckOwner(tt.execution); (cerr != nil) != tt.wantErr {
				t.Errorf("CheckOwner(%q) = %v", tt.execution, cerr)
			}
		})
	}
}

func TestExecutionIDIsNotSerialised(t *testing.T) {
	o := pending(t)
	o.ExecutionID = "arn:aws:states:us-east-1:123456789012:execution:sm:exec-secret"
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "exec-secret") {
		t.Errorf("order JSON carries the execution id: %s", b)
	}
}

// A customer's own request: the body's customerId may be left out or repeat the
// caller's; another customer's id is refused, and the caller's id is validated.
func TestDecodeRequestAs(t *testing.T) {
	const lines = `"currency":"USD","lines":[{"sku":"A","quantity":2}],"paymentToken":"tok"`
	cases := []struct {
		name, body, caller string
		wantErr            error
		wantField          string
	}{
		{"customer left out", `{` + lines + `}`, "c-1", nil, ""},
		{"same customer", `{"customerId":"c-1",` + lines + `}`, "c-1", nil, ""},
		{"another customer", `{"customerId":"c-2",` + lines + `}`, "c-1", order.ErrCustomerMismatch, ""},
		{"caller id invalid", `{` + lines + `}`, "auth0|123", nil, "customerId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := order.DecodeRequestAs([]byte(tc.body), tc.caller)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case tc.wantField != "":
				var ve *order.ValidationError
				if !errors.As(err, &ve) || ve.Fields[0].Field != tc.wantField {
					t.Fatalf("err = %v, want a validation error on %s", err, tc.wantField)
				}
			case err != nil || req.CustomerID != tc.caller:
				t.Fatalf("got %+v, %v; want the caller's order", req, err)
			}
		})
	}
	if order.ValidCustomerID("auth0|123") || !order.ValidCustomerID("c-1") {
		t.Error("ValidCustomerID disagrees with Normalize")
	}
}

func TestTerminalStatuses(t *testing.T) {
	all := []order.Status{order.StatusPending, order.StatusValidated, order.StatusReserved, order.StatusPaid,
		order.StatusConfirmed, order.StatusRejected, order.StatusCancelled}
	terminal := map[order.Status]bool{}
	for _, s := range order.TerminalStatuses() {
		terminal[s] = true
	}
	for _, s := range all {
		if s.Terminal() != terminal[s] {
			t.Errorf("%s: Terminal() = %v, in TerminalStatuses: %v", s, s.Terminal(), terminal[s])
		}
	}
}
