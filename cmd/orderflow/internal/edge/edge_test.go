package edge

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func auth(service string) string {
	return "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/" + service + "/aws4_request, SignedHeaders=host, Signature=x"
}

func TestIdentify(t *testing.T) {
	cases := []struct {
		name, method, path, service, target, ctype, body string
		want                                             Call
	}{
		{name: "json protocol", method: "POST", path: "/", service: "dynamodb", target: "DynamoDB_20120810.PutItem", want: Call{"dynamodb", "PutItem"}},
		{name: "sqs json", method: "POST", path: "/", service: "sqs", target: "AmazonSQS.SendMessage", want: Call{"sqs", "SendMessage"}},
		{name: "query protocol form body", method: "POST", path: "/", service: "sns", ctype: "application/x-www-form-urlencoded; charset=utf-8", body: "Action=Publish&TopicArn=x", want: Call{"sns", "Publish"}},
		{name: "query string action", method: "GET", path: "/?Action=ListQueues", service: "sqs", want: Call{"sqs", "ListQueues"}},
		{name: "lambda invoke", method: "POST", path: "/2015-03-31/functions/f/invocations", service: "lambda", want: Call{"lambda", "Invoke"}},
		{name: "s3 put object", method: "PUT", path: "/bucket/raw/dt=2026-01-01/x.json", service: "s3", want: Call{"s3", "PutObject"}},
		{name: "s3 list v2", method: "GET", path: "/bucket?list-type=2", service: "s3", want: Call{"s3", "ListObjectsV2"}},
		{name: "unsigned", method: "GET", path: "/", want: Call{"unknown", "unknown"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.service != "" {
				r.Header.Set("Authorization", auth(tc.service))
			}
			if tc.target != "" {
				r.Header.Set("X-Amz-Target", tc.target)
			}
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			if got := Identify(r); got != tc.want {
				t.Fatalf("Identify = %v, want %v", got, tc.want)
			}
			if b, _ := io.ReadAll(r.Body); string(b) != tc.body {
				t.Fatalf("body after Identify = %q, want %q", b, tc.body)
			}
		})
	}
}

func TestAccessKeyID(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	if got := AccessKeyID(r); got != "" {
		t.Errorf("unsigned request: %q", got)
	}
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=OFLH000000000007/20261130/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc")
	if got := AccessKeyID(r); got != "OFLH000000000007" {
		t.Errorf("AccessKeyID = %q", got)
	}
}

func TestFunctionName(t *testing.T) {
	cases := map[string]string{
		"f":                       "f",
		"f:live":                  "f",
		"123456789012:function:f": "f",
		"arn:aws:lambda:us-east-1:123456789012:function:f":         "f",
		"arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST": "f",
	}
	for in, want := range cases {
		t.Run(in, func(t *testing.T) {
			if got := FunctionName(in); got != want {
				t.Fatalf("FunctionName(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

type fakeInvoker struct {
	mu    sync.Mutex
	sync  func(name string, payload []byte) ([]byte, string, error)
	async []string
}

func (f *fakeInvoker) InvokeSync(_ context.Context, name string, payload []byte) ([]byte, string, error) {
	return f.sync(name, payload)
}

func (f *fakeInvoker) Invoke(name string, payload []byte) {
	f.mu.Lock()
	f.async = append(f.async, name+":"+string(payload))
	f.mu.Unlock()
}

// The edge serves Invoke for known functions, proxies everything else, and counts both.
func TestEdge(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "upstream:"+r.URL.Path+":"+string(b))
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	inv := &fakeInvoker{sync: func(name string, p []byte) ([]byte, string, error) {
		if string(p) == `"fail"` {
			return []byte(`{"errorType":"PaymentDeclinedError"}`), "Unhandled", nil
		}
		return []byte(`{"ok":"` + name + `"}`), "", nil
	}}
	h := New(u, &InvokeAPI{Sync: inv, Async: inv, Known: func(n string) bool { return n == "f" }})
	var faults int
	h.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if CallFrom(r).Operation == "DeleteTable" {
				faults++
				http.Error(w, "injected", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	cases := []struct {
		name, path, service, target, invocationType, body string
		status                                            int
		want, fnErr                                       string
	}{
		{name: "invoke by arn", path: "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations", service: "lambda", body: `{}`, status: 200, want: `{"ok":"f"}`},
		{name: "function error", path: "/2015-03-31/functions/f/invocations", service: "lambda", body: `"fail"`, status: 200, want: `{"errorType":"PaymentDeclinedError"}`, fnErr: "Unhandled"},
		{name: "async", path: "/2015-03-31/functions/f/invocations", service: "lambda", invocationType: "Event", body: `{"a":1}`, status: 202},
		{name: "unknown function", path: "/2015-03-31/functions/g/invocations", service: "lambda", body: `{}`, status: 404},
		{name: "proxied", path: "/", service: "dynamodb", target: "DynamoDB_20120810.GetItem", body: `{"x":1}`, status: 200, want: `upstream:/:{"x":1}`},
		{name: "fault injected", path: "/", service: "dynamodb", target: "DynamoDB_20120810.DeleteTable", body: `{}`, status: 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", auth(tc.service))
			if tc.target != "" {
				req.Header.Set("X-Amz-Target", tc.target)
			}
			if tc.invocationType != "" {
				req.Header.Set("X-Amz-Invocation-Type", tc.invocationType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || (tc.want != "" && string(b) != tc.want) || resp.Header.Get("X-Amz-Function-Error") != tc.fnErr {
				t.Fatalf("%d %q (function error %q), want %d %q (%q)", resp.StatusCode, b, resp.Header.Get("X-Amz-Function-Error"), tc.status, tc.want, tc.fnErr)
			}
		})
	}
	counts := map[string]int64{}
	for _, c := range h.Counter.Snapshot() {
		counts[c.String()] = c.N
	}
	want := map[string]int64{"lambda:Invoke": 4, "dynamodb:GetItem": 1, "dynamodb:DeleteTable": 1}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("count %s = %d, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
	if faults != 1 || len(inv.async) != 1 || inv.async[0] != `f:{"a":1}` {
		t.Errorf("faults %d, async %v", faults, inv.async)
	}
}
