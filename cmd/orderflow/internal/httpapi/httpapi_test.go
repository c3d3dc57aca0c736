package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/tools/template"
)

type fakeInvoker struct {
	fn func(function string, payload []byte) ([]byte, string, error)
}

func (f fakeInvoker) InvokeSync(_ context.Context, function string, payload []byte) ([]byte, string, error) {
	return f.fn(function, payload)
}

func TestRoutingAndPayload(t *testing.T) {
	var got events.APIGatewayV2HTTPRequest
	var gotFn string
	inv := fakeInvoker{fn: func(fn string, p []byte) ([]byte, string, error) {
		gotFn = fn
		if err := json.Unmarshal(p, &got); err != nil {
			t.Fatal(err)
		}
		return []byte(`{"statusCode":202,"headers":{"Location":"/orders/1","Content-Type":"application/json"},"body":"{\"ok\":true}"}`), "", nil
	}}
	srv := httptest.NewServer(New([]Route{
		{Method: "POST", Path: "/orders", Function: "Ingest"},
		{Method: "GET", Path: "/orders/{orderId}", Function: "Ingest"},
	}, inv))
	defer srv.Close()

	cases := []struct {
		name, method, path, ctype, body string
		wantStatus                      int
		wantRoute                       string
		wantParams                      map[string]string
		wantB64                         bool
	}{
		{"post json", "POST", "/orders?x=1&x=2", "application/json", `{"a":1}`, 202, "POST /orders", nil, false},
		{"get with param", "GET", "/orders/abc", "", "", 202, "GET /orders/{orderId}", map[string]string{"orderId": "abc"}, false},
		{"binary body is base64", "POST", "/orders", "application/octet-stream", "\xff\x00", 202, "POST /orders", nil, true},
		{"unknown route", "GET", "/nope", "", "", 404, "", nil, false},
		{"wrong method", "DELETE", "/orders", "", "", 404, "", nil, false},
		{"too deep", "GET", "/orders/a/b", "", "", 404, "", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, gotFn = events.APIGatewayV2HTTPRequest{}, ""
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if tc.wantRoute == "" {
				if gotFn != "" {
					t.Fatalf("function invoked for %s %s", tc.method, tc.path)
				}
				return
			}
			if got.Version != "2.0" || got.RouteKey != tc.wantRoute || got.RequestContext.HTTP.Method != tc.method {
				t.Fatalf("event %+v", got)
			}
			if resp.Header.Get("Location") != "/orders/1" || string(body) != `{"ok":true}` {
				t.Fatalf("response headers %v body %s", resp.Header, body)
			}
			for k, v := range tc.wantParams {
				if got.PathParameters[k] != v {
					t.Fatalf("path params %v", got.PathParameters)
				}
			}
			if got.IsBase64Encoded != tc.wantB64 {
				t.Fatalf("isBase64Encoded = %v", got.IsBase64Encoded)
			}
			want := tc.body
			if tc.wantB64 {
				b, _ := base64.StdEncoding.DecodeString(got.Body)
				want, got.Body = tc.body, string(b)
			}
			if got.Body != want {
				t.Fatalf("body %q, want %q", got.Body, want)
			}
			if tc.name == "post json" && (got.QueryStringParameters["x"] != "1,2" || got.Headers["content-type"] != "application/json") {
				t.Fatalf("query %v headers %v", got.QueryStringParameters, got.Headers)
			}
		})
	}
}

func TestDefaultRouteCatchesTheRest(t *testing.T) {
	var routeKey string
	inv := fakeInvoker{fn: func(fn string, p []byte) ([]byte, string, error) {
		var ev events.APIGatewayV2HTTPRequest
		_ = json.Unmarshal(p, &ev)
		routeKey = ev.RouteKey
		return []byte(`{"statusCode":405,"body":"{}"}`), "", nil
	}}
	h := New([]Route{{Method: "POST", Path: "/orders", Function: "F"}, {Method: "ANY", Path: DefaultRoute, Function: "F"}}, inv)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("DELETE", "/orders", nil))
	if rec.Code != 405 || routeKey != "$default" {
		t.Fatalf("status %d routeKey %q", rec.Code, routeKey)
	}
}

