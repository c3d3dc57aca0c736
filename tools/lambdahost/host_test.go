package lambdahost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/tools/awstest"
)

// bootstrap is testdata/testfn built as a Lambda bootstrap by TestMain.
var bootstrap string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdahost-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bootstrap = filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, "./testdata/testfn")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testfn: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// testFunction is the test Lambda with a short timeout and captured output.
func testFunction(name string, out *awstest.SyncBuffer) Function {
	return Function{Name: name, Path: bootstrap, Timeout: 2 * time.Second, Stdout: out, Stderr: out}
}

// newHost returns a Host with fns registered, closed (and checked) at the end of the test.
func newHost(t *testing.T, opts Options, fns ...Function) *Host {
	t.Helper()
	h := New(opts)
	for _, fn := range fns {
		if err := h.Register(fn); err != nil {
			t.Fatalf("Register(%s): %v", fn.Name, err)
		}
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// reply is testfn's success payload.
type fnReply struct {
	Msg        string            `json:"msg"`
	PID        int               `json:"pid"`
	RequestID  string            `json:"requestId"`
	ARN        string            `json:"arn"`
	DeadlineMS int64             `json:"deadlineMs"`
	Env        map[string]string `json:"env"`
}

func invoke(t *testing.T, h *Host, fn, payload string) (Result, fnReply) {
	t.Helper()
	res, err := h.Invoke(context.Background(), fn, []byte(payload))
	if err != nil {
		t.Fatalf("Invoke(%s): %v", payload, err)
	}
	var r fnReply
	if res.FunctionError == "" {
		if err := json.Unmarshal(res.Payload, &r); err != nil {
			t.Fatalf("Invoke(%s) payload %q: %v", payload, res.Payload, err)
		}
	}
	return res, r
}

// processGone reports whether pid has exited and been reaped.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestInvoke(t *testing.T) {
	out := &awstest.SyncBuffer{}
	h := newHost(t, Options{}, testFunction("fn", out))

	first, r := invoke(t, h, "fn", `{"op":"echo","msg":"hello"}`)
	if first.FunctionError != "" || r.Msg != "hello" {
		t.Fatalf("echo = %+v %s, want hello", first, first.Payload)
	}
	if !first.Cold || first.InitDuration <= 0 {
		t.Errorf("first invoke Cold=%v InitDuration=%v, want a cold start", first.Cold, first.InitDuration)
	}
	if r.RequestID != first.RequestID || first.RequestID == "" {
		t.Errorf("function saw request id %q, Result has %q", r.RequestID, first.RequestID)
	}
	if want := "arn:aws:lambda:us-east-1:123456789012:function:fn"; r.ARN != want {
		t.Errorf("function ARN = %q, want %q", r.ARN, want)
	}
	if left := time.Until(time.UnixMilli(r.DeadlineMS)); left <= 0 || left > 2*time.Second {
		t.Errorf("deadline %v from now, want within the 2 s timeout", left)
	}
	// The function's output is copied from its pipe concurrently with the invoke's answer.
	waitFor(t, "the prefixed log line [fn] echo: hello", func() bool {
		return strings.Contains(out.String(), "[fn] echo: hello\n")
	})

	tests := []struct {
		name     string
		payload  string
		wantType string // "" for success
		wantMsg  string // in the error payload
	}{
		{name: "warm echo", payload: `{"op":"echo","msg":"again"}`},
		{name: "typed error", payload: `{"op":"error","msg":"no lines"}`, wantType: "OrderInvalid", wantMsg: "order invalid: no lines"},
		{name: "fmt error", payload: `{"op":"nope"}`, wantType: "errorString", wantMsg: `unknown op \"nope\"`},
		{name: "bad payload", payload: `{"op":1}`, wantType: "UnmarshalTypeError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, r := invoke(t, h, "fn", tc.payload)
			if res.Cold {
				t.Errorf("Cold = true, want a warm process")
			}
			if tc.wantType == "" {
				if res.FunctionError != "" || r.RequestID != res.RequestID {
					t.Fatalf("Result = %+v %s, want success", res, res.Payload)
				}
				return
			}
			if res.FunctionError != "Unhandled" || res.ErrorType != tc.wantType {
				t.Fatalf("FunctionError=%q ErrorType=%q, want Unhandled %s (%s)", res.FunctionError, res.ErrorType, tc.wantType, res.Payload)
			}
			if !strings.Contains(string(res.Payload), tc.wantMsg) || !strings.Contains(string(res.Payload), `"errorType":"`+tc.wantType+`"`) {
				t.Errorf("payload %s, want errorMessage with %q", res.Payload, tc.wantMsg)
			}
		})
	}
}

