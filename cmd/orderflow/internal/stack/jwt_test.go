package stack

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/jwtauth"
)

// ApiAuth=JWT on the local stack: the HTTP API validates tokens of the local issuer as
// API Gateway's JWT authorizer would, and the real ingest binary, given the claims, keeps
// every customer to its own orders.
func TestJWTAuthKeepsCustomersToTheirOwnOrders(t *testing.T) {
	s := up(t, Options{Build: true, Dir: repoRoot(t), Catalog: "-", Parameters: map[string]string{"ApiAuth": "JWT"}})
	defer s.Close()
	if s.Issuer == nil {
		t.Fatal("no local issuer with ApiAuth=JWT")
	}
	// What `orderflow token` does: mint from the saved state.
	saved, err := jwtauth.LoadIssuer(s.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	token := func(customer string) string {
		tok, err := saved.Mint(customer, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	call := func(method, path, auth, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, s.HTTPURL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	create := func(customer string) string {
		t.Helper()
		code, b := call("POST", "/orders", token(customer), `{"currency":"USD","lines":[{"sku":"SKU-1","quantity":1}],"paymentToken":"tok_visa"}`)
		var o struct{ OrderID, CustomerID string }
		if code != 202 || json.Unmarshal(b, &o) != nil || o.CustomerID != customer {
			t.Fatalf("create for %s: %d %s", customer, code, b)
		}
		return o.OrderID
	}

	expired, err := s.Issuer.Mint("c-1", -time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, auth := range map[string]string{"no token": "", "expired token": "Bearer " + expired, "garbage": "Bearer x.y.z"} {
		if code, b := call("GET", "/orders", auth, ""); code != 401 || !strings.Contains(string(b), "Unauthorized") {
			t.Errorf("%s: %d %s, want 401 Unauthorized", name, code, b)
		}
	}

	var mine []string
	for range 3 {
		mine = append([]string{create("c-1")}, mine...) // newest first
	}
	theirs := create("c-2")

	if code, b := call("GET", "/orders/"+theirs, token("c-1"), ""); code != 404 || !strings.Contains(string(b), `"code":"NOT_FOUND"`) {
		t.Errorf("c-1 reading c-2's order: %d %s, want 404 NOT_FOUND", code, b)
	}
	if code, b := call("GET", "/orders/"+mine[0], token("c-1"), ""); code != 200 {
		t.Errorf("c-1 reading its own order: %d %s", code, b)
	}
	if code, b := call("POST", "/orders", token("c-1"), `{"customerId":"c-2","currency":"USD","lines":[{"sku":"SKU-1","quantity":1}],"paymentToken":"t"}`); code != 403 {
		t.Errorf("c-1 ordering for c-2: %d %s, want 403", code, b)
	}

	var listed []string
	path := "/orders?limit=2"
	for pages := 0; pages < 3; pages++ {
		code, b := call("GET", path, token("c-1"), "")
		var p struct {
			Orders []struct {
				OrderID, CustomerID string
			}
			NextToken string
		}
		if code != 200 || json.Unmarshal(b, &p) != nil {
			t.Fatalf("list: %d %s", code, b)
		}
		for _, o := range p.Orders {
			if o.CustomerID != "c-1" {
				t.Fatalf("c-1 listed %s's order %s", o.CustomerID, o.OrderID)
			}
			listed = append(listed, o.OrderID)
		}
		if p.NextToken == "" {
			break
		}
		path = "/orders?limit=2&nextToken=" + p.NextToken
	}
	if strings.Join(listed, ",") != strings.Join(mine, ",") {
		t.Errorf("c-1 listed %v, want its orders newest first %v", listed, mine)
	}
}
