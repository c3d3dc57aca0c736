package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/edge"
	"github.com/orderflow/orderflow/tools/lambdahost"
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
	for i := range 1000 {
		if in.Duplicate("sqs", []byte(fmt.Sprintf(`{"body":"{\\"orderId\\":\\"0193a1b2-c3d4-7e5f-8a6b-%012x\\"}"}`, i))) {
			dups++
		}
		if in.Duplicate("kinesis", []byte(`{}`)) {
			t.Fatal("kinesis duplicated at rate 0")
		}
	}
	if dups < 400 || dups > 600 {
		t.Errorf("%d duplicates of 1000 at rate 0.5", dups)
	}
	if in.DecideKill("orderflow-dev-notify", "r1", nil) {
		t.Error("killed a function the spec does not name")
	}
	if !in.DecideKill("orderflow-dev-inventory", "r2", nil) {
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

// run makes the process of key run r.
func (f *fakeProcesses) run(key string, r lambdahost.Running) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running[key] = r
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

// crashEdge serves crashHandler and returns its URL.
func crashEdge(t *testing.T, in *Injector, procs *fakeProcesses) string {
	t.Helper()
	srv := httptest.NewServer(crashHandler(in, procs))
	t.Cleanup(srv.Close)
	return srv.URL
}

// crashHandler is an edge with in's middleware in front of a stand-in for the emulator
// that logs each call it serves in procs; in's processes are procs.
func crashHandler(in *Injector, procs *fakeProcesses) http.Handler {
	in.SetProcesses(procs)
	up, _ := url.Parse("http://127.0.0.1:1")
	e := edge.New(up, nil)
	e.Use(in.Middleware)
	e.Use(func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			procs.served(edge.CallFrom(r).Operation)
			w.WriteHeader(200)
		})
	})
	return e
}

