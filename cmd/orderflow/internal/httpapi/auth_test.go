package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/jwtauth"
)

// With a JWT authorizer, a request without a valid token gets API Gateway's 401 and
// never reaches the function; a valid token's claims reach it in
// requestContext.authorizer.jwt.claims.
func TestJWTAuthorizer(t *testing.T) {
	iss, err := jwtauth.StartIssuer("orderflow-local", "sub")
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	other, err := jwtauth.StartIssuer("orderflow-local", "sub") // another key
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	var got []events.APIGatewayV2HTTPRequest
	inv := fakeInvoker{fn: func(_ string, p []byte) ([]byte, string, error) {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(p, &ev); err != nil {
			t.Error(err)
		}
		got = append(got, ev)
		return []byte(`{"statusCode":200,"body":"{}"}`), "", nil
	}}
	api := New([]Route{{Method: "GET", Path: "/orders", Function: "Ingest"}}, inv)
	api.Authorizer = &jwtauth.Authorizer{Issuer: iss.URL, Audiences: []string{"orderflow-local"}}
	srv := httptest.NewServer(api)
	defer srv.Close()

	now := time.Now()
	claims := func(change map[string]any) map[string]any {
		c := map[string]any{"iss": iss.URL, "aud": "orderflow-local", "sub": "c-1",
			"iat": now.Unix() - 10, "nbf": now.Unix() - 10, "exp": now.Add(time.Hour).Unix(), "cognito:groups": []any{"a", "b"}}
		for k, v := range change {
			if v == nil {
				delete(c, k)
				continue
			}
			c[k] = v
		}
		return c
	}
	sign := func(i *jwtauth.Issuer, c map[string]any) string {
		tok, err := i.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	valid := sign(iss, claims(nil))
	parts := strings.Split(strings.TrimPrefix(valid, "Bearer "), ".")
	otherPayload := strings.Split(sign(iss, claims(map[string]any{"sub": "c-2"})), ".")[1]
	cases := []struct {
		name, auth string
		want       int
	}{
		{"missing", "", 401},
		{"not a JWT", "Bearer hello", 401},
		{"expired", sign(iss, claims(map[string]any{"exp": now.Add(-time.Minute).Unix()})), 401},
		{"no exp", sign(iss, claims(map[string]any{"exp": nil})), 401},
		{"not yet valid", sign(iss, claims(map[string]any{"nbf": now.Add(time.Hour).Unix()})), 401},
		{"issued in the future", sign(iss, claims(map[string]any{"iat": now.Add(time.Hour).Unix()})), 401},
		{"wrong audience", sign(iss, claims(map[string]any{"aud": "someone-else"})), 401},
		{"wrong issuer", sign(iss, claims(map[string]any{"iss": "https://evil.example"})), 401},
		{"forged: signed by another key", sign(other, claims(nil)), 401},
		{"forged: payload swapped", "Bearer " + parts[0] + "." + otherPayload + "." + parts[2], 401},
		{"forged: alg none", "Bearer eyJhbGciOiJub25lIiwia2lkIjoieCJ9." + parts[1] + ".", 401},
		{"valid, Bearer", valid, 200},
		{"valid, bare token", strings.TrimPrefix(valid, "Bearer "), 200},
		{"valid, audience in a list", sign(iss, claims(map[string]any{"aud": []any{"x", "orderflow-local"}})), 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			req, _ := http.NewRequest("GET", srv.URL+"/orders", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 401 {
				var body map[string]string
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body["message"] != "Unauthorized" ||
					resp.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 body %v (%v), headers %v", body, err, resp.Header)
				}
				if len(got) != 0 {
					t.Errorf("a refused request reached the function")
				}
				return
			}
			if len(got) != 1 || got[0].RequestContext.Authorizer == nil || got[0].RequestContext.Authorizer.JWT == nil {
				t.Fatalf("the function got %+v, want the JWT authorizer's claims", got)
			}
			c := got[0].RequestContext.Authorizer.JWT.Claims
			if c["sub"] != "c-1" || c["iss"] != iss.URL || c["exp"] != formatInt(now.Add(time.Hour).Unix()) || c["cognito:groups"] != "[a b]" {
				t.Errorf("claims %v", c)
			}
		})
	}
}

func formatInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
