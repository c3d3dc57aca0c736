package chaos

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/edge"
	"github.com/orderflow/orderflow/pkg/lambdahost"
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

// fakeProcesses is a lambdahost.Host with ProcessKeys, for crash points: keys map to a
// function and its current request id; kills are recorded.
type fakeProcesses struct {
	mu      sync.Mutex
	running map[string]lambdahost.Running
	killed  []string
	log     []string // calls served upstream and kills, in order
}

func (f *fakeProcesses) Running(key string) (lambdahost.Running, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.running[key]
	return r, ok
}

func (f *fakeProcesses) KillProcess(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, "kill "+key)
	f.killed = append(f.killed, key)
	return true
}

func (f *fakeProcesses) served(op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, "serve "+op)
}

// state returns the number of kills and the log.
func (f *fakeProcesses) state() (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.killed), append([]string(nil), f.log...)
}

// TestCrashPoints: a crash point is the k-th call of an invoke (of an operation), served
// upstream first, then its process is killed and the connection dropped; Skip and Times
// count matches across invokes; other processes and calls pass.
func TestCrashPoints(t *testing.T) {
	type call struct {
		key, request, op string
	}
	ingest := func(req string) lambdahost.Running {
		return lambdahost.Running{Function: "orderflow-dev-ingest", RequestID: req}
	}
	process := func(req string) lambdahost.Running {
		return lambdahost.Running{Function: "orderflow-dev-process", RequestID: req}
	}
	tests := []struct {
		name   string
		points []CrashPoint
		calls  []call
		// procs: the process of each key per call, set before the call (a process runs one invoke at a time)
		procs    func(c call) lambdahost.Running
		wantKill []int // indexes of the calls that are crash points
	}{
		{"after the first call, once", []CrashPoint{{Function: "ingest", AfterCall: 1, Times: 1}},
			[]call{{"OFLH1", "r1", "TransactWriteItems"}, {"OFLH2", "r2", "TransactWriteItems"}},
			func(c call) lambdahost.Running { return ingest(c.request) }, []int{0}},
		{"the second call of each invoke", []CrashPoint{{Function: "ingest", AfterCall: 2}},
			[]call{{"OFLH1", "r1", "GetItem"}, {"OFLH1", "r1", "PutItem"}, {"OFLH1", "r3", "GetItem"}, {"OFLH1", "r3", "PutItem"}, {"OFLH1", "r3", "PutItem"}},
			func(c call) lambdahost.Running { return ingest(c.request) }, []int{1, 3}},
		{"the second PutItem of the function from now on", []CrashPoint{{Function: "process", Operation: "PutItem", Skip: 1, Times: 1}},
			[]call{{"OFLH5", "v", "GetItem"}, {"OFLH5", "v", "BatchGetItem"}, {"OFLH5", "v", "PutItem"}, {"OFLH6", "a", "GetItem"}, {"OFLH6", "a", "PutItem"}, {"OFLH5", "c", "PutItem"}},
			func(c call) lambdahost.Running { return process(c.request) }, []int{4}},
		{"another function passes", []CrashPoint{{Function: "ingest", AfterCall: 1}},
			[]call{{"OFLH5", "v", "GetItem"}},
			func(c call) lambdahost.Running { return process(c.request) }, nil},
		{"a caller without a process key passes", []CrashPoint{{Function: "ingest", AfterCall: 1}},
			[]call{{"test", "r1", "PutItem"}},
			func(c call) lambdahost.Running { return ingest(c.request) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			procs := &fakeProcesses{running: map[string]lambdahost.Running{}}
			in := New(Spec{CrashAt: tt.points})
			in.SetProcesses(procs)
			up, _ := url.Parse("http://127.0.0.1:1")
			e := edge.New(up, nil)
			e.Use(in.Middleware)
			e.Use(func(http.Handler) http.Handler { // stands in for the emulator
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					procs.served(edge.CallFrom(r).Operation)
					w.WriteHeader(200)
				})
			})
			srv := httptest.NewServer(e)
			defer srv.Close()
			var killedAt []int
			for i, c := range tt.calls {
				if strings.HasPrefix(c.key, "OFLH") {
					procs.mu.Lock()
					procs.running[c.key] = tt.procs(c)
					procs.mu.Unlock()
				}
				before, _ := procs.state()
				req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("{}"))
				req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+c.op)
				req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+c.key+"/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x")
				resp, err := http.DefaultClient.Do(req)
				if killed, log := procs.state(); killed > before {
					killedAt = append(killedAt, i)
					if err == nil {
						resp.Body.Close()
						t.Errorf("call %d: the killed process got an answer (%d)", i, resp.StatusCode)
					}
					if n := len(log); n < 2 || log[n-2] != "serve "+c.op || log[n-1] != "kill "+c.key {
						t.Errorf("call %d: log %v, want the call served, then its process killed", i, log)
					}
					continue
				}
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				resp.Body.Close()
			}
			if !slices.Equal(killedAt, tt.wantKill) {
				t.Errorf("killed at calls %v, want %v", killedAt, tt.wantKill)
			}
			if got := Sum(in.Stats().CrashPoints); got != int64(len(tt.wantKill)) {
				t.Errorf("stats count %d crash points, want %d", got, len(tt.wantKill))
			}
		})
	}
}