// callAs makes the DynamoDB call op, signed with access key id key, and reports whether
// it was answered (a killed process's connection is dropped).
func callAs(t *testing.T, url, key, op string) bool {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// TestPlannedKills: a Crash kill decided for an invoke lets n of its calls through,
// n in [0, MaxCalls] drawn from the seed, then kills the process at its next call without
// serving it; the same seed draws the same n; a request asked for again is not drawn
// again; once lambdahost has killed the process at its answer (Killed), or for another
// invoke, calls pass.
func TestPlannedKills(t *testing.T) {
	const fn, maxCalls = "orderflow-dev-inventory", 3
	payload := []byte(`{"Records":[{"body":"{\\"orderId\\":\\"0193a1b2-c3d4-7e5f-8a6b-000000000001\\"}"}]}`)
	// through returns how many calls of a planned invoke were served before the kill.
	through := func(t *testing.T, seed uint64) int {
		procs := &fakeProcesses{running: map[string]lambdahost.Running{}}
		in := New(Spec{Seed: seed, Crash: Crash{Rate: 1, Functions: []string{"inventory"}, MaxCalls: maxCalls}})
		url := crashEdge(t, in, procs)
		if !in.DecideKill(fn, "r1", payload) {
			t.Fatal("no kill at rate 1")
		}
		if !in.DecideKill(fn, "r1", payload) || in.Stats().Crashes[fn] != 1 {
			t.Fatalf("asked again for r1: counted %d crashes, want the one decided", in.Stats().Crashes[fn])
		}
		procs.run("OFLH1", lambdahost.Running{Function: fn, RequestID: "r1"})
		for i := range maxCalls + 2 {
			if callAs(t, url, "OFLH1", "PutItem") {
				continue
			}
			killed, log := procs.state()
			if killed != 1 || log[len(log)-1] != "kill OFLH1" || len(log) != i+1 {
				t.Fatalf("call %d unanswered: %d kills, log %v, want the %d calls before served, then a kill", i, killed, log, i)
			}
			// A call the killed process sent at the same time is dropped unserved, and
			// decides nothing; another process's invoke, not planned, passes.
			if callAs(t, url, "OFLH1", "PutItem") {
				t.Fatal("a call of the killed process was answered")
			}
			if killed, after := procs.state(); killed != 1 || len(after) != len(log) {
				t.Fatalf("a call of the killed process: log %v (was %v), want nothing served or killed", after, log)
			}
			procs.run("OFLH2", lambdahost.Running{Function: fn, RequestID: "r2"})
			if !callAs(t, url, "OFLH2", "PutItem") {
				t.Fatal("a call of another invoke was not answered")
			}
			return i
		}
		t.Fatalf("%d calls of a planned invoke passed", maxCalls+2)
		return 0
	}
	seen := map[int]bool{}
	for seed := uint64(1); seed <= 40; seed++ {
		n := through(t, seed)
		if n < 0 || n > maxCalls {
			t.Fatalf("seed %d: %d calls through, want 0..%d", seed, n, maxCalls)
		}
		if again := through(t, seed); again != n {
			t.Fatalf("seed %d: %d calls through, then %d", seed, n, again)
		}
		seen[n] = true
	}
	if len(seen) != maxCalls+1 {
		t.Errorf("calls through over 40 seeds: %v, want each of 0..%d", seen, maxCalls)
	}

	// Killed at its answer: the plan is gone, and its calls (were the process alive) pass.
	procs := &fakeProcesses{running: map[string]lambdahost.Running{}}
	in := New(Spec{Seed: 1, Crash: Crash{Rate: 1, MaxCalls: maxCalls}})
	url := crashEdge(t, in, procs)
	in.DecideKill(fn, "r3", payload)
	in.Killed(fn, "r3")
	procs.run("OFLH2", lambdahost.Running{Function: fn, RequestID: "r3"})
	for i := range maxCalls + 2 {
		if !callAs(t, url, "OFLH2", "PutItem") {
			t.Fatalf("call %d after Killed was not answered", i)
		}
	}
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
			[]call{{"OFLH1", "r1", "GetItem"}, {"OFLH1", "r1", "PutItem"}, {"OFLH2", "r3", "GetItem"}, {"OFLH2", "r3", "PutItem"}, {"OFLH3", "r4", "PutItem"}},
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
			url := crashEdge(t, in, procs)
			var killedAt []int
			for i, c := range tt.calls {
				if strings.HasPrefix(c.key, "OFLH") {
					procs.run(c.key, tt.procs(c))
				}
				before, _ := procs.state()
				answered := callAs(t, url, c.key, c.op)
				if killed, log := procs.state(); killed > before {
					killedAt = append(killedAt, i)
					if answered {
						t.Errorf("call %d: the killed process got an answer", i)
					}
					if n := len(log); n < 2 || log[n-2] != "serve "+c.op || log[n-1] != "kill "+c.key {
						t.Errorf("call %d: log %v, want the call served, then its process killed", i, log)
					}
					continue
				}
				if !answered {
					t.Fatalf("call %d: no answer, and no kill", i)
				}
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

// orderCalls are the AWS calls of one order as the functions make them (in that order),
// and the payloads of its deliveries and invokes. The order is stored with its
// idempotency record in one transaction, the first call that names both the key and the
// new order id (ingest's one TransactWriteItems): from there on the id stands for the key,
// also in the publisher's PutEvents of the order's stream record.
func orderCalls(orderID, key string) (calls []*http.Request, payloads [][]byte) {
	req := func(service, target, body string) *http.Request {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", target)
		r.Header.Set("Content-Type", "application/x-amz-json-1.0")
		return signed(r, service)
	}
	calls = []*http.Request{
		req("dynamodb", "DynamoDB_20120810.TransactWriteItems", `{"TransactItems":[{"Put":{"TableName":"orders-dev","Item":{"order_id":{"S":"`+orderID+`"}}}},`+
			`{"Put":{"TableName":"idempotency-dev","Item":{"pk":{"S":"api#`+key+`"}}}}]}`),
		req("events", "AWSEvents.PutEvents", `{"Entries":[{"Detail":"{\\"metadata\\":{\\"eventId\\":\\"`+orderID+`:PENDING\\"}}"}]}`),
		req("dynamodb", "DynamoDB_20120810.GetItem", `{"TableName":"orders-dev","Key":{"order_id":{"S":"`+orderID+`"}}}`),
		req("dynamodb", "DynamoDB_20120810.GetItem", `{"TableName":"orders-dev","Key":{"order_id":{"S":"`+orderID+`"}}}`),
		req("sqs", "AmazonSQS.SendMessage", `{"QueueUrl":"http://x/123/inventory-commands-dev","MessageBody":"{\\"orderId\\":\\"`+orderID+`\\"}"}`),
		req("events", "AWSEvents.PutEvents", `{"Entries":[{"Detail":"{\\"metadata\\":{\\"eventId\\":\\"`+orderID+`:CONFIRMED\\"}}"}]}`),
	}
	payloads = [][]byte{
		[]byte(`{"headers":{"idempotency-key":"` + key + `"},"body":"{}"}`),
		[]byte(`{"action":"validate","orderId":"` + orderID + `"}`),
		[]byte(`{"Records":[{"body":"{\\"command\\":\\"reserve\\",\\"orderId\\":\\"` + orderID + `\\"}"}]}`),
	}
	return calls, payloads
}

// runOrders decides the calls and deliveries of n orders, orders running concurrently in
// the given sequence, each order's own calls in their order (as a saga makes them). The
// order ids are new in every run; the Idempotency-Keys are the same.
func runOrders(in *Injector, order []int) {
	var wg sync.WaitGroup
	for _, i := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("%08x-0000-7000-8000-%012x", rand.Uint32(), i)
			key := fmt.Sprintf("chaos-1-%d", i)
			calls, payloads := orderCalls(id, key)
			for _, r := range calls {
				for attempt := 0; attempt < 4; attempt++ { // an SDK retries what failed
					if _, f := in.decide(r, edge.Identify(r)); f == nil {
						break
					}
				}
			}
			for j, p := range payloads {
				in.Duplicate("sqs", p)
				in.Duplicate("dynamodb", p)
				in.DecideKill("orderflow-dev-inventory", fmt.Sprintf("%s-%d", id, j), p)
			}
		}()
	}
	wg.Wait()
}

// TestSameSeedSameFaults: two runs with one seed over the same orders, arriving in
// different orders with other order ids, inject the same faults on the same calls; another
// seed injects others.
func TestSameSeedSameFaults(t *testing.T) {
	spec := Standard(7)
	spec.Errors = append([]ErrorRule{{Service: "dynamodb", Rate: 0.3}}, spec.Errors...)
	spec.Crash.Rate, spec.Duplicate.SQS, spec.Duplicate.DynamoDB = 0.3, 0.3, 0.3
	const n = 200
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	first := New(spec)
	runOrders(first, order)
	rand.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	second := New(spec)
	runOrders(second, order)
	a, b := first.Decisions(), second.Decisions()
	if len(a) == 0 {
		t.Fatal("no fault injected")
	}
	if !slices.Equal(a, b) {
		t.Errorf("the same seed decided differently: %d and %d faults; first difference %q", len(a), len(b), firstDiff(a, b))
	}
	sa, sb := first.Stats(), second.Stats()
	if sa.Duplicates["dynamodb"] == 0 {
		t.Error("no DynamoDB stream batch duplicated at rate 0.3")
	}
	if fmt.Sprint(sa) != fmt.Sprint(sb) {
		t.Errorf("counts differ:\n%v\n%v", sa, sb)
	}
	other := Standard(8)
	other.Errors, other.Crash, other.Duplicate = spec.Errors, spec.Crash, spec.Duplicate
	third := New(other)
	runOrders(third, order)
	if slices.Equal(a, third.Decisions()) {
		t.Error("another seed decided the same faults")
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " vs " + b[i]
		}
	}
	return "(one is a prefix of the other)"
}

