package chaos

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/edge"
)

func signed(r *http.Request, service string) *http.Request {
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/"+service+"/aws4_request, SignedHeaders=host, Signature=x")
	return r
}

// TestErrorsInEachProtocol: a rule at rate 1 answers in the protocol's error format.
func TestErrorsInEachProtocol(t *testing.T) {
	tests := []struct {
		name, service, kind string
		req                 func() *http.Request
		status              int
		body                string
	}{
		{"dynamodb throttling", "dynamodb", "throttle", func() *http.Request {
			r := httptest.NewRequest("POST", "/", strings.NewReader(`{"TableName":"orders-dev"}`))
			r.Header.Set("X-Amz-Target", "DynamoDB_20120810.PutItem")
			r.Header.Set("Content-Type", "application/x-amz-json-1.0")
			return r
		}, 400, `"__type":"ThrottlingException"`},
		{"sns throttling", "sns", "throttle", func() *http.Request {
			r := httptest.NewRequest("POST", "/", strings.NewReader("Action=Publish&TopicArn=x"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 400, "<Code>Throttling</Code>"},
		{"s3 slow down", "s3", "throttle", func() *http.Request { return httptest.NewRequest("PUT", "/bucket/key", nil) }, 503, "<Code>SlowDown</Code>"},
		{"sqs json server error", "sqs", "5xx", func() *http.Request {
			r := httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
			r.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
			r.Header.Set("Content-Type", "application/x-amz-json-1.0")
			return r
		}, 0, `"__type":"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := New(Spec{Errors: []ErrorRule{{Service: tt.service, Rate: 1, Kind: tt.kind}}})
			reached := false
			up, _ := url.Parse("http://127.0.0.1:1")
			e := edge.New(up, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
			e.Use(in.Middleware)
			w := httptest.NewRecorder()
			e.ServeHTTP(w, signed(tt.req(), tt.service))
			if reached {
				t.Fatal("the call went through")
			}
			if tt.status != 0 && w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			if tt.status == 0 && w.Code < 500 {
				t.Errorf("status %d, want 5xx", w.Code)
			}
			if !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("body %s, want %s", w.Body.String(), tt.body)
			}
			if st := in.Stats(); Sum(st.Errors) != 1 {
				t.Errorf("counted %v", st.Errors)
			}
		})
	}
}

// TestRatesAndResource: rate 0 and a non-matching resource never inject; duplicates and
// crashes follow their rates.
func TestRatesAndResource(t *testing.T) {
	in := New(Spec{Seed: 7, Errors: []ErrorRule{{Service: "dynamodb", Resource: "inventory-dev", Rate: 1}},
		Duplicate: Duplicate{SQS: 0.5}, Crash: Crash{Rate: 1, Functions: []string{"inventory"}}})
	r := signed(httptest.NewRequest("POST", "/", strings.NewReader(`{"TableName":"orders-dev"}`)), "dynamodb")
	if _, f := in.decide(r, edge.Identify(r)); f != nil {
		t.Error("injected on another table")
	}
	r = signed(httptest.NewRequest("POST", "/", strings.NewReader(`{"TableName":"inventory-dev"}`)), "dynamodb")
	if _, f := in.decide(r, edge.Identify(r)); f == nil {
		t.Error("did not inject on the named table")
	}
	dups := 0
	for range 1000 {
		if in.Duplicate("sqs") {
			dups++
		}
		if in.Duplicate("kinesis") {
			t.Fatal("kinesis duplicated at rate 0")
		}
	}
	if dups < 400 || dups > 600 {
		t.Errorf("%d duplicates of 1000 at rate 0.5", dups)
	}
	if _, ok := in.KillAfter("orderflow-dev-notify"); ok {
		t.Error("killed a function the spec does not name")
	}
	if _, ok := in.KillAfter("orderflow-dev-inventory"); !ok {
		t.Error("did not kill at rate 1")
	}
}
