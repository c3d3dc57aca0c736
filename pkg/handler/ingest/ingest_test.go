package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/handler/ingest"
	"github.com/orderflow/orderflow/pkg/idempotency"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/metrics"
	"github.com/orderflow/orderflow/pkg/order"
)

const validBody = `{"customerId":"cust-1","currency":"USD","lines":[{"sku":"SKU-1","quantity":2}],"paymentToken":"tok_secret_visa"}`

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newHandler(w *world, logs *bytes.Buffer) *ingest.Handler {
	n := 0
	if logs == nil {
		logs = &bytes.Buffer{}
	}
	return &ingest.Handler{
		Orders: &w.fakeOrders,
		Intake: &w.fakeIntake,
		NewID: func(time.Time) string {
			n++
			return fmt.Sprintf("01956a1e-9c00-7abc-8def-%012d", n)
		},
		Now: func() time.Time { return t0 },
		Log: slog.New(logging.NewHandler(logs, slog.LevelDebug)),
	}
}

func post(body string, headers ...string) events.APIGatewayV2HTTPRequest {
	h := map[string]string{"content-type": "application/json"}
	for i := 0; i+1 < len(headers); i += 2 {
		delete(h, strings.ToLower(headers[i])) // one header per name, as API Gateway sends
		if headers[i+1] == "<absent>" {
			continue
		}
		h[headers[i]] = headers[i+1]
	}
	req := events.APIGatewayV2HTTPRequest{RouteKey: "POST /orders", RawPath: "/orders", Headers: h, Body: body}
	req.RequestContext.HTTP.Method = "POST"
	return req
}

func getReq(id string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{RouteKey: "GET /orders/{orderId}", RawPath: "/orders/" + id,
		PathParameters: map[string]string{"orderId": id}}
	req.RequestContext.HTTP.Method = "GET"
	return req
}

type apiError struct {
	Error struct {
		Code    string             `json:"code"`
		Message string             `json:"message"`
		Details []order.FieldIssue `json:"details"`
	} `json:"error"`
}

// decodeError checks the error envelope and returns it.
func decodeError(t *testing.T, resp events.APIGatewayV2HTTPResponse) apiError {
	t.Helper()
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var e apiError
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body %s: %v", resp.Body, err)
	}
	return e
}

func handle(t *testing.T, h *ingest.Handler, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := h.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle returned error %v; it must always answer with a response", err)
	}
	return resp
}

func TestCreateOrder(t *testing.T) {
	tests := []struct {
		name            string
		req             events.APIGatewayV2HTTPRequest
		wantCorrelation string
	}{
		{"plain", post(validBody), "01956a1e-9c00-7abc-8def-000000000001"},
		{"correlation id from header", post(validBody, "X-Correlation-Id", "trace-42"), "trace-42"},
		{"invalid correlation id replaced by the order id", post(validBody, "x-correlation-id", "bad id\n"), "01956a1e-9c00-7abc-8def-000000000001"},
		{"charset utf-8", post(validBody, "content-type", "application/json; charset=UTF-8"), "01956a1e-9c00-7abc-8def-000000000001"},
		{"base64 body", func() events.APIGatewayV2HTTPRequest {
			r := post(base64.StdEncoding.EncodeToString([]byte(validBody)))
			r.IsBase64Encoded = true
			return r
		}(), "01956a1e-9c00-7abc-8def-000000000001"},
		{"default route with raw path", func() events.APIGatewayV2HTTPRequest {
			r := post(validBody)
			r.RouteKey = "$default"
			return r
		}(), "01956a1e-9c00-7abc-8def-000000000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			var logs bytes.Buffer
			resp := handle(t, newHandler(w, &logs), tt.req)
			if resp.StatusCode != 202 {
				t.Fatalf("status %d body %s", resp.StatusCode, resp.Body)
			}
			const id = "01956a1e-9c00-7abc-8def-000000000001"
			if resp.Headers["Location"] != "/orders/"+id || resp.Headers["Content-Type"] != "application/json" {
				t.Errorf("headers %v", resp.Headers)
			}
			var got order.Order
			if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
				t.Fatal(err)
			}
			if got.ID != id || got.Status != order.StatusPending || got.CustomerID != "cust-1" ||
				got.CorrelationID != tt.wantCorrelation || !got.CreatedAt.Equal(t0) {
				t.Errorf("order %+v", got)
			}
			if strings.Contains(resp.Body, "tok_secret") || strings.Contains(logs.String(), "tok_secret") {
				t.Error("payment token leaked into the response or the logs")
			}
			if !strings.Contains(logs.String(), `"orderId":"`+id+`"`) {
				t.Errorf("logs lack the orderId: %s", logs.String())
			}
			stored := w.orders[id]
			if stored == nil || stored.PaymentToken != "tok_secret_visa" || stored.Status != order.StatusPending ||
				stored.CorrelationID != tt.wantCorrelation || stored.IdempotencyKey != "" {
				t.Fatalf("stored %+v", stored)
			}
			if w.accepts != 1 {
				t.Errorf("%d writes, want 1", w.accepts)
			}
		})
	}
}

