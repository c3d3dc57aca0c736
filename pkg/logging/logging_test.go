package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
)

// lines decodes every JSON line the logger wrote.
func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %v\n%s", err, l)
		}
		recs = append(recs, m)
	}
	return recs
}

func one(t *testing.T, out string) map[string]any {
	t.Helper()
	recs := lines(t, out)
	if len(recs) != 1 {
		t.Fatalf("got %d lines, want 1:\n%s", len(recs), out)
	}
	return recs[0]
}

func newLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(logging.NewHandler(buf, slog.LevelDebug))
}

func lambdaCtx(requestID string) context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: requestID})
}

// TestOrderRequestTokenNeverLogged is the rule from the design: a client's payment token
// must not reach the logs, whichever way the request is logged.
func TestOrderRequestTokenNeverLogged(t *testing.T) {
	const token = "tok_visa_4242_SECRETVALUE"
	req := order.Request{CustomerID: "cust-1", Currency: "EUR", PaymentToken: token,
		Lines: []order.Line{{SKU: "SKU-1", Quantity: 2}}}
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var asMap map[string]any
	if err := json.Unmarshal(body, &asMap); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{name: "struct value", log: func(l *slog.Logger) { l.Info("order received", "request", req) }},
		{name: "pointer to struct", log: func(l *slog.Logger) { l.Info("order received", "request", &req) }},
		{name: "decoded map", log: func(l *slog.Logger) { l.Info("order received", "request", asMap) }},
		{name: "raw JSON body", log: func(l *slog.Logger) { l.Info("order received", "body", json.RawMessage(body)) }},
		{name: "field as attribute", log: func(l *slog.Logger) {
			l.Info("order received", "paymentToken", req.PaymentToken, "customerId", req.CustomerID)
		}},
		{name: "body as string", log: func(l *slog.Logger) { l.Info("order received", "body", string(body)) }},
		{name: "body as bytes", log: func(l *slog.Logger) { l.Info("order received", "body", body) }},
		{name: "body inside an API event", log: func(l *slog.Logger) {
			l.Info("event", "event", events.APIGatewayV2HTTPRequest{RawPath: "/orders", Body: string(body),
				Headers: map[string]string{"authorization": "Bearer " + token}})
		}},
		{name: "field in a group", log: func(l *slog.Logger) {
			l.Info("order received", slog.Group("request", "customerId", req.CustomerID, "paymentToken", req.PaymentToken))
		}},
		{name: "logger with group", log: func(l *slog.Logger) {
			l.WithGroup("request").With("paymentToken", req.PaymentToken).Info("order received", "customerId", req.CustomerID)
		}},
		{name: "slice of requests", log: func(l *slog.Logger) { l.Info("batch", "requests", []order.Request{req, req}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(newLogger(&buf))
			out := buf.String()
			if strings.Contains(out, token) {
				t.Fatalf("payment token written in clear:\n%s", out)
			}
			if !strings.Contains(out, logging.Redacted) {
				t.Errorf("no %s marker:\n%s", logging.Redacted, out)
			}
			if !strings.Contains(out, "cust-1") {
				t.Errorf("non-sensitive fields lost:\n%s", out)
			}
			one(t, out)
		})
	}
}

type bearer struct{ value string }

func (b bearer) LogValue() slog.Value { return slog.GroupValue(slog.String("token", b.value)) }

type marshaler struct{}

func (marshaler) MarshalJSON() ([]byte, error) {
	return []byte(`{"Password":"hunter2","user":"ann"}`), nil
}

