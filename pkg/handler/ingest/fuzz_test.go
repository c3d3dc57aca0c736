package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/order"
)

// FuzzHandle sends arbitrary requests (method, path, content type, Idempotency-Key, body,
// base64 or not, explicit route key or $default) through the whole ingest handler over
// the in-memory fakes, all of them working. Whatever the input: no panic, no error, and
// the answer is 200/202 or a 4xx with the JSON error envelope and a non-empty code; never
// a 5xx. An accepted order is answered again, unchanged, for the same key and body, and
// its payment token appears neither in the answer nor in the log.
// Seeds: f.Add below and testdata/fuzz/FuzzHandle.
func FuzzHandle(f *testing.F) {
	type seed struct {
		method, path, contentType, key, body string
		b64, defaultRoute                    bool
	}
	for _, s := range []seed{
		{method: "POST", path: "/orders", contentType: "application/json", body: validBody},
		{method: "POST", path: "/orders", contentType: "application/json", key: "key-1", body: validBody},
		{method: "POST", path: "/orders", contentType: "application/json; charset=utf-8", body: validBody, b64: true},
		{method: "POST", path: "/orders", contentType: "text/plain", body: validBody},
		{method: "POST", path: "/orders", contentType: "", body: validBody},
		{method: "POST", path: "/orders", contentType: "application/json", body: ""},
		{method: "POST", path: "/orders", contentType: "application/json", body: "{"},
		{method: "POST", path: "/orders", contentType: "application/json", key: "\x00", body: validBody},
		{method: "POST", path: "/orders", contentType: "application/json", key: strings.Repeat("k", 129), body: validBody},
		{method: "POST", path: "/orders", contentType: "application/json", body: "not base64!", b64: true},
		{method: "GET", path: "/orders/01956a1e-9c00-7abc-8def-000000000001", defaultRoute: true},
		{method: "GET", path: "/orders/%zz", defaultRoute: true},
		{method: "GET", path: "/orders/" + strings.Repeat("x", 300), defaultRoute: true},
		{method: "DELETE", path: "/orders", defaultRoute: true},
		{method: "PUT", path: "/orders/abc", defaultRoute: true},
		{method: "GET", path: "/nope\x00\n", defaultRoute: true},
		{method: "post", path: "/orders/", contentType: "APPLICATION/JSON", body: validBody, defaultRoute: true},
	} {
		f.Add(s.method, s.path, s.contentType, s.key, s.body, s.b64, s.defaultRoute)
	}
	f.Fuzz(func(t *testing.T, method, path, contentType, key, body string, b64, defaultRoute bool) {
		w := newWorld()
		var logs bytes.Buffer
		h := newHandler(w, &logs)
		req := fuzzRequest(method, path, contentType, key, body, b64, defaultRoute)

		resp, err := h.Handle(context.Background(), req)
		if err != nil {
			t.Fatalf("Handle returned an error: %v", err)
		}
		checkAnswer(t, resp)
		if resp.StatusCode != 202 {
			return
		}
		var o struct {
			OrderID      string  `json:"orderId"`
			Status       string  `json:"status"`
			PaymentToken *string `json:"paymentToken"`
		}
		if err := json.Unmarshal([]byte(resp.Body), &o); err != nil || o.OrderID == "" || o.Status != "PENDING" || o.PaymentToken != nil {
			t.Fatalf("202 body is not a PENDING order without its token (%v): %s", err, resp.Body)
		}
		if w.accepts != 1 {
			t.Fatalf("accepted order took %d writes, want 1", w.accepts)
		}
		stored := w.orders[o.OrderID]
		if stored == nil {
			t.Fatalf("accepted order %s not stored", o.OrderID)
		}
		if tok := stored.PaymentToken; distinctive(tok, stored, key) {
			if strings.Contains(resp.Body, tok) || logHolds(t, logs.Bytes(), tok) {
				t.Fatalf("payment token %q in the answer or the log:\n%s\n%s", tok, resp.Body, logs.String())
			}
		}
		if key == "" {
			return
		}
		again, _ := h.Handle(context.Background(), req)
		if again.StatusCode != resp.StatusCode || again.Body != resp.Body || len(w.orders) != 1 {
			t.Fatalf("replay with the same key: %d %s (orders %d), first %d %s",
				again.StatusCode, again.Body, len(w.orders), resp.StatusCode, resp.Body)
		}
	})
}

// fuzzRequest builds a payload 2.0 request as API Gateway would: lower-case headers, the
// matched route key or $default.
func fuzzRequest(method, path, contentType, key, body string, b64, defaultRoute bool) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	if contentType != "" {
		headers["content-type"] = contentType
	}
	if key != "" {
		headers["idempotency-key"] = key
	}
	req := events.APIGatewayV2HTTPRequest{RawPath: path, Headers: headers, Body: body, IsBase64Encoded: b64}
	if b64 && isBase64Seedable(body) {
		req.Body = base64.StdEncoding.EncodeToString([]byte(body))
	}
	req.RequestContext.HTTP.Method = method
	switch {
	case defaultRoute:
		req.RouteKey = "$default"
	case strings.HasPrefix(path, "/orders/"):
		req.RouteKey = "GET /orders/{orderId}"
		req.PathParameters = map[string]string{"orderId": strings.TrimPrefix(path, "/orders/")}
	default:
		req.RouteKey = "POST /orders"
	}
	req.RequestContext.RouteKey = req.RouteKey
	return req
}

// isBase64Seedable: bodies that look like JSON are encoded (what API Gateway does for a
// binary body); anything else is sent as is, to exercise the invalid-base64 path.
func isBase64Seedable(body string) bool {
	return strings.HasPrefix(strings.TrimSpace(body), "{")
}

// checkAnswer asserts the status and, for an error, the JSON error envelope.
func checkAnswer(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	switch {
	case resp.StatusCode == 200 || resp.StatusCode == 202:
		return
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
	default:
		t.Fatalf("status %d (want 200, 202 or 4xx with working fakes): %s", resp.StatusCode, resp.Body)
	}
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		t.Fatalf("%d with Content-Type %q", resp.StatusCode, ct)
	}
	var e apiError
	if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%d without a JSON error code and message (%v): %s", resp.StatusCode, err, resp.Body)
	}
	for _, d := range e.Error.Details {
		if d.Field == "" || d.Issue == "" {
			t.Fatalf("error detail without field or issue: %s", resp.Body)
		}
	}
}

// distinctive reports whether tok cannot appear in the answer or the log by coincidence
// (as part of an id, a SKU or the key the client sent).
func distinctive(tok string, o *order.Order, key string) bool {
	if len(tok) < 8 {
		return false
	}
	others := []string{o.ID, o.CustomerID, o.Currency, o.CorrelationID, key, string(o.Status)}
	for _, l := range o.Lines {
		others = append(others, l.SKU)
	}
	for _, s := range others {
		if strings.Contains(s, tok) {
			return false
		}
	}
	return true
}

// logHolds reports whether a string value of a JSON log line is tok, or contains it when
// tok is long enough not to be part of a message by chance.
func logHolds(t *testing.T, logs []byte, tok string) bool {
	t.Helper()
	for _, line := range bytes.Split(bytes.TrimSpace(logs), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if holds(v, tok) {
			return true
		}
	}
	return false
}

func holds(v any, tok string) bool {
	switch v := v.(type) {
	case string:
		return v == tok || (len(tok) >= 12 && strings.Contains(v, tok))
	case map[string]any:
		for k, e := range v {
			if holds(k, tok) || holds(e, tok) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if holds(e, tok) {
				return true
			}
		}
	}
	return false
}