// A retried call is decided afresh after a fault, and the repeats of a call after one
// that passed pass: each call's faults are the run its draws begin with.
func TestAttemptsAdvanceWithFaults(t *testing.T) {
	in := New(Spec{Seed: 3, Errors: []ErrorRule{{Service: "sqs", Rate: 0.5}}})
	runs := map[int]int{}
	for i := range 200 {
		order := fmt.Sprintf("0193a1b2-c3d4-7e5f-8a6b-%012x", i)
		passed := false
		faults := 0
		for range 8 {
			r := signed(httptest.NewRequest("POST", "/", strings.NewReader(`{"QueueUrl":"http://x/q","MessageBody":"{\"orderId\":\"`+order+`\"}"}`)), "sqs")
			r.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
			_, f := in.decide(r, edge.Identify(r))
			switch {
			case f != nil && passed:
				t.Fatalf("order %d: a call failed after one passed", i)
			case f != nil:
				faults++
			default:
				passed = true
			}
		}
		runs[faults]++
	}
	if runs[0] == 0 || runs[1] == 0 || runs[2]+runs[3]+runs[4] == 0 {
		t.Errorf("runs of faults at rate 0.5 (by length): %v", runs)
	}
	if got, want := Sum(in.Stats().Errors), int64(runs[1]+2*runs[2]+3*runs[3]+4*runs[4]+5*runs[5]+6*runs[6]+7*runs[7]+8*runs[8]); got != want {
		t.Errorf("counted %d errors, injected %d", got, want)
	}
}

