package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/handler/ingest"
	"github.com/orderflow/orderflow/pkg/order"
)

// asCustomer makes req look as API Gateway's JWT authorizer passes it: the token's
// claims in requestContext.authorizer.jwt.claims (payload format 2.0).
func asCustomer(req events.APIGatewayV2HTTPRequest, claims map[string]string) events.APIGatewayV2HTTPRequest {
	req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
	}
	return req
}

func jwtHandler(w *world) *ingest.Handler {
	h := newHandler(w, nil)
	h.CustomerClaim = "sub"
	return h
}

func listReq(query map[string]string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{RouteKey: "GET /orders", RawPath: "/orders", QueryStringParameters: query}
	req.RequestContext.HTTP.Method = "GET"
	return req
}

// storeOrder puts an order of customer, created at t0+minutes, into w.
func storeOrder(w *world, id, customer string, minutes int) {
	w.orders[id] = &order.Order{ID: id, CustomerID: customer, Currency: "USD", Status: order.StatusPending,
		Lines: []order.Line{{SKU: "SKU-1", Quantity: 1}}, CreatedAt: t0.Add(time.Duration(minutes) * time.Minute)}
}

const bodyWithoutCustomer = `{"currency":"USD","lines":[{"sku":"SKU-1","quantity":2}],"paymentToken":"tok_visa"}`

// With a JWT authorizer the customer is the token's, never the body's.
func TestCreateOrderTakesTheCustomerFromTheToken(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		claims     map[string]string
		wantStatus int
		wantCode   string
	}{
		{"body without customerId", bodyWithoutCustomer, map[string]string{"sub": "c-1"}, 202, ""},
		{"body names the same customer", strings.Replace(validBody, "cust-1", "c-1", 1), map[string]string{"sub": "c-1"}, 202, ""},
		{"body names another customer", validBody, map[string]string{"sub": "c-1"}, 403, "CUSTOMER_MISMATCH"},
		{"token without the claim", bodyWithoutCustomer, map[string]string{"email": "a@example.com"}, 403, "FORBIDDEN"},
		{"claim is not a customer id", bodyWithoutCustomer, map[string]string{"sub": "auth0|123"}, 403, "FORBIDDEN"},
		{"no authorizer at all", bodyWithoutCustomer, nil, 403, "FORBIDDEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			req := post(tt.body)
			if tt.claims != nil {
				req = asCustomer(req, tt.claims)
			}
			resp := handle(t, jwtHandler(w), req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d body %s, want %d", resp.StatusCode, resp.Body, tt.wantStatus)
			}
			if tt.wantCode != "" {
				if e := decodeError(t, resp); e.Error.Code != tt.wantCode {
					t.Errorf("code %s, want %s", e.Error.Code, tt.wantCode)
				}
				if len(w.orders) != 0 {
					t.Errorf("an order was stored: %v", w.orders)
				}
				return
			}
			var got order.Order
			if err := json.Unmarshal([]byte(resp.Body), &got); err != nil || got.CustomerID != "c-1" {
				t.Fatalf("answer %s (%v), want an order of c-1", resp.Body, err)
			}
			if o := w.orders[got.ID]; o == nil || o.CustomerID != "c-1" {
				t.Errorf("stored %+v, want an order of c-1", o)
			}
		})
	}
}

// The same Idempotency-Key from two customers is two keys: the second customer gets an
// order of its own, never the first one's answer.
func TestIdempotencyKeysArePerCustomer(t *testing.T) {
	w := newWorld()
	h := jwtHandler(w)
	first := handle(t, h, asCustomer(post(bodyWithoutCustomer, "Idempotency-Key", "k1"), map[string]string{"sub": "c-1"}))
	second := handle(t, h, asCustomer(post(bodyWithoutCustomer, "Idempotency-Key", "k1"), map[string]string{"sub": "c-2"}))
	replay := handle(t, h, asCustomer(post(bodyWithoutCustomer, "Idempotency-Key", "k1"), map[string]string{"sub": "c-1"}))
	if first.StatusCode != 202 || second.StatusCode != 202 {
		t.Fatalf("statuses %d %d, want 202 202: %s", first.StatusCode, second.StatusCode, second.Body)
	}
	if first.Headers["Location"] == second.Headers["Location"] {
		t.Fatalf("c-2 was answered with c-1's order %s", first.Headers["Location"])
	}
	if replay.Headers["Location"] != first.Headers["Location"] {
		t.Errorf("c-1's retry got %s, want its first answer %s", replay.Headers["Location"], first.Headers["Location"])
	}
	if len(w.orders) != 2 {
		t.Errorf("%d orders stored, want 2", len(w.orders))
	}
}

// A customer reads its own orders; another customer's order is answered exactly as an
// unknown id is.
func TestGetOrderOfAnotherCustomerIsNotFound(t *testing.T) {
	w := newWorld()
	const mine, theirs = "01956a1e-9c00-7abc-8def-000000000001", "01956a1e-9c00-7abc-8def-000000000002"
	storeOrder(w, mine, "c-1", 0)
	storeOrder(w, theirs, "c-2", 1)
	h := jwtHandler(w)
	own := handle(t, h, asCustomer(getReq(mine), map[string]string{"sub": "c-1"}))
	if own.StatusCode != 200 || !strings.Contains(own.Body, mine) {
		t.Fatalf("own order: %d %s", own.StatusCode, own.Body)
	}
	other := handle(t, h, asCustomer(getReq(theirs), map[string]string{"sub": "c-1"}))
	unknown := handle(t, h, asCustomer(getReq("01956a1e-9c00-7abc-8def-000000000009"), map[string]string{"sub": "c-1"}))
	if other.StatusCode != 404 || decodeError(t, other).Error.Code != "NOT_FOUND" {
		t.Fatalf("another customer's order: %d %s, want 404 NOT_FOUND", other.StatusCode, other.Body)
	}
	if other.Body != unknown.Body || !reflect.DeepEqual(other.Headers, unknown.Headers) {
		t.Errorf("another customer's order (%s) is told apart from an unknown one (%s)", other.Body, unknown.Body)
	}
	// IAM mode (no CustomerClaim): a trusted service reads any order, as before.
	if resp := handle(t, newHandler(w, nil), getReq(theirs)); resp.StatusCode != 200 {
		t.Errorf("IAM mode: %d %s, want 200", resp.StatusCode, resp.Body)
	}
}