func TestRedaction(t *testing.T) {
	const secret = "s3cr3t-value"
	tests := []struct {
		name     string
		log      func(l *slog.Logger)
		wantKept []string // substrings that must still be there
	}{
		{name: "token", log: func(l *slog.Logger) { l.Info("m", "token", secret) }},
		{name: "taskToken", log: func(l *slog.Logger) { l.Info("m", "taskToken", secret) }},
		{name: "Authorization header case", log: func(l *slog.Logger) { l.Info("m", "Authorization", "Bearer "+secret) }},
		{name: "password", log: func(l *slog.Logger) { l.Info("m", "password", secret) }},
		{name: "secret", log: func(l *slog.Logger) { l.Info("m", "secret", secret) }},
		{name: "snake case", log: func(l *slog.Logger) { l.Info("m", "payment_token", secret) }},
		{name: "kebab case suffix", log: func(l *slog.Logger) { l.Info("m", "x-client-secret", secret) }},
		{name: "non-string value", log: func(l *slog.Logger) { l.Info("m", "token", 12345678) }},
		{name: "nested groups", log: func(l *slog.Logger) {
			l.Info("m", slog.Group("http", slog.Group("headers", "authorization", secret, "accept", "json")))
		}, wantKept: []string{`"accept":"json"`}},
		{name: "sensitive group name", log: func(l *slog.Logger) {
			l.Info("m", slog.Group("authorization", "scheme", "Bearer", "credentials", secret))
		}},
		{name: "WithAttrs", log: func(l *slog.Logger) { l.With("taskToken", secret).Info("m") }},
		{name: "sensitive WithGroup", log: func(l *slog.Logger) { l.WithGroup("secret").Info("m", "value", secret) }},
		{name: "LogValuer", log: func(l *slog.Logger) { l.Info("m", "auth", bearer{secret}) }},
		{name: "json.Marshaler", log: func(l *slog.Logger) { l.Info("m", "user", marshaler{}) }, wantKept: []string{`"user":"ann"`}},
		{name: "deep map", log: func(l *slog.Logger) {
			l.Info("m", "input", map[string]any{"detail": map[string]any{"items": []any{map[string]any{"TaskToken": secret}}}})
		}},
		{name: "kept: similar but not sensitive", log: func(l *slog.Logger) {
			l.Info("m", "tokenCount", 3, "orderId", "o-1", "input", map[string]int{"tokens": 2})
		}, wantKept: []string{`"tokenCount":3`, `"orderId":"o-1"`, `"tokens":2`}},
		{name: "kept: plain strings and bytes", log: func(l *slog.Logger) {
			l.Info("m", "note", "{token is not JSON", "raw", []byte("token=abc"))
		}, wantKept: []string{`"note":"{token is not JSON"`, `"raw":"dG9rZW49YWJj"`}},
		{name: "kept: large integers stay exact", log: func(l *slog.Logger) {
			l.Info("m", "input", map[string]any{"token": "x", "total": int64(9007199254740993)})
		}, wantKept: []string{`"total":9007199254740993`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(newLogger(&buf))
			out := buf.String()
			if strings.Contains(out, secret) || strings.Contains(out, "hunter2") || strings.Contains(out, "12345678") {
				t.Errorf("secret written in clear:\n%s", out)
			}
			for _, k := range tt.wantKept {
				if !strings.Contains(out, k) {
					t.Errorf("output lacks %s:\n%s", k, out)
				}
			}
			one(t, out)
		})
	}
}