// fakeQueue stands in for the emulator's SQS queue (JSON protocol): a receive takes up to
// MaxNumberOfMessages messages with new receipt handles; a delete by handle removes them.
type fakeQueue struct {
	mu       sync.Mutex
	bodies   []string          // waiting, in order
	out      map[string]string // receipt handle -> body of a received message
	received map[string]int    // receives of each body from the queue
	n        int
}

func (q *fakeQueue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		MaxNumberOfMessages int
		Entries             []struct{ Id, ReceiptHandle string }
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	q.mu.Lock()
	defer q.mu.Unlock()
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonSQS.ReceiveMessage":
		type msg struct{ MessageId, ReceiptHandle, Body string }
		var out struct{ Messages []msg }
		for len(q.bodies) > 0 && len(out.Messages) < max(in.MaxNumberOfMessages, 1) {
			q.n++
			h := fmt.Sprintf("handle-%d", q.n)
			q.out[h] = q.bodies[0]
			q.received[q.bodies[0]]++
			out.Messages = append(out.Messages, msg{fmt.Sprint(q.n), h, q.bodies[0]})
			q.bodies = q.bodies[1:]
		}
		_ = json.NewEncoder(w).Encode(out)
	case "AmazonSQS.DeleteMessageBatch":
		for _, e := range in.Entries {
			delete(q.out, e.ReceiptHandle)
		}
		fmt.Fprint(w, `{"Successful":[],"Failed":[]}`)
	}
}

