package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/payment"
)

// fakeAPI mimics the ingest API (docs/CONTRACTS.md): POST /orders answers 202 with the
// PENDING order (400 VALIDATION_FAILED for a bad body, the first answer again for a
// reused Idempotency-Key), GET /orders/{id} answers 200 with the order or 404 NOT_FOUND.
// Each order reaches the terminal status the real saga would give it after PendingGets
// GETs.
type fakeAPI struct {
	// PendingGets is how many GETs see an order PENDING before its final status.
	PendingGets int
	// Outcome overrides the final status of an order; nil for the saga's rules.
	Outcome func(req order.Request) (order.Status, order.Reason)
	// Unavailable503 makes the first POST of every key answer 503.
	Unavailable503 bool

	mu     sync.Mutex
	orders map[string]*fakeOrder
	keys   map[string][]byte
	posts  map[string]int
	n      int
}

type fakeOrder struct {
	o     order.Order
	final order.Status
	why   order.Reason
	gets  int
}

func (f *fakeAPI) outcome(req order.Request) (order.Status, order.Reason) {
	if f.Outcome != nil {
		return f.Outcome(req)
	}
	for _, l := range req.Lines {
		switch {
		case strings.HasPrefix(l.SKU, "LOAD-NOSUCH"):
			return order.StatusRejected, order.ReasonUnknownSKU
		case l.SKU == loadScarce.SKU:
			return order.StatusCancelled, order.ReasonOutOfStock
		}
	}
	if req.PaymentToken == payment.DeclineToken {
		return order.StatusCancelled, order.ReasonPaymentDeclined
	}
	return order.StatusConfirmed, ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.orders == nil {
		f.orders, f.keys, f.posts = map[string]*fakeOrder{}, map[string][]byte{}, map[string]int{}
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/orders":
		if r.Header.Get("Content-Type") != "application/json" {
			apiErr(w, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
			return
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(r.Body)
		key := r.Header.Get("Idempotency-Key")
		if key != "" {
			f.posts[key]++
			if f.Unavailable503 && f.posts[key] == 1 {
				apiErr(w, 503, "UNAVAILABLE", "try again")
				return
			}
			if prev, ok := f.keys[key]; ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(202)
				_, _ = w.Write(prev)
				return
			}
		}
		req, err := order.DecodeRequest(body.Bytes())
		if err != nil {
			apiErr(w, 400, "VALIDATION_FAILED", "the order request is invalid")
			return
		}
		f.n++
		now := time.Now().UTC()
		o, err := order.New(order.NewID(now), req, "", now)
		if err != nil {
			apiErr(w, 400, "VALIDATION_FAILED", err.Error())
			return
		}
		final, why := f.outcome(req)
		f.orders[o.ID] = &fakeOrder{o: *o, final: final, why: why}
		b, _ := json.Marshal(o)
		if key != "" {
			f.keys[key] = b
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(202)
		_, _ = w.Write(b)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/orders/"):
		fo, ok := f.orders[strings.TrimPrefix(r.URL.Path, "/orders/")]
		if !ok {
			apiErr(w, 404, "NOT_FOUND", "no such order")
			return
		}
		fo.gets++
		o := fo.o
		if fo.gets > f.PendingGets {
			o.Status, o.FailureReason = fo.final, fo.why
		}
		writeJSON(w, 200, o)
	default:
		apiErr(w, 404, "ROUTE_NOT_FOUND", "no route")
	}
}

func (f *fakeAPI) created() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func TestOrdersCreateAndGet(t *testing.T) {
	fake := &fakeAPI{PendingGets: 2}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "order.json")
	if err := os.WriteFile(file, []byte(`{"customerId":"c9","currency":"USD","lines":[{"sku":"A","quantity":1}],"paymentToken":"tok_decline"}`), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		wantExit   int
		wantOut    []string
		wantErrOut []string
	}{
		{name: "from flags", args: []string{"orders", "create", "--customer", "c1", "--sku", "A:2", "--sku", "B:1"},
			wantOut: []string{`"status": "PENDING"`, `"customerId": "c1"`, `"sku": "B"`}},
		{name: "from file and wait", args: []string{"orders", "create", "--file", file, "--wait"},
			wantOut: []string{`"status": "CANCELLED"`, `"failureReason": "PAYMENT_DECLINED"`}, wantErrOut: []string{"waiting for a terminal status"}},
		{name: "api refuses", args: []string{"orders", "create", "--customer", "c1", "--sku", "A:2", "--currency", "XX"},
			wantExit: ExitError, wantErrOut: []string{"HTTP 400 VALIDATION_FAILED"}},
		{name: "get unknown", args: []string{"orders", "get", "0190a1b2-0000-7000-8000-000000000000"},
			wantExit: ExitError, wantErrOut: []string{"HTTP 404 NOT_FOUND"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append(tt.args, "--api", srv.URL)
			if got := run(context.Background(), args, &out, &errOut, noEnv); got != tt.wantExit {
				t.Fatalf("exit = %d, want %d; stderr: %s", got, tt.wantExit, errOut.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantErrOut {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
				}
			}
		})
	}

	t.Run("get after create", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if got := run(context.Background(), []string{"orders", "create", "--api", srv.URL, "--customer", "c2", "--sku", "A:1", "--idempotency-key", "k-1"}, &out, &errOut, noEnv); got != 0 {
			t.Fatalf("create exit %d: %s", got, errOut.String())
		}
		var o order.Order
		if err := json.Unmarshal(out.Bytes(), &o); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		if got := run(context.Background(), []string{"orders", "get", o.ID, "--api", srv.URL}, &out, &errOut, noEnv); got != 0 {
			t.Fatalf("get exit %d: %s", got, errOut.String())
		}
		if !strings.Contains(out.String(), o.ID) {
			t.Errorf("get printed %s", out.String())
		}
	})
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		fake     *fakeAPI
		wantExit int
		wantOut  []string
	}{
		{name: "every order ends as its kind must", fake: &fakeAPI{PendingGets: 1}, wantExit: ExitOK,
			wantOut: []string{"orders      120 in", "expected    all 120 orders", "CONFIRMED ", "CANCELLED/OUT_OF_STOCK", "HTTP 400", "p99 "}},
		{name: "503s are retried with the same key", fake: &fakeAPI{Unavailable503: true}, wantExit: ExitOK,
			wantOut: []string{"expected    all 120 orders"}},
		{name: "a broken system is reported", fake: &fakeAPI{Outcome: func(order.Request) (order.Status, order.Reason) {
			return order.StatusCancelled, order.ReasonProcessingFailed
		}}, wantExit: ExitError, wantOut: []string{"unexpected  ", "valid→CANCELLED/PROCESSING_FAILED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.fake)
			defer srv.Close()
			svg := filepath.Join(t.TempDir(), "h.svg")
			var out, errOut bytes.Buffer
			args := []string{"load", "--api", srv.URL, "--no-catalog", "--orders", "120", "--concurrency", "6", "--seed", "3", "--poll", "1ms", "--histogram", svg}
			if got := run(context.Background(), args, &out, &errOut, noEnv); got != tt.wantExit {
				t.Fatalf("exit = %d, want %d\nstdout: %s\nstderr: %s", got, tt.wantExit, out.String(), errOut.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			doc, err := os.ReadFile(svg)
			if err != nil {
				t.Fatal(err)
			}
			if checkXML(t, doc)["svg"] != 1 {
				t.Error("histogram is not an svg document")
			}
			valid := 0
			for _, p := range planOrders(120, 3, namedMixes["default"]) {
				if p.Kind != kindInvalid {
					valid++
				}
			}
			if got := tt.fake.created(); got != valid {
				t.Errorf("the API created %d orders, want %d (one per well-formed request)", got, valid)
			}
		})
	}
}

func TestWaitTerminalTimeout(t *testing.T) {
	fake := &fakeAPI{PendingGets: 1 << 30}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := &apiClient{base: srv.URL, http: srv.Client()}
	resp, err := c.createOrder(context.Background(), []byte(`{"customerId":"c","currency":"USD","lines":[{"sku":"A","quantity":1}],"paymentToken":"t"}`), "")
	if err != nil || resp.Status != 202 {
		t.Fatalf("create: %v %d", err, resp.Status)
	}
	var o order.Order
	_ = json.Unmarshal(resp.Body, &o)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	last, err := waitTerminal(ctx, c, o.ID, time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), errNotTerminal.Error()) || last == nil || last.Status != order.StatusPending {
		t.Errorf("got %v, %v", last, err)
	}
}