// TestDefaultRouteMarker serves template.yaml's routes as the local stack does: an unknown
// path reaches ingest with routeKey $default because the catch-all operation carries
// isDefaultRoute: true, as API Gateway requires; without the marker "/$default" is a
// literal path and an unknown path gets API Gateway's bare 404.
func TestDefaultRouteMarker(t *testing.T) {
	tpl, err := template.Load(filepath.Join("..", "..", "..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (status int, routeKey, body string) {
		var routes []Route
		for _, r := range tpl.HTTPRoutes() {
			routes = append(routes, Route{Method: r.Method, Path: r.Path, Function: r.Function})
		}
		h := New(routes, fakeInvoker{fn: func(fn string, p []byte) ([]byte, string, error) {
			var ev events.APIGatewayV2HTTPRequest
			_ = json.Unmarshal(p, &ev)
			routeKey = ev.RouteKey
			return []byte(`{"statusCode":404,"body":"{\"error\":{\"code\":\"ROUTE_NOT_FOUND\"}}"}`), "", nil
		}})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, routeKey, strings.TrimSpace(rec.Body.String())
	}
	fnAnswer := `{"error":{"code":"ROUTE_NOT_FOUND"}}`
	if status, key, body := get("/nope"); status != 404 || key != "$default" || body != fnAnswer {
		t.Errorf("marked: GET /nope = %d %q %s; want the function's 404 through $default", status, key, body)
	}

	paths := tpl.Resources["OrdersApi"].Properties["DefinitionBody"].(map[string]any)["paths"].(map[string]any)
	delete(paths["/$default"].(map[string]any)["x-amazon-apigateway-any-method"].(map[string]any), "isDefaultRoute")
	if status, key, body := get("/nope"); status != 404 || key != "" || body != `{"message":"Not Found"}` {
		t.Errorf("unmarked: GET /nope = %d %q %s; want the gateway's bare 404, no invoke", status, key, body)
	}
	if status, key, _ := get("/$default"); status != 404 || key != "ANY /$default" {
		t.Errorf("unmarked: GET /$default = %d %q; want the literal route ANY /$default", status, key)
	}
}

func TestFunctionFailures(t *testing.T) {
	cases := []struct {
		name       string
		out        string
		fnErr      string
		err        error
		wantStatus int
		wantBody   string
	}{
		{"function error", `{"errorMessage":"boom"}`, "Unhandled", nil, 500, `{"message":"Internal Server Error"}`},
		{"invoke error", ``, "", errors.New("down"), 500, `{"message":"Internal Server Error"}`},
		{"unstructured body is 200", `{"hello":"world"}`, "", nil, 200, `{"hello":"world"}`},
		{"base64 response", `{"statusCode":201,"isBase64Encoded":true,"body":"aGk="}`, "", nil, 201, `hi`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := New([]Route{{Method: "GET", Path: "/x", Function: "F"}}, fakeInvoker{fn: func(string, []byte) ([]byte, string, error) {
				return []byte(tc.out), tc.fnErr, tc.err
			}})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
			if rec.Code != tc.wantStatus || rec.Body.String() != tc.wantBody {
				t.Fatalf("got %d %s", rec.Code, rec.Body.String())
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	h := New([]Route{{Method: "POST", Path: "/x", Function: "F"}}, fakeInvoker{fn: func(string, []byte) ([]byte, string, error) {
		t.Fatal("invoked")
		return nil, "", nil
	}})
	h.MaxBody = 10
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/x", strings.NewReader(strings.Repeat("a", 11))))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestIntegrationTimeout(t *testing.T) {
	h := New([]Route{{Method: "GET", Path: "/x", Function: "F"}}, fakeInvoker{fn: nil})
	h.Invoker = blockingInvoker{}
	h.Timeout = 20 * time.Millisecond
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != `{"message":"Service Unavailable"}` {
		t.Fatalf("got %d %s", rec.Code, rec.Body.String())
	}
}

// blockingInvoker answers only when the caller gives up.
type blockingInvoker struct{}

func (blockingInvoker) InvokeSync(ctx context.Context, _ string, _ []byte) ([]byte, string, error) {
	<-ctx.Done()
	return nil, "", ctx.Err()
}