func TestInvokeErrors(t *testing.T) {
	h := newHost(t, Options{}, testFunction("fn", &awstest.SyncBuffer{}))
	if _, err := h.Invoke(context.Background(), "other", []byte(`{}`)); !errors.Is(err, ErrFunctionNotFound) {
		t.Errorf("unknown function: err = %v, want ErrFunctionNotFound", err)
	}
	if err := h.Register(testFunction("fn", &awstest.SyncBuffer{})); err == nil {
		t.Errorf("second Register of fn succeeded, want an error")
	}
}

func TestEnvironment(t *testing.T) {
	fn := testFunction("envfn", &awstest.SyncBuffer{})
	fn.MemoryMB = 256
	fn.Env = map[string]string{
		"TABLE": "orders", "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "test",
		"AWS_LAMBDA_FUNCTION_NAME": "spoofed",
	}
	h := newHost(t, Options{}, fn)
	keys := []string{"AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
		"AWS_LAMBDA_FUNCTION_VERSION", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_LOG_GROUP_NAME",
		"_HANDLER", "LAMBDA_TASK_ROOT", "AWS_ACCESS_KEY_ID", "TABLE"}
	payload, _ := json.Marshal(map[string]any{"op": "env", "keys": keys})
	res, r := invoke(t, h, "envfn", string(payload))
	if res.FunctionError != "" {
		t.Fatalf("env: %s", res.Payload)
	}
	want := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "envfn", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
		"AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/envfn", "_HANDLER": "bootstrap",
		"LAMBDA_TASK_ROOT": filepath.Dir(bootstrap), "AWS_ACCESS_KEY_ID": "test", "TABLE": "orders",
	}
	for k, v := range want {
		t.Run(k, func(t *testing.T) {
			if r.Env[k] != v {
				t.Errorf("%s = %q, want %q", k, r.Env[k], v)
			}
		})
	}
	if api := r.Env["AWS_LAMBDA_RUNTIME_API"]; !strings.HasPrefix(api, "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API = %q, want 127.0.0.1:PORT", api)
	}
	if want := "arn:aws:lambda:eu-west-1:123456789012:function:envfn"; r.ARN != want {
		t.Errorf("ARN = %q, want %q (the function's region)", r.ARN, want)
	}
}

