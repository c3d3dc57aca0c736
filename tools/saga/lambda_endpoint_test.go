package saga_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/pkg/handler/process"
	"github.com/orderflow/orderflow/pkg/payment"
)

// TestLambdaEndpoint checks that the test's Lambda endpoint answers Invoke as Lambda does,
// since the state machine's Catch rules are only as good as the errorType it reports.
func TestLambdaEndpoint(t *testing.T) {
	e := newLambdaEndpoint()
	e.register("fn", func(ctx context.Context, requestID string, payload []byte) ([]byte, string, string) {
		var in struct{ Fail string }
		_ = json.Unmarshal(payload, &in)
		switch in.Fail {
		case "typed":
			return invoke(ctx, func(context.Context, json.RawMessage) (any, error) {
				return nil, &payment.PaymentDeclinedError{OrderID: "o1", Reason: "card declined"}
			}, requestID, payload)
		case "wrapped":
			return invoke(ctx, func(context.Context, json.RawMessage) (any, error) {
				return nil, fmt.Errorf("authorize: %w", &payment.PaymentDeclinedError{OrderID: "o1", Reason: "card declined"})
			}, requestID, payload)
		case "bad task":
			return invoke(ctx, (&process.Handler{}).Handle, requestID, []byte(`{"action":"validate"}`))
		}
		return invoke(ctx, func(context.Context, json.RawMessage) (map[string]bool, error) {
			return map[string]bool{"ok": true}, nil
		}, requestID, payload)
	})
	const arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
	tests := []struct {
		name      string
		path      string
		body      string
		wantCode  int
		wantError string // X-Amz-Function-Error
		wantBody  string // a substring
	}{
		{name: "result by ARN", path: arn, body: `{}`, wantCode: 200, wantBody: `{"ok":true}`},
		{name: "result by qualified ARN", path: arn + ":$LATEST", body: `{}`, wantCode: 200, wantBody: `{"ok":true}`},
		{name: "result by name", path: "fn", body: `{}`, wantCode: 200, wantBody: `{"ok":true}`},
		{name: "typed error", path: arn, body: `{"Fail":"typed"}`, wantCode: 200, wantError: "Unhandled",
			wantBody: `"errorType":"PaymentDeclinedError"`},
		{name: "wrapped error loses its type", path: arn, body: `{"Fail":"wrapped"}`, wantCode: 200, wantError: "Unhandled",
			wantBody: `"errorType":"wrapError"`},
		{name: "process handler error", path: arn, body: `{"Fail":"bad task"}`, wantCode: 200, wantError: "Unhandled",
			wantBody: `"errorType":"BadTaskError"`},
		{name: "unknown function", path: "arn:aws:lambda:us-east-1:123456789012:function:other", body: `{}`, wantCode: 404,
			wantBody: "Function not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/2015-03-31/functions/"+tt.path+"/invocations", strings.NewReader(tt.body))
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode || rec.Header().Get("X-Amz-Function-Error") != tt.wantError {
				t.Errorf("status %d, X-Amz-Function-Error %q; want %d, %q", rec.Code, rec.Header().Get("X-Amz-Function-Error"), tt.wantCode, tt.wantError)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body = %s, want it to contain %s", rec.Body.String(), tt.wantBody)
			}
			if tt.wantError != "" {
				var body struct{ ErrorMessage, ErrorType string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.ErrorMessage == "" {
					t.Errorf("error body = %s (%v), want errorMessage and errorType", rec.Body.String(), err)
				}
			}
		})
	}
	t.Run("other requests are proxied", func(t *testing.T) {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=SendMessage")))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("without a proxy: status %d, want 503", rec.Code)
		}
		e.setProxy(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
		rec = httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=SendMessage")))
		if rec.Code != http.StatusTeapot {
			t.Errorf("with a proxy: status %d, want the proxy's 418", rec.Code)
		}
	})
}