func TestIsSensitive(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"paymentToken", true}, {"token", true}, {"taskToken", true}, {"authorization", true},
		{"Authorization", true}, {"password", true}, {"secret", true}, {"PAYMENT_TOKEN", true},
		{"client-secret", true}, {"pass_word", true}, {"_authorization_", true},
		{"orderId", false}, {"tokenCount", false}, {"secretName", false}, {"authorizationId", false},
		{"xauthorization", false}, {"", false}, {"tok", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := logging.IsSensitive(tt.key); got != tt.want {
				t.Errorf("IsSensitive(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

// TestContainsFold checks that the pre-filter finds every key IsSensitive flags, since a
// miss there would skip redaction.
func TestContainsFold(t *testing.T) {
	tests := []struct {
		raw, word string
		want      bool
	}{
		{`{"PaymentToken":1}`, "token", true},
		{`{"pass_word":1}`, "password", true},
		{`{"AUTHORIZATION":1}`, "authorization", true},
		{`{"tok":1}`, "token", false},
		{`{"_token":1}`, "token", true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if got := logging.ContainsFold([]byte(tt.raw), tt.word); got != tt.want {
				t.Errorf("containsFold(%s, %s) = %v, want %v", tt.raw, tt.word, got, tt.want)
			}
		})
	}
}

func TestContextAttributes(t *testing.T) {
	orderCtx := logging.WithOrder(lambdaCtx("req-1"), "o-1", "c-1")
	tests := []struct {
		name  string
		bound context.Context
		log   func(l *slog.Logger)
		want  map[string]any // top-level members; nil value means absent
		count map[string]int // occurrences of `"key":` in the line
	}{
		{name: "lambda context and order on the line", bound: context.Background(),
			log:  func(l *slog.Logger) { l.InfoContext(orderCtx, "hello", "k", "v") },
			want: map[string]any{"requestId": "req-1", "orderId": "o-1", "correlationId": "c-1", "k": "v", "message": "hello", "level": "INFO"}},
		{name: "outside lambda nothing is invented", bound: context.Background(),
			log:  func(l *slog.Logger) { l.InfoContext(context.Background(), "hello") },
			want: map[string]any{"requestId": nil, "orderId": nil, "correlationId": nil, "message": "hello"}},
		{name: "bound context serves calls without one", bound: orderCtx,
			log:  func(l *slog.Logger) { l.Info("hello") },
			want: map[string]any{"requestId": "req-1", "orderId": "o-1", "correlationId": "c-1"}},
		{name: "call context wins over bound", bound: orderCtx,
			log:  func(l *slog.Logger) { l.InfoContext(logging.WithOrder(lambdaCtx("req-2"), "o-2", ""), "hello") },
			want: map[string]any{"requestId": "req-2", "orderId": "o-2", "correlationId": "c-1"}},
		{name: "stays top level under WithGroup", bound: context.Background(),
			log: func(l *slog.Logger) {
				l.With("a", 1).WithGroup("g").With("b", 2).WithGroup("h").InfoContext(orderCtx, "hello", "c", 3)
			},
			want: map[string]any{"requestId": "req-1", "orderId": "o-1", "a": 1.0,
				"g": map[string]any{"b": 2.0, "h": map[string]any{"c": 3.0}}}},
		{name: "record attribute is not duplicated", bound: context.Background(),
			log:   func(l *slog.Logger) { l.InfoContext(orderCtx, "hello", "orderId", "explicit") },
			want:  map[string]any{"orderId": "explicit", "correlationId": "c-1"},
			count: map[string]int{"orderId": 1}},
		{name: "WithAttrs attribute is not duplicated", bound: context.Background(),
			log:   func(l *slog.Logger) { l.With("correlationId", "explicit").InfoContext(orderCtx, "hello") },
			want:  map[string]any{"correlationId": "explicit", "orderId": "o-1"},
			count: map[string]int{"correlationId": 1}},
		{name: "lambda field names", bound: context.Background(),
			log:  func(l *slog.Logger) { l.Warn("careful") },
			want: map[string]any{"message": "careful", "level": "WARN", "msg": nil, "time": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(logging.NewBound(&buf, tt.bound))
			rec := one(t, buf.String())
			for k, want := range tt.want {
				got, ok := rec[k]
				if want == nil {
					if ok {
						t.Errorf("%s = %v, want absent", k, got)
					}
					continue
				}
				if gm, isMap := got.(map[string]any); isMap {
					gj, _ := json.Marshal(gm)
					wj, _ := json.Marshal(want)
					if string(gj) != string(wj) {
						t.Errorf("%s = %s, want %s", k, gj, wj)
					}
					continue
				}
				if got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			if _, ok := rec["timestamp"]; !ok {
				t.Error("timestamp missing")
			}
			for k, n := range tt.count {
				if got := strings.Count(buf.String(), `"`+k+`":`); got != n {
					t.Errorf("%q appears %d times, want %d:\n%s", k, got, n, buf.String())
				}
			}
		})
	}
}

func TestWithOrder(t *testing.T) {
	tests := []struct {
		name               string
		ctx                context.Context
		orderID, corrID    string
		wantOrder, wantCor string
	}{
		{name: "sets both", ctx: context.Background(), orderID: "o", corrID: "c", wantOrder: "o", wantCor: "c"},
		{name: "empty keeps previous", ctx: logging.WithOrder(context.Background(), "o", "c"), corrID: "c2",
			wantOrder: "o", wantCor: "c2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, c := logging.OrderFromContext(logging.WithOrder(tt.ctx, tt.orderID, tt.corrID))
			if o != tt.wantOrder || c != tt.wantCor {
				t.Errorf("OrderFromContext() = %q, %q; want %q, %q", o, c, tt.wantOrder, tt.wantCor)
			}
		})
	}
}

func TestLevelFromEnv(t *testing.T) {
	tests := []struct {
		lambda, plain string
		want          slog.Level
	}{
		{"", "", slog.LevelInfo},
		{"DEBUG", "", slog.LevelDebug},
		{"TRACE", "", slog.LevelDebug},
		{"WARN", "", slog.LevelWarn},
		{"ERROR", "debug", slog.LevelError},
		{"", "debug", slog.LevelDebug},
		{"nonsense", "", slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.lambda+"/"+tt.plain, func(t *testing.T) {
			t.Setenv("AWS_LAMBDA_LOG_LEVEL", tt.lambda)
			t.Setenv("LOG_LEVEL", tt.plain)
			if got := logging.LevelFromEnv(); got != tt.want {
				t.Errorf("LevelFromEnv() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNewOutsideLambda runs New the way a local tool would: no Lambda environment, so the
// lines go to stderr as JSON.
func TestNewOutsideLambda(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	t.Setenv("AWS_LAMBDA_LOG_LEVEL", "")
	t.Setenv("LOG_LEVEL", "")
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stderr
	os.Stderr = f
	t.Cleanup(func() { os.Stderr = orig })

	l := logging.New(logging.WithOrder(context.Background(), "o-9", ""))
	l.Debug("not at INFO")
	l.Info("local run", "password", "pw")
	os.Stderr = orig

	out, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	rec := one(t, string(out))
	if rec["message"] != "local run" || rec["orderId"] != "o-9" || rec["password"] != logging.Redacted {
		t.Errorf("line = %v", rec)
	}
	if _, ok := rec["requestId"]; ok {
		t.Error("requestId outside Lambda")
	}
}