func TestFailureReplacesProcess(t *testing.T) {
	tests := []struct {
		name     string
		payload  string
		wantType string
		wantMsg  string
	}{
		{name: "timeout", payload: `{"op":"sleep","ms":5000}`, wantType: "Sandbox.Timedout", wantMsg: "Task timed out after 0.30 seconds"},
		{name: "exit mid-invoke", payload: `{"op":"exit","code":7}`, wantType: "Runtime.ExitError", wantMsg: "Runtime exited with error: exit status 7"},
		{name: "panic", payload: `{"op":"panic","msg":"boom"}`, wantType: "string", wantMsg: `"errorMessage":"boom"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fn := testFunction("fn", &awstest.SyncBuffer{})
			fn.Timeout = 300 * time.Millisecond
			fn.Concurrency = 1
			h := newHost(t, Options{}, fn)
			_, before := invoke(t, h, "fn", `{"op":"echo"}`)

			res, _ := invoke(t, h, "fn", tc.payload)
			if res.FunctionError != "Unhandled" || res.ErrorType != tc.wantType || !strings.Contains(string(res.Payload), tc.wantMsg) {
				t.Fatalf("Result = %q %q %s, want Unhandled %s with %q", res.FunctionError, res.ErrorType, res.Payload, tc.wantType, tc.wantMsg)
			}
			if res.Cold {
				t.Errorf("failing invoke Cold = true, want it on the warm process")
			}

			after, r := invoke(t, h, "fn", `{"op":"echo","msg":"next"}`)
			if after.FunctionError != "" || r.Msg != "next" {
				t.Fatalf("next invoke = %+v %s, want success", after, after.Payload)
			}
			if !after.Cold || r.PID == before.PID {
				t.Errorf("next invoke Cold=%v pid %d (was %d), want a fresh process", after.Cold, r.PID, before.PID)
			}
			if !processGone(before.PID) {
				t.Errorf("old process %d is still alive", before.PID)
			}
		})
	}
}

func TestInitFailure(t *testing.T) {
	out := &awstest.SyncBuffer{}
	fn := testFunction("broken", out)
	fn.Env = map[string]string{"TEST_FAIL_INIT": "1"}
	h := newHost(t, Options{}, fn)
	res, _ := invoke(t, h, "broken", `{"op":"echo"}`)
	if res.FunctionError != "Unhandled" || res.ErrorType != "Runtime.ExitError" || !strings.Contains(string(res.Payload), "exit status 3") {
		t.Fatalf("Result = %q %q %s, want Runtime.ExitError exit status 3", res.FunctionError, res.ErrorType, res.Payload)
	}
	if !res.Cold {
		t.Errorf("Cold = false, want true")
	}
	if !strings.Contains(out.String(), "[broken] init failed\n") {
		t.Errorf("stderr %q lacks the function's message", out.String())
	}
}

func TestConcurrentInvokes(t *testing.T) {
	fn := testFunction("fn", &awstest.SyncBuffer{})
	fn.Concurrency = 2
	h := newHost(t, Options{}, fn)
	const n = 8
	var wg sync.WaitGroup
	results := make([]fnReply, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := h.Invoke(context.Background(), "fn", []byte(`{"op":"sleep","ms":50}`))
			if err == nil && res.FunctionError != "" {
				err = fmt.Errorf("function error %s", res.Payload)
			}
			if err == nil {
				err = json.Unmarshal(res.Payload, &results[i])
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	pids := map[int]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("invoke %d: %v", i, errs[i])
		}
		pids[results[i].PID] = true
	}
	if len(pids) != 2 {
		t.Errorf("%d invokes ran on %d processes, want the pool's 2", n, len(pids))
	}
}

func TestInvokeWaitIsCancellable(t *testing.T) {
	fn := testFunction("fn", &awstest.SyncBuffer{})
	fn.Concurrency = 1
	h := newHost(t, Options{}, fn)
	done := make(chan error, 1)
	go func() {
		res, err := h.Invoke(context.Background(), "fn", []byte(`{"op":"sleep","ms":400}`))
		if err == nil && res.FunctionError != "" {
			err = fmt.Errorf("function error %s", res.Payload)
		}
		done <- err
	}()
	waitFor(t, "the first invoke to be running", func() bool { return busy(h, "fn") == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Invoke(ctx, "fn", []byte(`{"op":"echo"}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second invoke on a full pool: err = %v, want DeadlineExceeded", err)
	}
	if err := <-done; err != nil {
		t.Errorf("first invoke: %v", err)
	}
}

// busy counts the processes of fn holding an invoke.
func busy(h *Host, fn string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for p := range h.live {
		p.mu.Lock()
		if p.fn.Name == fn && p.current != nil {
			n++
		}
		p.mu.Unlock()
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClose(t *testing.T) {
	out := &awstest.SyncBuffer{}
	plain := testFunction("plain", out)
	term := testFunction("term", out)
	term.Env = map[string]string{"TEST_SIGTERM": "1"}
	term.Concurrency = 1
	h := New(Options{})
	for _, fn := range []Function{plain, term} {
		if err := h.Register(fn); err != nil {
			t.Fatal(err)
		}
	}
	// Two warm plain processes, one term process, and an invoke in flight on a plain one.
	var pids []int
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, fn := range []string{"plain", "plain", "term"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := h.Invoke(context.Background(), fn, []byte(`{"op":"sleep","ms":100}`))
			var r fnReply
			if err == nil {
				err = json.Unmarshal(res.Payload, &r)
			}
			if err != nil {
				t.Errorf("invoke %s: %v", fn, err)
			}
			mu.Lock()
			pids = append(pids, r.PID)
			mu.Unlock()
		}()
	}
	wg.Wait()
	inflight := make(chan error, 1)
	go func() {
		_, err := h.Invoke(context.Background(), "plain", []byte(`{"op":"sleep","ms":10000}`))
		inflight <- err
	}()
	waitFor(t, "the long invoke to be running", func() bool { return busy(h, "plain") == 1 })

	start := time.Now()
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close took %v", took)
	}
	if err := <-inflight; !errors.Is(err, ErrClosed) {
		t.Errorf("in-flight invoke: err = %v, want ErrClosed", err)
	}
	for _, pid := range pids {
		if pid == 0 || !processGone(pid) {
			t.Errorf("process %d is still alive after Close", pid)
		}
	}
	h.mu.Lock()
	registered := len(h.live)
	h.mu.Unlock()
	if registered != 0 {
		t.Errorf("%d processes still registered", registered)
	}
	if !strings.Contains(out.String(), "[term] got SIGTERM") {
		t.Errorf("the function that enabled SIGTERM did not get it: %q", out.String())
	}
	if _, err := h.Invoke(context.Background(), "plain", []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close: err = %v, want ErrClosed", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestColdStart(t *testing.T) {
	h := newHost(t, Options{}, testFunction("fn", &awstest.SyncBuffer{}))
	tests := []struct {
		name    string
		payload string
		wantErr bool
	}{
		{name: "echo", payload: `{"op":"echo"}`},
		{name: "function error", payload: `{"op":"error"}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := h.ColdStart(context.Background(), "fn", []byte(tc.payload))
			if (err != nil) != tc.wantErr {
				t.Fatalf("ColdStart err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && (d <= 0 || d > 5*time.Second) {
				t.Errorf("ColdStart = %v", d)
			}
			h.mu.Lock()
			n := len(h.live)
			h.mu.Unlock()
			if n != 0 {
				t.Errorf("%d processes left after ColdStart", n)
			}
		})
	}
}

func TestAsyncInvoke(t *testing.T) {
	type failure struct {
		fn  string
		res Result
		err error
	}
	failures := make(chan failure, 4)
	out := &awstest.SyncBuffer{}
	h := newHost(t, Options{AsyncRetries: 1, AsyncRetryDelay: 10 * time.Millisecond,
		OnAsyncFailure: func(fn string, _ []byte, res Result, err error) { failures <- failure{fn, res, err} },
	}, testFunction("fn", out))

	if err := h.InvokeAsync("fn", []byte(`{"op":"echo","msg":"queued"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the async echo", func() bool { return strings.Contains(out.String(), "[fn] echo: queued") })

	if err := h.InvokeAsync("fn", []byte(`{"op":"error","msg":"x"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-failures:
		if f.fn != "fn" || f.err != nil || f.res.ErrorType != "OrderInvalid" {
			t.Errorf("failure = %+v, want fn's OrderInvalid", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no async failure reported")
	}
	if err := h.InvokeAsync("nope", nil); !errors.Is(err, ErrFunctionNotFound) {
		t.Errorf("InvokeAsync(nope) = %v, want ErrFunctionNotFound", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		fn   Function
		ok   bool
	}{
		{name: "valid", fn: Function{Name: "f", Path: bootstrap}, ok: true},
		{name: "no name", fn: Function{Path: bootstrap}},
		{name: "no path", fn: Function{Name: "f"}},
		{name: "missing binary", fn: Function{Name: "f", Path: filepath.Join(t.TempDir(), "bootstrap")}},
		{name: "directory", fn: Function{Name: "f", Path: t.TempDir()}},
		{name: "negative timeout", fn: Function{Name: "f", Path: bootstrap, Timeout: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	w := &prefixWriter{mu: &sync.Mutex{}, w: &b, prefix: []byte("[f] ")}
	for _, s := range []string{"one\ntw", "o\n", "three"} {
		_, _ = w.Write([]byte(s))
	}
	if got, want := b.String(), "[f] one\n[f] two\n"; got != want {
		t.Errorf("before flush %q, want %q", got, want)
	}
	w.flush()
	if got, want := b.String(), "[f] one\n[f] two\n[f] three\n"; got != want {
		t.Errorf("after flush %q, want %q", got, want)
	}
}

// BenchmarkColdStart measures process start to first answer of the test function.
func BenchmarkColdStart(b *testing.B) {
	h := New(Options{})
	defer h.Close()
	if err := h.Register(Function{Name: "fn", Path: bootstrap, Stdout: &awstest.SyncBuffer{}, Stderr: &awstest.SyncBuffer{}}); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		d, err := h.ColdStart(context.Background(), "fn", []byte(`{"op":"sleep"}`))
		if err != nil {
			b.Fatal(err)
		}
		total += d
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/coldstart")
}

// BenchmarkWarmInvoke measures the host's overhead per invoke on a warm process.
func BenchmarkWarmInvoke(b *testing.B) {
	h := New(Options{})
	defer h.Close()
	if err := h.Register(Function{Name: "fn", Path: bootstrap, Stdout: &awstest.SyncBuffer{}, Stderr: &awstest.SyncBuffer{}}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.Invoke(context.Background(), "fn", []byte(`{"op":"sleep"}`)); err != nil {
			b.Fatal(err)
		}
	}
}

// With ProcessKeys every process has its own AWS_ACCESS_KEY_ID; Running names the
// invoke a key's process is running, and KillProcess ends that invoke as a crash.
func TestProcessKeysAndKill(t *testing.T) {
	out := &awstest.SyncBuffer{}
	fn := testFunction("fn", out)
	fn.Env = map[string]string{"AWS_ACCESS_KEY_ID": "function-key"}
	fn.Concurrency = 2
	h := newHost(t, Options{ProcessKeys: true}, fn)
	keyOf := func(payload string) (string, Result) {
		res, err := h.Invoke(context.Background(), "fn", []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ Env map[string]string }
		_ = json.Unmarshal(res.Payload, &r)
		return r.Env["AWS_ACCESS_KEY_ID"], res
	}
	key, _ := keyOf(`{"op":"env","keys":["AWS_ACCESS_KEY_ID"]}`)
	if !strings.HasPrefix(key, ProcessKeyPrefix) {
		t.Fatalf("process key %q, want one starting with %s", key, ProcessKeyPrefix)
	}
	if r, ok := h.Running(key); !ok || r.Function != "fn" || r.RequestID != "" {
		t.Fatalf("Running(%s) between invokes = %+v, %v", key, r, ok)
	}
	if _, ok := h.Running("function-key"); ok {
		t.Error("Running knows a key no process has")
	}

	// A long invoke on that process: Running names it, KillProcess ends it.
	done := make(chan Result, 1)
	go func() {
		res, _ := h.Invoke(context.Background(), "fn", []byte(`{"op":"sleep","ms":1500}`))
		done <- res
	}()
	var running Running
	waitFor(t, "the sleeping invoke", func() bool {
		r, ok := h.Running(key)
		running = r
		return ok && r.RequestID != ""
	})
	if !h.KillProcess(key) {
		t.Fatal("KillProcess found no process")
	}
	res := <-done
	if res.FunctionError != "Unhandled" || res.ErrorType != "Runtime.ExitError" || res.RequestID != running.RequestID {
		t.Fatalf("killed invoke: %+v, want Runtime.ExitError of %s", res, running.RequestID)
	}
	if _, ok := h.Running(key); ok {
		t.Error("the killed process is still known")
	}
	again, _ := keyOf(`{"op":"env","keys":["AWS_ACCESS_KEY_ID"]}`)
	if again == key || !strings.HasPrefix(again, ProcessKeyPrefix) {
		t.Errorf("the replacement process has key %q (the killed one had %q)", again, key)
	}
}

// A kill Options.Kill decides lands: a process that answers before whoever decided has
// killed it is killed as it answers, and the invoke is a crash; one not chosen answers.
// The hook and OnKill name the invoke's request id.
func TestDecidedKillLands(t *testing.T) {
	out := &awstest.SyncBuffer{}
	var mu sync.Mutex
	var asked, kills []string
	opts := Options{
		Kill: func(fn, requestID string, payload []byte) bool {
			mu.Lock()
			asked = append(asked, requestID)
			mu.Unlock()
			return strings.Contains(string(payload), `"kill":true`)
		},
		OnKill: func(fn, requestID string) {
			mu.Lock()
			kills = append(kills, fn+" "+requestID)
			mu.Unlock()
		},
	}
	h := newHost(t, opts, testFunction("fn", out))
	killed, err := h.Invoke(context.Background(), "fn", []byte(`{"op":"echo","kill":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if killed.FunctionError != "Unhandled" || killed.ErrorType != "Runtime.ExitError" {
		t.Errorf("invoke whose kill was decided: %+v, want Runtime.ExitError", killed)
	}
	res, err := h.Invoke(context.Background(), "fn", []byte(`{"op":"echo"}`))
	if err != nil || res.FunctionError != "" {
		t.Errorf("invoke not chosen: %+v, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kills) != 1 || kills[0] != "fn "+killed.RequestID {
		t.Errorf("OnKill heard %v, want one kill of fn, request %s", kills, killed.RequestID)
	}
	if len(asked) != 2 || asked[0] != killed.RequestID || asked[1] != res.RequestID {
		t.Errorf("Kill was asked for requests %v, want [%s %s]", asked, killed.RequestID, res.RequestID)
	}
}
