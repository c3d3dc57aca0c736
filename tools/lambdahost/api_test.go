package lambdahost

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/tools/awstest"
)

func TestFunctionName(t *testing.T) {
	tests := []struct {
		in, name, qualifier string
	}{
		{"fn", "fn", ""},
		{"fn:$LATEST", "fn", "$LATEST"},
		{"123456789012:function:fn", "fn", ""},
		{"123456789012:function:fn:live", "fn", "live"},
		{"arn:aws:lambda:us-east-1:123456789012:function:fn", "fn", ""},
		{"arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST", "fn", "$LATEST"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			name, q := FunctionName(tc.in)
			if name != tc.name || q != tc.qualifier {
				t.Errorf("FunctionName(%q) = %q, %q, want %q, %q", tc.in, name, q, tc.name, tc.qualifier)
			}
		})
	}
}

func TestInvokeAPI(t *testing.T) {
	type async struct {
		fn      string
		payload string
	}
	queued := make(chan async, 1)
	h := newHost(t, Options{OnAsync: func(fn string, payload []byte) { queued <- async{fn, string(payload)} }},
		testFunction("fn", &awstest.SyncBuffer{}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	arn := "arn:aws:lambda:us-east-1:123456789012:function:fn"
	tests := []struct {
		name       string
		method     string
		fn         string // FunctionName path segment, escaped here
		query      string
		invType    string
		body       string
		wantStatus int
		wantFnErr  string
		wantCode   string // X-Amzn-ErrorType
		wantBody   string // substring
	}{
		{name: "by name", fn: "fn", body: `{"op":"echo","msg":"hi"}`, wantStatus: 200, wantBody: `"msg":"hi"`},
		{name: "by full ARN", fn: arn, body: `{"op":"echo","msg":"arn"}`, wantStatus: 200, wantBody: `"msg":"arn"`},
		{name: "by partial ARN", fn: "123456789012:function:fn", body: `{"op":"echo","msg":"p"}`, wantStatus: 200, wantBody: `"msg":"p"`},
		{name: "ARN with $LATEST", fn: arn + ":$LATEST", body: `{"op":"echo"}`, wantStatus: 200},
		{name: "Qualifier $LATEST", fn: "fn", query: "Qualifier=%24LATEST", body: `{"op":"echo"}`, wantStatus: 200},
		{name: "function error", fn: "fn", body: `{"op":"error","msg":"bad"}`, wantStatus: 200, wantFnErr: "Unhandled", wantBody: `"errorType":"OrderInvalid"`},
		{name: "empty payload is {}", fn: "fn", wantStatus: 200, wantFnErr: "Unhandled", wantBody: `unknown op`},
		{name: "unknown function", fn: "nope", body: `{}`, wantStatus: 404, wantCode: "ResourceNotFoundException", wantBody: "Function not found: nope"},
		{name: "other qualifier", fn: "fn:live", body: `{}`, wantStatus: 404, wantCode: "ResourceNotFoundException"},
		{name: "dry run", fn: "fn", invType: "DryRun", body: `{}`, wantStatus: 204},
		{name: "event", fn: "fn", invType: "Event", body: `{"op":"echo"}`, wantStatus: 202},
		{name: "bad invocation type", fn: "fn", invType: "Later", body: `{}`, wantStatus: 400, wantCode: "InvalidParameterValueException"},
		{name: "not JSON", fn: "fn", body: `{op`, wantStatus: 400, wantCode: "InvalidRequestContentException"},
		{name: "too large", fn: "fn", invType: "Event", body: `"` + strings.Repeat("x", maxAsyncPayload) + `"`, wantStatus: 413, wantCode: "RequestTooLargeException"},
		{name: "GET", method: http.MethodGet, fn: "fn", wantStatus: 405, wantCode: "UnknownOperationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			u := srv.URL + "/2015-03-31/functions/" + url.PathEscape(tc.fn) + "/invocations"
			if tc.query != "" {
				u += "?" + tc.query
			}
			req, err := http.NewRequest(method, u, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.invType != "" {
				req.Header.Set("X-Amz-Invocation-Type", tc.invType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.wantStatus)
			}
			if got := resp.Header.Get("X-Amz-Function-Error"); got != tc.wantFnErr {
				t.Errorf("X-Amz-Function-Error = %q, want %q", got, tc.wantFnErr)
			}
			if got := resp.Header.Get("X-Amzn-ErrorType"); got != tc.wantCode {
				t.Errorf("X-Amzn-ErrorType = %q, want %q", got, tc.wantCode)
			}
			if !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("body %s, want it to contain %q", body, tc.wantBody)
			}
			if tc.wantStatus == 200 {
				if v := resp.Header.Get("X-Amz-Executed-Version"); v != "$LATEST" {
					t.Errorf("X-Amz-Executed-Version = %q", v)
				}
				var r fnReply
				if tc.wantFnErr == "" && (json.Unmarshal(body, &r) != nil || r.RequestID != resp.Header.Get("X-Amzn-Requestid")) {
					t.Errorf("request id header %q, function saw %q", resp.Header.Get("X-Amzn-Requestid"), r.RequestID)
				}
			}
			if tc.wantCode != "" {
				var e struct{ Message string }
				if err := json.Unmarshal(body, &e); err != nil || e.Message == "" {
					t.Errorf("error body %s has no Message", body)
				}
			}
			if tc.invType == "Event" && tc.wantStatus == 202 {
				select {
				case a := <-queued:
					if a.fn != "fn" || a.payload != tc.body {
						t.Errorf("OnAsync got %+v", a)
					}
				case <-time.After(time.Second):
					t.Error("OnAsync was not called")
				}
			}
		})
	}
}

// TestRuntimeAPI covers what aws-lambda-go never does: answers for unknown request ids,
// an init error, the streaming-error trailers and an oversized response.
func TestRuntimeAPI(t *testing.T) {
	newProc := func() (*proc, *httptest.Server) {
		p := &proc{fn: &Function{Name: "fn"}, pending: make(chan *invocation), ready: make(chan struct{}),
			stopping: make(chan struct{}), exited: make(chan struct{})}
		srv := httptest.NewServer(p.routes())
		t.Cleanup(srv.Close)
		return p, srv
	}
	post := func(t *testing.T, u string, body io.Reader, trailer http.Header) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, u, body)
		req.Trailer = trailer
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("unknown request id", func(t *testing.T) {
		_, srv := newProc()
		for _, kind := range []string{"response", "error"} {
			if code := post(t, srv.URL+"/2018-06-01/runtime/invocation/nope/"+kind, strings.NewReader("{}"), nil); code != 400 {
				t.Errorf("%s for an unknown id: %d, want 400", kind, code)
			}
		}
	})
	t.Run("init error", func(t *testing.T) {
		p, srv := newProc()
		if code := post(t, srv.URL+"/2018-06-01/runtime/init/error", strings.NewReader(`{"errorMessage":"no table","errorType":"Runtime.ConfigError"}`), nil); code != 202 {
			t.Fatalf("init/error: %d, want 202", code)
		}
		o := (&pool{fn: Function{Name: "fn"}}).crashed(p, &invocation{id: "r"}, outcome{})
		if o.res.ErrorType != "Runtime.ConfigError" || !strings.Contains(string(o.res.Payload), "no table") {
			t.Errorf("crash after init error = %+v", o.res)
		}
	})
	tests := []struct {
		name     string
		body     func() io.Reader
		trailer  http.Header
		wantType string
	}{
		{name: "response", body: func() io.Reader { return strings.NewReader(`"ok"`) }},
		{name: "stream error trailer", body: func() io.Reader { return &trailerReader{} },
			trailer: http.Header{"Lambda-Runtime-Function-Error-Type": nil, "Lambda-Runtime-Function-Error-Body": nil}, wantType: "streamBroke"},
		{name: "too large", body: func() io.Reader { return strings.NewReader(strings.Repeat("x", maxResponse+1)) }, wantType: "Function.ResponseSizeTooLarge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, srv := newProc()
			inv := newInvocation([]byte("{}"), "arn")
			p.current = inv
			var tr http.Header
			body := tc.body()
			if tc.trailer != nil {
				tr = tc.trailer
				body.(*trailerReader).trailer = tr
			}
			if code := post(t, srv.URL+"/2018-06-01/runtime/invocation/"+inv.id+"/response", body, tr); code != 202 {
				t.Fatalf("response: %d, want 202", code)
			}
			rep := <-inv.done
			if rep.errorType != tc.wantType {
				t.Errorf("errorType = %q, want %q (%s)", rep.errorType, tc.wantType, rep.payload)
			}
		})
	}
}

// trailerReader fails after some bytes, setting the trailers as aws-lambda-go's
// errorCapturingReader does.
type trailerReader struct {
	trailer http.Header
	done    bool
}

func (r *trailerReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	r.done = true
	r.trailer.Set("Lambda-Runtime-Function-Error-Type", "streamBroke")
	r.trailer.Set("Lambda-Runtime-Function-Error-Body", "eyJlcnJvclR5cGUiOiJzdHJlYW1Ccm9rZSJ9")
	return copy(p, "partial"), nil
}