// pollQueue sends n orders' messages through a fake queue behind the injector and works
// them off as the local SQS poller does: receive up to batch messages, retry what fails,
// delete what was received. emptyPolls receives come before the messages are sent. It
// returns the injector's counts.
func pollQueue(t *testing.T, spec Spec, n, batch, emptyPolls int, shuffle bool) Stats {
	t.Helper()
	in := New(spec)
	q := &fakeQueue{out: map[string]string{}, received: map[string]int{}}
	up, _ := url.Parse("http://127.0.0.1:1")
	e := edge.New(up, nil)
	e.Use(in.Middleware)
	e.Use(func(http.Handler) http.Handler { return q })
	call := func(target, body string) (int, string) {
		r := signed(httptest.NewRequest("POST", "/", strings.NewReader(body)), "sqs")
		r.Header.Set("X-Amz-Target", target)
		r.Header.Set("Content-Type", "application/x-amz-json-1.0")
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	receive := fmt.Sprintf(`{"QueueUrl":"http://x/000000000000/commands","MaxNumberOfMessages":%d}`, batch)
	for range emptyPolls {
		call("AmazonSQS.ReceiveMessage", receive)
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	if shuffle {
		rand.Shuffle(n, func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	}
	q.mu.Lock()
	for _, i := range ids {
		q.bodies = append(q.bodies, fmt.Sprintf(`{"command":"reserve","orderId":"0193a1b2-c3d4-7e5f-8a6b-%012x"}`, i))
	}
	q.mu.Unlock()
	deleted := 0
	for polls := 0; deleted < n; polls++ {
		if polls > 20*n {
			t.Fatalf("%d of %d messages deleted after %d polls: a failed receive lost its messages", deleted, n, polls)
		}
		code, answer := call("AmazonSQS.ReceiveMessage", receive)
		if code != http.StatusOK {
			continue
		}
		var out struct {
			Messages []struct{ ReceiptHandle string }
		}
		if err := json.Unmarshal([]byte(answer), &out); err != nil {
			t.Fatal(err)
		}
		var entries []string
		for i, m := range out.Messages {
			entries = append(entries, fmt.Sprintf(`{"Id":"%d","ReceiptHandle":%q}`, i, m.ReceiptHandle))
		}
		if len(entries) == 0 {
			continue
		}
		del := `{"QueueUrl":"http://x/000000000000/commands","Entries":[` + strings.Join(entries, ",") + `]}`
		for tries := 1; ; tries++ {
			if code, _ := call("AmazonSQS.DeleteMessageBatch", del); code == http.StatusOK {
				break
			}
			if tries > 20 {
				t.Fatal("a delete failed 20 times")
			}
		}
		deleted += len(entries)
	}
	for body, n := range q.received {
		if n != 1 {
			t.Errorf("message received %d times from the queue: %s", n, body)
		}
	}
	return in.Stats()
}

// TestSameCountsWhateverTheTiming: the same orders worked off one at a time with many
// empty polls, or ten at a time in another order with none, get the same fault counts;
// a failed receive's messages are the next receive's answer.
func TestSameCountsWhateverTheTiming(t *testing.T) {
	spec := Spec{Seed: 5, Errors: []ErrorRule{{Service: "sqs", Rate: 0.3}}}
	one := pollQueue(t, spec, 60, 1, 50, false)
	ten := pollQueue(t, spec, 60, 10, 0, true)
	if one.Errors["sqs:ReceiveMessage:RequestThrottled"]+one.Errors["sqs:ReceiveMessage:InternalFailure"]+one.Errors["sqs:ReceiveMessage:ServiceUnavailable"] == 0 ||
		Sum(one.Errors) == one.Errors["sqs:ReceiveMessage:RequestThrottled"]+one.Errors["sqs:ReceiveMessage:InternalFailure"]+one.Errors["sqs:ReceiveMessage:ServiceUnavailable"] {
		t.Errorf("faults at rate 0.3 did not reach both receives and deletes: %v", one.Errors)
	}
	if fmt.Sprint(one) != fmt.Sprint(ten) {
		t.Errorf("counts differ with the batching and polling:\n%v\n%v", one, ten)
	}
	other := pollQueue(t, Spec{Seed: 6, Errors: spec.Errors}, 60, 10, 0, true)
	if fmt.Sprint(other) == fmt.Sprint(one) {
		t.Error("another seed gave the same counts")
	}
}

// An order id aliased to its Idempotency-Key is the same identity as another run's
// order id under that key.
func TestIdentity(t *testing.T) {
	in := New(Spec{})
	a, b := "0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", "0193ffff-c3d4-7e5f-9a6b-7c8d9e0f1a2b"
	cases := []struct{ name, body, want string }{
		{"idempotency record", `{"pk":{"S":"api#chaos-1-5"}}`, "key:chaos-1-5"},
		{"http api event", `{"headers":{"content-type":"application/json","idempotency-key":"chaos-1-5"}}`, "key:chaos-1-5"},
		{"unaliased order", `{"order_id":{"S":"` + b + `"}}`, b},
		{"event id", `{"eventId":"` + b + `:CONFIRMED"}`, b + ":CONFIRMED"},
		{"sns form body", `Message=%7B%22eventId%22%3A%22` + b + `%3ACANCELLED%22`, b + ":CANCELLED"},
		{"record naming both teaches the alias", `{"pk":"api#chaos-1-9","orderId":"` + a + `"}`, "key:chaos-1-9"},
		{"aliased order", `{"orderId":"` + a + `"}`, "key:chaos-1-9"},
		{"aliased event id", `{"eventId":"` + a + `:CONFIRMED"}`, "key:chaos-1-9:CONFIRMED"},
	}
	for _, tc := range cases {
		if got := in.Identity([]byte(tc.body)); got != tc.want {
			t.Errorf("%s: Identity = %q, want %q", tc.name, got, tc.want)
		}
	}
	in.Alias(b, "key:chaos-1-6")
	if got := in.Identity([]byte(`{"orderId":"` + b + `"}`)); got != "key:chaos-1-6" {
		t.Errorf("after Alias: %q", got)
	}
	if x := in.Identity([]byte(`{"n":1,"at":"2026-11-30T18:00:00Z"}`)); x != "" {
		t.Errorf("identity of a body about no order = %q, want none", x)
	}
	if got := in.identities([]byte(`{"Entries":[{"orderId":"` + a + `"},{"orderId":"` + b + `:CONFIRMED"},{"orderId":"` + a + `"}]}`)); !slices.Equal(got, []string{"key:chaos-1-6:CONFIRMED", "key:chaos-1-9"}) {
		t.Errorf("identities of a batch = %q, want each order once", got)
	}
}

// A receipt handle stands for the message it was received with, and an order the HTTP
// API accepted stands for its Idempotency-Key: neither handles nor order ids repeat
// across runs, messages and keys do.
func TestLearnedIdentities(t *testing.T) {
	in := New(Spec{Seed: 1, Latency: Latency{Rate: 0.5}})
	order := "0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
	up, _ := url.Parse("http://127.0.0.1:1")
	e := edge.New(up, nil)
	e.Use(in.Middleware)
	e.Use(func(http.Handler) http.Handler { // stands in for the emulator
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"Messages":[{"MessageId":"m","ReceiptHandle":"handle-1","Body":"{\"command\":\"reserve\",\"orderId\":\"%s\"}"}]}`, order)
		})
	})
	r := signed(httptest.NewRequest("POST", "/", strings.NewReader(`{"QueueUrl":"http://x/q"}`)), "sqs")
	r.Header.Set("X-Amz-Target", "AmazonSQS.ReceiveMessage")
	e.ServeHTTP(httptest.NewRecorder(), r)
	if got := in.Identity([]byte(`{"Entries":[{"Id":"0","ReceiptHandle":"handle-1"}]}`)); got != order {
		t.Errorf("identity of a delete by receipt handle = %q, want the message's order %s", got, order)
	}
	api := in.LearnOrders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"orderId":%q,"status":"PENDING"}`, order)
	}))
	post := httptest.NewRequest("POST", "/orders", strings.NewReader(`{}`))
	post.Header.Set("Idempotency-Key", "chaos-1-3")
	w := httptest.NewRecorder()
	api.ServeHTTP(w, post)
	if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), order) {
		t.Fatalf("the API's answer was changed: %d %s", w.Code, w.Body.String())
	}
	if got := in.Identity([]byte(`{"orderId":"` + order + `"}`)); got != "key:chaos-1-3" {
		t.Errorf("identity of the accepted order = %q, want its key", got)
	}
}