type page struct {
	Orders    []order.Order `json:"orders"`
	NextToken string        `json:"nextToken"`
}

func decodePage(t *testing.T, resp events.APIGatewayV2HTTPResponse) page {
	t.Helper()
	if resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("status %d headers %v body %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	var p page
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// GET /orders lists the caller's own orders, newest first, page by page.
func TestListOwnOrdersNewestFirstWithPages(t *testing.T) {
	w := newWorld()
	var want []string
	for i := range 5 {
		id := fmt.Sprintf("01956a1e-9c00-7abc-8def-%012d", i+1)
		storeOrder(w, id, "c-1", i)
		want = append([]string{id}, want...) // newest first
		storeOrder(w, fmt.Sprintf("01956a1e-9c00-7abc-8def-%012d", i+100), "c-2", i)
	}
	h := jwtHandler(w)
	var got []string
	query := map[string]string{"limit": "2"}
	for pages := 1; ; pages++ {
		p := decodePage(t, handle(t, h, asCustomer(listReq(query), map[string]string{"sub": "c-1"})))
		for _, o := range p.Orders {
			if o.CustomerID != "c-1" {
				t.Fatalf("c-1 was listed %s's order %s", o.CustomerID, o.ID)
			}
			got = append(got, o.ID)
		}
		if p.NextToken == "" {
			if pages != 3 {
				t.Errorf("%d pages of 2 for 5 orders, want 3", pages)
			}
			break
		}
		if len(p.Orders) != 2 || pages > 3 {
			t.Fatalf("page %d has %d orders and a next token", pages, len(p.Orders))
		}
		query = map[string]string{"limit": "2", "nextToken": p.NextToken}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
	if p := decodePage(t, handle(t, h, asCustomer(listReq(nil), map[string]string{"sub": "c-9"}))); p.Orders == nil || len(p.Orders) != 0 || p.NextToken != "" {
		t.Errorf("a customer without orders got %+v, want an empty list", p)
	}
}

func TestListOrdersBadRequests(t *testing.T) {
	w := newWorld()
	storeOrder(w, "01956a1e-9c00-7abc-8def-000000000001", "c-1", 0)
	c1 := map[string]string{"sub": "c-1"}
	tests := []struct {
		name       string
		h          *ingest.Handler
		req        events.APIGatewayV2HTTPRequest
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{"limit zero", jwtHandler(w), asCustomer(listReq(map[string]string{"limit": "0"}), c1), 400, "VALIDATION_FAILED", "limit"},
		{"limit too big", jwtHandler(w), asCustomer(listReq(map[string]string{"limit": "101"}), c1), 400, "VALIDATION_FAILED", "limit"},
		{"limit not a number", jwtHandler(w), asCustomer(listReq(map[string]string{"limit": "ten"}), c1), 400, "VALIDATION_FAILED", "limit"},
		{"forged next token", jwtHandler(w), asCustomer(listReq(map[string]string{"nextToken": "eyJ4Ijp9"}), c1), 400, "VALIDATION_FAILED", "nextToken"},
		{"another customer named", jwtHandler(w), asCustomer(listReq(map[string]string{"customerId": "c-2"}), c1), 403, "CUSTOMER_MISMATCH", ""},
		{"no token", jwtHandler(w), listReq(nil), 403, "FORBIDDEN", ""},
		{"IAM mode without customerId", newHandler(w, nil), listReq(nil), 400, "VALIDATION_FAILED", "customerId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := handle(t, tt.h, tt.req)
			e := decodeError(t, resp)
			if resp.StatusCode != tt.wantStatus || e.Error.Code != tt.wantCode {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, resp.Body, tt.wantStatus, tt.wantCode)
			}
			if tt.wantField != "" && (len(e.Error.Details) != 1 || e.Error.Details[0].Field != tt.wantField) {
				t.Errorf("details %+v, want one on %s", e.Error.Details, tt.wantField)
			}
		})
	}
	// IAM mode: a trusted service lists any customer's orders by ?customerId=.
	if p := decodePage(t, handle(t, newHandler(w, nil), listReq(map[string]string{"customerId": "c-1"}))); len(p.Orders) != 1 {
		t.Errorf("IAM mode listed %+v, want c-1's order", p)
	}
}

// Store failures are a 503 with no internal detail, as for the other routes.
func TestListOrdersStoreDown(t *testing.T) {
	w := newWorld()
	w.page = func(context.Context, string, int, string) ([]*order.Order, string, error) { return nil, "", errDown }
	resp := handle(t, jwtHandler(w), asCustomer(listReq(nil), map[string]string{"sub": "c-1"}))
	if resp.StatusCode != 503 || strings.Contains(resp.Body, "10.0.0.1") {
		t.Fatalf("%d %s, want a 503 that names no internal detail", resp.StatusCode, resp.Body)
	}
}