func TestCreateOrderCountsAcceptedOrders(t *testing.T) {
	w := newWorld()
	h := newHandler(w, nil)
	var emf bytes.Buffer
	h.Metrics = metrics.New(&emf, metrics.DefaultNamespace, map[string]string{"service": "orderflow"})
	handle(t, h, post(validBody, "Idempotency-Key", "k1"))
	handle(t, h, post(validBody, "Idempotency-Key", "k1")) // replay: not a new order
	handle(t, h, post("{}"))                               // invalid: not accepted
	lines := strings.Split(strings.TrimSpace(emf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"OrdersAccepted":1`) || !strings.Contains(lines[0], `"_aws"`) {
		t.Fatalf("EMF output %q, want one OrdersAccepted record", emf.String())
	}
}

func TestBadRequests(t *testing.T) {
	line := func(i int) string { return fmt.Sprintf(`{"sku":"S%d","quantity":1}`, i) }
	manyLines := make([]string, order.MaxLines+1)
	for i := range manyLines {
		manyLines[i] = line(i)
	}
	body := func(lines string) string {
		return `{"customerId":"c1","currency":"USD","lines":[` + lines + `],"paymentToken":"tok"}`
	}
	base64Req := func(s string) events.APIGatewayV2HTTPRequest {
		r := post(s)
		r.IsBase64Encoded = true
		return r
	}
	withMethod := func(r events.APIGatewayV2HTTPRequest, routeKey, method, path string) events.APIGatewayV2HTTPRequest {
		r.RouteKey, r.RawPath = routeKey, path
		r.RequestContext.HTTP.Method = method
		return r
	}
	tests := []struct {
		name       string
		req        events.APIGatewayV2HTTPRequest
		wantStatus int
		wantCode   string
		wantField  string // a field named in details, if any
		wantAllow  string
	}{
		{"empty body", post(""), 400, "VALIDATION_FAILED", "body", ""},
		{"not JSON", post("customerId=c1"), 400, "VALIDATION_FAILED", "body", ""},
		{"JSON array", post("[1,2]"), 400, "VALIDATION_FAILED", "body", ""},
		{"two JSON objects", post(validBody + validBody), 400, "VALIDATION_FAILED", "body", ""},
		{"truncated JSON", post(validBody[:40]), 400, "VALIDATION_FAILED", "body", ""},
		{"wrong type quantity", post(body(`{"sku":"S1","quantity":"2"}`)), 400, "VALIDATION_FAILED", "lines.quantity", ""},
		{"wrong type lines", post(`{"customerId":"c1","currency":"USD","lines":{},"paymentToken":"t"}`), 400, "VALIDATION_FAILED", "lines", ""},
		{"unknown field", post(`{"customerId":"c1","currency":"USD","lines":[],"paymentToken":"t","discount":50}`), 400, "VALIDATION_FAILED", "discount", ""},
		{"client sends a price", post(body(`{"sku":"S1","quantity":1,"unitPrice":1}`)), 400, "VALIDATION_FAILED", "unitPrice", ""},
		{"zero quantity", post(body(`{"sku":"S1","quantity":0}`)), 400, "VALIDATION_FAILED", "lines[0].quantity", ""},
		{"negative quantity", post(body(`{"sku":"S1","quantity":-3}`)), 400, "VALIDATION_FAILED", "lines[0].quantity", ""},
		{"fractional quantity", post(body(`{"sku":"S1","quantity":1.5}`)), 400, "VALIDATION_FAILED", "lines.quantity", ""},
		{"huge quantity", post(body(`{"sku":"S1","quantity":99999999999999999999999}`)), 400, "VALIDATION_FAILED", "lines.quantity", ""},
		{"quantity above the maximum", post(body(`{"sku":"S1","quantity":1001}`)), 400, "VALIDATION_FAILED", "lines[0].quantity", ""},
		{"no lines", post(body("")), 400, "VALIDATION_FAILED", "lines", ""},
		{"too many lines", post(body(strings.Join(manyLines, ","))), 400, "VALIDATION_FAILED", "lines", ""},
		{"duplicate sku", post(body(line(1) + "," + line(1))), 400, "VALIDATION_FAILED", "lines[1].sku", ""},
		{"unknown currency", post(`{"customerId":"c1","currency":"XXQ","lines":[{"sku":"S1","quantity":1}],"paymentToken":"t"}`), 400, "VALIDATION_FAILED", "currency", ""},
		{"missing payment token", post(`{"customerId":"c1","currency":"USD","lines":[{"sku":"S1","quantity":1}]}`), 400, "VALIDATION_FAILED", "paymentToken", ""},
		{"unicode customer id", post(`{"customerId":"客户-1","currency":"USD","lines":[{"sku":"S1","quantity":1}],"paymentToken":"t"}`), 400, "VALIDATION_FAILED", "customerId", ""},
		{"unicode sku", post(body(`{"sku":"SKU-①","quantity":1}`)), 400, "VALIDATION_FAILED", "lines[0].sku", ""},
		{"invalid UTF-8", post("{\"customerId\":\"\xff\xfe\",\"currency\":\"USD\",\"lines\":[{\"sku\":\"S1\",\"quantity\":1}],\"paymentToken\":\"t\"}"), 400, "VALIDATION_FAILED", "customerId", ""},
		{"invalid base64", base64Req("not base64!"), 400, "VALIDATION_FAILED", "body", ""},
		{"too large", post(`{"customerId":"` + strings.Repeat("a", order.MaxRequestBytes) + `"}`), 413, "PAYLOAD_TOO_LARGE", "", ""},
		{"too large base64", base64Req(base64.StdEncoding.EncodeToString(make([]byte, order.MaxRequestBytes+1))), 413, "PAYLOAD_TOO_LARGE", "", ""},
		{"wrong content type", post(validBody, "Content-Type", "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE", "", ""},
		{"form content type", post(validBody, "content-type", "application/x-www-form-urlencoded"), 415, "UNSUPPORTED_MEDIA_TYPE", "", ""},
		{"non utf-8 charset", post(validBody, "content-type", "application/json; charset=latin1"), 415, "UNSUPPORTED_MEDIA_TYPE", "", ""},
		{"missing content type", post(validBody, "content-type", "<absent>"), 415, "UNSUPPORTED_MEDIA_TYPE", "", ""},
		{"empty idempotency key", post(validBody, "Idempotency-Key", ""), 400, "VALIDATION_FAILED", "Idempotency-Key", ""},
		{"idempotency key too long", post(validBody, "idempotency-key", strings.Repeat("k", 129)), 400, "VALIDATION_FAILED", "Idempotency-Key", ""},
		{"idempotency key with a control character", post(validBody, "IDEMPOTENCY-KEY", "k\x01"), 400, "VALIDATION_FAILED", "Idempotency-Key", ""},
		{"idempotency key not ASCII", post(validBody, "Idempotency-Key", "ключ"), 400, "VALIDATION_FAILED", "Idempotency-Key", ""},
		{"wrong method on /orders", withMethod(post(validBody), "$default", "PUT", "/orders"), 405, "METHOD_NOT_ALLOWED", "", "GET, POST"},
		{"wrong method on an order", withMethod(post(""), "$default", "DELETE", "/orders/01956a1e-9c00-7abc-8def-000000000001"), 405, "METHOD_NOT_ALLOWED", "", "GET"},
		{"unknown route", withMethod(post(""), "$default", "GET", "/customers"), 404, "ROUTE_NOT_FOUND", "", ""},
		{"unknown nested route", withMethod(post(""), "$default", "GET", "/orders/a/b"), 404, "ROUTE_NOT_FOUND", "", ""},
		{"order id with unicode", getReq("ордер-1"), 404, "NOT_FOUND", "", ""},
		{"order id not a uuid", getReq("1; drop table"), 404, "NOT_FOUND", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			touched := func(string) { t.Error("a store or the bus was called for a bad request") }
			w.get = func(context.Context, string) (*order.Order, error) { touched("get"); return nil, order.ErrNotFound }
			w.accept = func(context.Context, *order.Order, string, idempotency.Response, time.Time) (*idempotency.Response, error) {
				touched("accept")
				return nil, nil
			}
			resp := handle(t, newHandler(w, nil), tt.req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, resp.Body)
			}
			e := decodeError(t, resp)
			if e.Error.Code != tt.wantCode {
				t.Errorf("code %s, want %s", e.Error.Code, tt.wantCode)
			}
			if tt.wantField != "" {
				var fields []string
				for _, d := range e.Error.Details {
					fields = append(fields, d.Field)
				}
				if !strings.Contains(" "+strings.Join(fields, " ")+" ", " "+tt.wantField+" ") {
					t.Errorf("details name %v, want %s", fields, tt.wantField)
				}
			}
			if resp.Headers["Allow"] != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", resp.Headers["Allow"], tt.wantAllow)
			}
		})
	}
}

func TestIdempotency(t *testing.T) {
	other := strings.Replace(validBody, `"quantity":2`, `"quantity":3`, 1)
	t.Run("one write stores the order with its key", func(t *testing.T) {
		w := newWorld()
		resp := handle(t, newHandler(w, nil), post(validBody, "Idempotency-Key", "key-1"))
		const id = "01956a1e-9c00-7abc-8def-000000000001"
		if resp.StatusCode != 202 || w.accepts != 1 {
			t.Fatalf("%d after %d writes", resp.StatusCode, w.accepts)
		}
		if o := w.orders[id]; o == nil || o.IdempotencyKey != "key-1" {
			t.Fatalf("stored %+v, want the order with its key", o)
		}
		if rec := w.keys["key-1"]; rec == nil || rec.OrderID != id || !reflect.DeepEqual(rec.Response.Headers, resp.Headers) ||
			rec.Response.Body != resp.Body || rec.BodyHash != idempotency.Hash([]byte(validBody)) {
			t.Fatalf("key record %+v, want the answer %+v", rec, resp)
		}
	})
	t.Run("same key and body replays the first response", func(t *testing.T) {
		w := newWorld()
		h := newHandler(w, nil)
		first := handle(t, h, post(validBody, "Idempotency-Key", "key-1"))
		again := handle(t, h, post(validBody, "idempotency-key", "key-1"))
		if first.StatusCode != 202 || !reflect.DeepEqual(first, again) {
			t.Fatalf("first %+v\nagain %+v", first, again)
		}
		if len(w.orders) != 1 {
			t.Errorf("%d orders, want 1", len(w.orders))
		}
	})
	t.Run("same key and another body is a conflict", func(t *testing.T) {
		w := newWorld()
		h := newHandler(w, nil)
		handle(t, h, post(validBody, "Idempotency-Key", "key-1"))
		resp := handle(t, h, post(other, "Idempotency-Key", "key-1"))
		if resp.StatusCode != 409 || decodeError(t, resp).Error.Code != "IDEMPOTENCY_KEY_REUSED" {
			t.Fatalf("%d %s", resp.StatusCode, resp.Body)
		}
		if len(w.orders) != 1 {
			t.Errorf("%d orders, want 1", len(w.orders))
		}
	})
	t.Run("same key while another request with it is being committed", func(t *testing.T) {
		w := newWorld()
		w.accept = func(context.Context, *order.Order, string, idempotency.Response, time.Time) (*idempotency.Response, error) {
			return nil, fmt.Errorf("accept: %w", idempotency.ErrInProgress)
		}
		resp := handle(t, newHandler(w, nil), post(validBody, "Idempotency-Key", "key-1"))
		if resp.StatusCode != 409 || decodeError(t, resp).Error.Code != "REQUEST_IN_PROGRESS" {
			t.Fatalf("%d %s", resp.StatusCode, resp.Body)
		}
	})
	t.Run("different keys make different orders", func(t *testing.T) {
		w := newWorld()
		h := newHandler(w, nil)
		handle(t, h, post(validBody, "Idempotency-Key", "key-1"))
		handle(t, h, post(validBody, "Idempotency-Key", "key-2"))
		if len(w.orders) != 2 {
			t.Errorf("%d orders, want 2", len(w.orders))
		}
	})
	t.Run("a retry after a lost answer gets the first order", func(t *testing.T) {
		// The write committed, then the function died (or the answer was lost): the
		// client saw a 5xx and retries with the same key and body.
		w := newWorld()
		h := newHandler(w, nil)
		handle(t, h, post(validBody, "Idempotency-Key", "key-1"))
		retry := handle(t, h, post(validBody, "Idempotency-Key", "key-1"))
		if retry.StatusCode != 202 || retry.Headers["Location"] != "/orders/01956a1e-9c00-7abc-8def-000000000001" || len(w.orders) != 1 {
			t.Fatalf("retry %d %v with %d orders, want the first order and no second", retry.StatusCode, retry.Headers, len(w.orders))
		}
	})
}

func assertUnavailable(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	if resp.StatusCode != 503 || decodeError(t, resp).Error.Code != "UNAVAILABLE" {
		t.Fatalf("%d %s, want 503 UNAVAILABLE", resp.StatusCode, resp.Body)
	}
	if strings.Contains(resp.Body, "dynamodb") || strings.Contains(resp.Body, "10.0.0.1") {
		t.Errorf("internal error text in the response: %s", resp.Body)
	}
}

// A failed write stores nothing and answers 503; the client retries with the same key
// and gets the order, once.
func TestStoreFailure(t *testing.T) {
	w := newWorld()
	var logs bytes.Buffer
	h := newHandler(w, &logs)
	accept := w.accept
	w.accept = func(context.Context, *order.Order, string, idempotency.Response, time.Time) (*idempotency.Response, error) {
		return nil, errDown
	}
	assertUnavailable(t, handle(t, h, post(validBody, "Idempotency-Key", "key-1")))
	if len(w.orders) != 0 || len(w.keys) != 0 {
		t.Fatalf("%d orders and %d keys after a failed write", len(w.orders), len(w.keys))
	}
	if strings.Contains(logs.String(), "tok_secret") {
		t.Error("payment token in the logs")
	}
	w.accept = accept
	resp := handle(t, h, post(validBody, "Idempotency-Key", "key-1"))
	if resp.StatusCode != 202 || len(w.orders) != 1 {
		t.Fatalf("retry: %d with %d orders", resp.StatusCode, len(w.orders))
	}
}

func TestGetOrder(t *testing.T) {
	const id = "01956a1e-9c00-7abc-8def-000000000001"
	tests := []struct {
		name       string
		id         string
		getErr     error
		wantStatus int
		wantCode   string
	}{
		{"found", id, nil, 200, ""},
		{"unknown", "01956a1e-9c00-7abc-8def-0000000000ff", nil, 404, "NOT_FOUND"},
		{"uppercase id is not an order id", strings.ToUpper(id), nil, 404, "NOT_FOUND"},
		{"store down", id, errDown, 503, "UNAVAILABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			h := newHandler(w, nil)
			if r := handle(t, h, post(validBody)); r.StatusCode != 202 {
				t.Fatalf("setup: %d %s", r.StatusCode, r.Body)
			}
			if tt.getErr != nil {
				w.get = func(context.Context, string) (*order.Order, error) { return nil, tt.getErr }
			}
			resp := handle(t, h, getReq(tt.id))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, resp.Body)
			}
			if tt.wantCode != "" {
				if tt.wantStatus == 503 {
					assertUnavailable(t, resp)
				} else if c := decodeError(t, resp).Error.Code; c != tt.wantCode {
					t.Errorf("code %s, want %s", c, tt.wantCode)
				}
				return
			}
			var got order.Order
			if err := json.Unmarshal([]byte(resp.Body), &got); err != nil || got.ID != id || got.Status != order.StatusPending {
				t.Fatalf("body %s: %v", resp.Body, err)
			}
			if strings.Contains(resp.Body, "tok_secret") {
				t.Error("payment token in the response")
			}
		})
	}
}