// A receipt handle is remembered for at least maxHandles receives after its own, and
// forgotten after twice as many: a message received just before the remembered handles
// fill up keeps its identity for its delete.
func TestHandlesForgottenByGeneration(t *testing.T) {
	in := New(Spec{})
	order := "0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
	receive := func(handles ...string) {
		var b strings.Builder
		b.WriteString(`{"Messages":[`)
		for i, h := range handles {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"ReceiptHandle":%q,"Body":"{\"orderId\":\"%s\"}"}`, h, order)
		}
		b.WriteString(`]}`)
		in.learnHandles([]byte(b.String()))
	}
	fill := func(prefix string, n int) {
		hs := make([]string, n)
		for i := range hs {
			hs[i] = fmt.Sprintf("%s-%d", prefix, i)
		}
		receive(hs...)
	}
	known := func() bool {
		return in.Identity([]byte(`{"Entries":[{"Id":"0","ReceiptHandle":"last-before"}]}`)) == order
	}
	fill("a", maxHandles-1)
	receive("last-before") // the one that fills the remembered handles up
	receive("b-0")         // they become the older generation
	receive("b-1")
	if !known() {
		t.Fatal("a handle received just before the remembered handles filled up was forgotten")
	}
	fill("c", maxHandles)
	receive("d") // the next generation is full: the older one is dropped
	if known() {
		t.Error("a handle was remembered past two generations")
	}
}

// TestCutShortBodyIsNoCall: a request whose body stops short (its process was killed while
// sending it) is neither served nor decided on, where a whole one under the same rule
// draws its fault.
func TestCutShortBodyIsNoCall(t *testing.T) {
	procs := &fakeProcesses{running: map[string]lambdahost.Running{}}
	in := New(Spec{Seed: 1, Errors: []ErrorRule{{Service: "dynamodb", Rate: 1}}})
	closed := make(chan struct{})
	var once sync.Once
	srv := httptest.NewUnstartedServer(crashHandler(in, procs))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			once.Do(func() { close(closed) }) // the first to close: the cut-short call's
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	body := `{"TransactItems":[{"Put":{"TableName":"inventory-dev","Item":{"pk":{"S":"order#0193a1b2-c3d4-7e5f-8a6b-000000000001"}}}}]}`
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.TransactWriteItems\r\n"+
		"Authorization: AWS4-HMAC-SHA256 Credential=OFLH1/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x\r\n"+
		"Content-Length: %d\r\n\r\n%s", len(body), body[:20])
	conn.Close()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not close the cut-short connection")
	}
	if _, log := procs.state(); len(log) != 0 || len(in.Decisions()) != 0 {
		t.Fatalf("a cut-short call: served %v, decided %q; want neither", log, in.Decisions())
	}

	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.TransactWriteItems")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=OFLH1/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || len(in.Decisions()) == 0 {
		t.Fatalf("a whole call under a rate-1 rule: %s, decided %q; want a fault", resp.Status, in.Decisions())
	}
}
