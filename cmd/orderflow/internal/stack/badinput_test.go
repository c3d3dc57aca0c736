package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/orderflow/orderflow/tools/awstest"
	"github.com/orderflow/orderflow/tools/emulator"
)

// badInputUp starts a stack as up does, but keeps every log it writes (the functions',
// the stack's own and moto's) in logs, so a test can search all of it.
func badInputUp(t *testing.T, logs *awstest.SyncBuffer) *Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("starts moto and the functions")
	}
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := Up(ctx, Options{Template: filepath.Join(root, "template.yaml"), Dir: root, Build: true,
		BuildDir: t.TempDir(), LockDir: t.TempDir(), FunctionLog: logs, EmulatorLog: logs,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if errors.Is(err, emulator.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack and function output:\n%s", logs.String())
		}
	})
	return s
}

// biRequest is one HTTP request of the bad-input table.
type biRequest struct {
	method, path, contentType, key string
	body                           []byte
}

// biAnswer is what came back.
type biAnswer struct {
	status int
	header http.Header
	body   []byte
}

func biDo(t *testing.T, c *http.Client, base string, r biRequest) biAnswer {
	t.Helper()
	req, err := http.NewRequest(r.method, base+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.key != "" {
		req.Header.Set("Idempotency-Key", r.key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return biAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

// biBody is a valid order body with fields replaced (a nil value deletes the field).
func biBody(t *testing.T, set map[string]any) []byte {
	t.Helper()
	m := map[string]any{"customerId": "c-bad-input", "currency": "USD",
		"lines": []any{map[string]any{"sku": "SKU-MUG-001", "quantity": 1}}, "paymentToken": "tok_visa"}
	for k, v := range set {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func biLines(n int, sku func(i int) string) []any {
	lines := make([]any, n)
	for i := range lines {
		lines[i] = map[string]any{"sku": sku(i), "quantity": 1}
	}
	return lines
}

// Every kind of bad input over real HTTP gets the status and error code the README's
// "HTTP API" table documents, never a 5xx: the real ingest binary behind the local HTTP
// API, which caps bodies at 10 MB as API Gateway does. Then an order runs through every
// function, and its payment token appears in no answer, no log line of any function, of
// the stack or of moto, and no Step Functions execution history.
func TestBadInputOverHTTP(t *testing.T) {
	logs := &awstest.SyncBuffer{}
	s := badInputUp(t, logs)
	defer s.Close()
	c := &http.Client{Timeout: 60 * time.Second}
	const ctJSON = "application/json"
	validOrderID := "01956a1e-9c00-7abc-8def-000000000001"
	cases := []struct {
		name   string
		req    biRequest
		status int
		code   string // "" for API Gateway's own {"message": ...} answer
		field  string // a details[].field the answer must name, when set
		allow  string
	}{
		{name: "empty body", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON}, status: 400, code: "VALIDATION_FAILED", field: "body"},
		{name: "malformed JSON", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON, body: []byte(`{"customerId":"c-1",`)}, status: 400, code: "VALIDATION_FAILED", field: "body"},
		{name: "not an object", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON, body: []byte(`[1,2]`)}, status: 400, code: "VALIDATION_FAILED"},
		{name: "two objects", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON, body: []byte(`{} {}`)}, status: 400, code: "VALIDATION_FAILED"},
		{name: "quantity of the wrong type", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": []any{map[string]any{"sku": "SKU-MUG-001", "quantity": "2"}}})}, status: 400, code: "VALIDATION_FAILED", field: "lines.quantity"},
		{name: "customerId of the wrong type", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"customerId": 42})}, status: 400, code: "VALIDATION_FAILED", field: "customerId"},
		{name: "lines of the wrong type", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": "SKU-MUG-001"})}, status: 400, code: "VALIDATION_FAILED", field: "lines"},
		{name: "huge quantity", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: []byte(`{"customerId":"c-1","currency":"USD","lines":[{"sku":"SKU-MUG-001","quantity":99999999999999999999999}],"paymentToken":"tok_visa"}`)}, status: 400, code: "VALIDATION_FAILED", field: "lines.quantity"},
		{name: "quantity above the limit", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": []any{map[string]any{"sku": "SKU-MUG-001", "quantity": 1001}}})}, status: 400, code: "VALIDATION_FAILED", field: "lines[0].quantity"},
		{name: "fractional quantity", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": []any{map[string]any{"sku": "SKU-MUG-001", "quantity": 1.5}}})}, status: 400, code: "VALIDATION_FAILED", field: "lines.quantity"},
		{name: "negative quantity", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": []any{map[string]any{"sku": "SKU-MUG-001", "quantity": -3}}})}, status: 400, code: "VALIDATION_FAILED", field: "lines[0].quantity"},
		{name: "zero quantity", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": []any{map[string]any{"sku": "SKU-MUG-001", "quantity": 0}}})}, status: 400, code: "VALIDATION_FAILED", field: "lines[0].quantity"},
		{name: "no lines", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": []any{}})}, status: 400, code: "VALIDATION_FAILED", field: "lines"},
		{name: "too many lines", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": biLines(51, func(i int) string { return fmt.Sprintf("SKU-%d", i) })})}, status: 400, code: "VALIDATION_FAILED", field: "lines"},
		{name: "duplicate SKUs", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": biLines(2, func(int) string { return "SKU-MUG-001" })})}, status: 400, code: "VALIDATION_FAILED", field: "lines[1].sku"},
		{name: "client unit price", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": []any{map[string]any{"sku": "SKU-MUG-001", "quantity": 1, "unitPrice": 1}}})}, status: 400, code: "VALIDATION_FAILED", field: "unitPrice"},
		{name: "unknown field", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"total": 0})}, status: 400, code: "VALIDATION_FAILED", field: "total"},
		{name: "missing paymentToken", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"paymentToken": nil})}, status: 400, code: "VALIDATION_FAILED", field: "paymentToken"},
		{name: "unknown currency", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"currency": "XYZ"})}, status: 400, code: "VALIDATION_FAILED", field: "currency"},
		{name: "over-long customerId", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"customerId": strings.Repeat("c", 65)})}, status: 400, code: "VALIDATION_FAILED", field: "customerId"},
		{name: "over-long sku", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": biLines(1, func(int) string { return strings.Repeat("S", 65) })})}, status: 400, code: "VALIDATION_FAILED", field: "lines[0].sku"},
		{name: "over-long paymentToken", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"paymentToken": strings.Repeat("t", 129)})}, status: 400, code: "VALIDATION_FAILED", field: "paymentToken"},
		{name: "over-long Idempotency-Key", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON, key: strings.Repeat("k", 129),
			body: biBody(t, nil)}, status: 400, code: "VALIDATION_FAILED", field: "Idempotency-Key"},
		{name: "unicode customerId", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"customerId": "клиент-1"})}, status: 400, code: "VALIDATION_FAILED", field: "customerId"},
		{name: "unicode sku", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"lines": biLines(1, func(int) string { return "SKU-☕" })})}, status: 400, code: "VALIDATION_FAILED", field: "lines[0].sku"},
		{name: "control character in paymentToken", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"paymentToken": "tok\u0000visa"})}, status: 400, code: "VALIDATION_FAILED", field: "paymentToken"},
		{name: "unicode Idempotency-Key", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON, key: "ключ",
			body: biBody(t, nil)}, status: 400, code: "VALIDATION_FAILED", field: "Idempotency-Key"},
		{name: "invalid UTF-8 body", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: []byte("{\"customerId\":\"c-\xff\",\"currency\":\"USD\",\"lines\":[{\"sku\":\"SKU-MUG-001\",\"quantity\":1}],\"paymentToken\":\"tok_visa\"}")}, status: 400, code: "VALIDATION_FAILED", field: "customerId"},
		{name: "body over 64 KiB", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: biBody(t, map[string]any{"customerId": strings.Repeat("c", 70<<10)})}, status: 413, code: "PAYLOAD_TOO_LARGE"},
		{name: "10 MB body", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: bytes.Repeat([]byte(" "), 10<<20)}, status: 413, code: "PAYLOAD_TOO_LARGE"},
		{name: "body over 10 MB (API Gateway's limit)", req: biRequest{method: "POST", path: "/orders", contentType: ctJSON,
			body: bytes.Repeat([]byte(" "), 10<<20+1)}, status: 413, code: ""},
		{name: "missing content type", req: biRequest{method: "POST", path: "/orders", body: biBody(t, nil)}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "text/plain", req: biRequest{method: "POST", path: "/orders", contentType: "text/plain", body: biBody(t, nil)}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "form content type", req: biRequest{method: "POST", path: "/orders", contentType: "application/x-www-form-urlencoded", body: []byte("customerId=c-1")}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "JSON in another charset", req: biRequest{method: "POST", path: "/orders", contentType: "application/json; charset=iso-8859-1", body: biBody(t, nil)}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "DELETE /orders", req: biRequest{method: "DELETE", path: "/orders"}, status: 405, code: "METHOD_NOT_ALLOWED", allow: "GET, POST"},
		// IAM mode (the default): a trusted service lists a customer's orders by naming it.
		{name: "GET /orders without customerId", req: biRequest{method: "GET", path: "/orders"}, status: 400, code: "VALIDATION_FAILED", field: "customerId"},
		{name: "POST /orders/{orderId}", req: biRequest{method: "POST", path: "/orders/" + validOrderID, contentType: ctJSON, body: biBody(t, nil)}, status: 405, code: "METHOD_NOT_ALLOWED", allow: "GET"},
		{name: "unknown route", req: biRequest{method: "GET", path: "/customers"}, status: 404, code: "ROUTE_NOT_FOUND"},
		{name: "unknown nested route", req: biRequest{method: "GET", path: "/orders/" + validOrderID + "/lines"}, status: 404, code: "ROUTE_NOT_FOUND"},
		{name: "unknown order", req: biRequest{method: "GET", path: "/orders/" + validOrderID}, status: 404, code: "NOT_FOUND"},
		{name: "over-long order id", req: biRequest{method: "GET", path: "/orders/" + strings.Repeat("0", 300)}, status: 404, code: "NOT_FOUND"},
		{name: "unicode order id", req: biRequest{method: "GET", path: "/orders/%E2%98%95"}, status: 404, code: "NOT_FOUND"},
	}
	t.Run("bad input", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				a := biDo(t, c, s.HTTPURL, tc.req)
				if a.status >= 500 {
					t.Fatalf("%d for a client's mistake: %.300s", a.status, a.body)
				}
				if a.status != tc.status {
					t.Errorf("status %d, want %d: %.300s", a.status, tc.status, a.body)
				}
				if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q, want JSON", ct)
				}
				if tc.allow != "" && a.header.Get("Allow") != tc.allow {
					t.Errorf("Allow %q, want %q", a.header.Get("Allow"), tc.allow)
				}
				var e struct {
					Message string `json:"message"`
					Error   struct {
						Code    string `json:"code"`
						Message string `json:"message"`
						Details []struct {
							Field string `json:"field"`
						} `json:"details"`
					} `json:"error"`
				}
				if err := json.Unmarshal(a.body, &e); err != nil {
					t.Fatalf("answer is not JSON (%v): %.300s", err, a.body)
				}
				if tc.code == "" { // API Gateway's own answer, before the function
					if e.Message == "" || e.Error.Code != "" {
						t.Errorf("want API Gateway's {\"message\": ...}, got %.300s", a.body)
					}
					return
				}
				if e.Error.Code != tc.code || e.Error.Message == "" {
					t.Errorf("error %q (%q), want code %s with a message", e.Error.Code, e.Error.Message, tc.code)
				}
				if tc.field == "" {
					return
				}
				var fields []string
				for _, d := range e.Error.Details {
					fields = append(fields, d.Field)
				}
				if !strings.Contains(strings.Join(fields, " "), tc.field) {
					t.Errorf("details name %q, want %q", fields, tc.field)
				}
			})
		}
	})
	t.Run("same Idempotency-Key, other body", func(t *testing.T) {
		key := "bad-input-" + randomHex(t, 8)
		first := biDo(t, c, s.HTTPURL, biRequest{method: "POST", path: "/orders", contentType: ctJSON, key: key, body: biBody(t, nil)})
		if first.status != 202 {
			t.Fatalf("first POST: %d %s", first.status, first.body)
		}
		again := biDo(t, c, s.HTTPURL, biRequest{method: "POST", path: "/orders", contentType: ctJSON, key: key,
			body: biBody(t, map[string]any{"customerId": "c-other"})})
		if again.status != 409 || !bytes.Contains(again.body, []byte(`"IDEMPOTENCY_KEY_REUSED"`)) {
			t.Errorf("reused key: %d %s, want 409 IDEMPOTENCY_KEY_REUSED", again.status, again.body)
		}
	})

	t.Run("payment token never logged", func(t *testing.T) {
		// Unique tokens, so that a hit cannot be a coincidence: an order that is confirmed
		// (ingest, process, inventory, notify, analytics all run), one rejected by the
		// state machine (unknown SKU) and one the API refuses (invalid currency).
		tokens := map[string][]byte{
			"confirmed": []byte("tok_" + randomHex(t, 12)),
			"rejected":  []byte("tok_" + randomHex(t, 12)),
			"refused":   []byte("tok_" + randomHex(t, 12)),
		}
		var answers bytes.Buffer
		order := func(token []byte, set map[string]any) biAnswer {
			set["paymentToken"] = string(token)
			a := biDo(t, c, s.HTTPURL, biRequest{method: "POST", path: "/orders", contentType: ctJSON,
				key: "token-" + randomHex(t, 8), body: biBody(t, set)})
			answers.Write(a.body)
			return a
		}
		confirmed := order(tokens["confirmed"], map[string]any{})
		rejected := order(tokens["rejected"], map[string]any{"lines": biLines(1, func(int) string { return "SKU-NOPE-404" })})
		if refused := order(tokens["refused"], map[string]any{"currency": "XYZ"}); refused.status != 400 {
			t.Fatalf("invalid order: %d %s", refused.status, refused.body)
		}
		for what, want := range map[string]struct {
			a      biAnswer
			status string
		}{"confirmed": {confirmed, "CONFIRMED"}, "rejected": {rejected, "REJECTED"}} {
			var created struct {
				OrderID string `json:"orderId"`
			}
			if err := json.Unmarshal(want.a.body, &created); want.a.status != 202 || err != nil {
				t.Fatalf("%s order: %d %s", what, want.a.status, want.a.body)
			}
			awstest.Eventually(t, 30*time.Second, func() (bool, string) {
				a := biDo(t, c, s.HTTPURL, biRequest{method: "GET", path: "/orders/" + created.OrderID})
				answers.Write(a.body)
				return bytes.Contains(a.body, []byte(`"status":"`+want.status+`"`)), fmt.Sprintf("%s order: %s", what, a.body)
			})
		}
		// The confirmed order's last effects (notification, metrics) run after CONFIRMED
		// is stored: wait until notify and analytics have run (each answers at least once).
		awstest.Eventually(t, 30*time.Second, func() (bool, string) {
			counts := map[string]int64{}
			for _, call := range s.Calls.Snapshot() {
				counts[call.String()] += call.N
			}
			return counts["sns:Publish"] > 0 && counts["s3:PutObject"] > 0, fmt.Sprintf("edge calls: %v", counts)
		})
		history := executionHistories(t, s)
		for what, tok := range tokens {
			for where, text := range map[string][]byte{"an HTTP answer": answers.Bytes(), "a log": logs.Bytes(),
				"a Step Functions execution history": history} {
				if bytes.Contains(text, tok) {
					t.Errorf("the %s order's payment token is in %s", what, where)
				}
			}
		}
		if !bytes.Contains(logs.Bytes(), []byte("order accepted")) {
			t.Errorf("the function log was not captured: no ingest line in it")
		}
	})
}

// executionHistories returns every execution history of the state machine, as JSON.
func executionHistories(t *testing.T, s *Stack) []byte {
	t.Helper()
	ctx := context.Background()
	client := sfn.NewFromConfig(s.Config)
	list, err := client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(s.StateMachineARN)})
	if err != nil {
		t.Fatalf("list executions: %v", err)
	}
	if len(list.Executions) == 0 {
		t.Fatal("no execution of the state machine")
	}
	var out bytes.Buffer
	for _, ex := range list.Executions {
		h, err := client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: ex.ExecutionArn, IncludeExecutionData: aws.Bool(true)})
		if err != nil {
			t.Fatalf("execution history: %v", err)
		}
		b, _ := json.Marshal(h.Events)
		out.Write(b)
	}
	return out.Bytes()
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
