package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func auth(service string) string {
	return "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/" + service + "/aws4_request, SignedHeaders=host, Signature=x"
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

// A call signed with InternalAccessKeyID is internal, counted apart from the product's.
func TestInternalCalls(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	h := New(u, nil)
	for _, akid := range []string{"test", InternalAccessKeyID, InternalAccessKeyID} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+akid+"/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x")
		r.Header.Set("X-Amz-Target", "AmazonSQS.ReceiveMessage")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	got := h.Counter.Snapshot()
	want := []Count{{Call{Service: "sqs", Operation: "ReceiveMessage"}, 1}, {Call{Service: "sqs", Operation: "ReceiveMessage", Internal: true}, 2}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	if h.Counter.Total() != 1 {
		t.Errorf("Total = %d, want the product's 1", h.Counter.Total())
	}
}

// Before the stack is ready the edge answers 503 with the message (and ReadyPath says
// so), lets AWS-internal calls through; after SetReady it serves everything.
func TestReadiness(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") }))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	h := New(u, nil)
	h.Readiness = &Readiness{Message: "starting: run orderflow local wait"}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path, akid string) (int, string) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+akid+"/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x")
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.PutItem")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/", "test"); code != 503 || !strings.Contains(body, "orderflow local wait") || !strings.Contains(body, `"__type":"ServiceUnavailable"`) {
		t.Errorf("before ready: %d %s, want 503 with the message", code, body)
	}
	if code, body := get(ReadyPath, "test"); code != 503 || !strings.Contains(body, `"ready":false`) {
		t.Errorf("ready path before ready: %d %s", code, body)
	}
	if code, body := get("/", InternalAccessKeyID); code != 200 || body != "served" {
		t.Errorf("internal call before ready: %d %s, want it served", code, body)
	}
	h.Readiness.SetReady()
	if code, body := get("/", "test"); code != 200 || body != "served" {
		t.Errorf("after ready: %d %s", code, body)
	}
	if code, body := get(ReadyPath, "test"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Errorf("ready path after ready: %d %s", code, body)
	}
}

// ListFunctions, GetFunction and GetFunctionConfiguration through the SDK show the
// wired functions; before Wire every Lambda call is a 503.
func TestListAndGetFunctions(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	api := &InvokeAPI{}
	srv := httptest.NewServer(New(u, api))
	defer srv.Close()
	c := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	ctx := context.Background()
	if _, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("ListFunctions before Wire: %v, want a 503", err)
	}
	api.Wire(&fakeInvoker{}, &fakeInvoker{}, []Function{
		{Name: "orders-ingest", ARN: "arn:aws:lambda:us-east-1:123456789012:function:orders-ingest", Runtime: "provided.al2023",
			Handler: "bootstrap", MemoryMB: 256, Timeout: 10 * time.Second, Env: map[string]string{"ORDERS_TABLE": "orders-dev"},
			Architectures: []string{"arm64"}, CodeLocation: "/build/local/ingest/bootstrap"},
		{Name: "orders-analytics", ARN: "arn:aws:lambda:us-east-1:123456789012:function:orders-analytics", Runtime: "provided.al2023", Handler: "bootstrap"},
	})
	list, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range list.Functions {
		names = append(names, aws.ToString(f.FunctionName))
	}
	if strings.Join(names, ",") != "orders-analytics,orders-ingest" {
		t.Errorf("ListFunctions = %v", names)
	}
	got, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:function:orders-ingest")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := got.Configuration
	if aws.ToString(cfg.FunctionName) != "orders-ingest" || aws.ToInt32(cfg.MemorySize) != 256 || aws.ToInt32(cfg.Timeout) != 10 ||
		cfg.Runtime != "provided.al2023" || cfg.Environment.Variables["ORDERS_TABLE"] != "orders-dev" ||
		len(cfg.Architectures) != 1 || cfg.Architectures[0] != "arm64" || aws.ToString(got.Code.Location) != "/build/local/ingest/bootstrap" {
		t.Errorf("GetFunction = %+v, code %+v", cfg, got.Code)
	}
	conf, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("orders-analytics")})
	if err != nil || aws.ToString(conf.FunctionArn) != "arn:aws:lambda:us-east-1:123456789012:function:orders-analytics" {
		t.Errorf("GetFunctionConfiguration = %+v, %v", conf, err)
	}
	var missing *lambdatypes.ResourceNotFoundException
	if _, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("nope")}); !errors.As(err, &missing) {
		t.Errorf("GetFunction of an unknown function: %v, want ResourceNotFoundException", err)
	}
}
