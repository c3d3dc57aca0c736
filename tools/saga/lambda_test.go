package saga_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// lambdaFunc runs one invocation: the result payload, or the errorType and errorMessage
// aws-lambda-go reports for a returned error.
type lambdaFunc func(ctx context.Context, requestID string, payload []byte) (out []byte, errorType, errorMessage string)

// lambdaEndpoint serves the Lambda Invoke API (POST /2015-03-31/functions/{name}/invocations)
// for registered functions, answering as Lambda does, and reverse-proxies every other
// request to the emulator.
type lambdaEndpoint struct {
	mux   *http.ServeMux
	mu    sync.RWMutex
	fns   map[string]lambdaFunc
	proxy http.Handler
	reqID atomic.Int64
	// faults answer matching requests (moto's Step Functions task calls) with an error.
	faults []*fault
}

// fault fails the requests it matches, Times times, with Status, Header and Body. With
// Forward the request is served first and its answer replaced: a call that took effect
// but whose answer was lost.
type fault struct {
	Match   func(r *http.Request, body []byte) bool
	Times   int
	Forward bool
	Status  int
	Header  map[string]string
	Body    string

	hits atomic.Int64 // requests failed so far
}

// Hits returns how many requests the fault failed.
func (f *fault) Hits() int64 { return f.hits.Load() }

// inject adds f until the returned func removes it.
func (e *lambdaEndpoint) inject(f *fault) (remove func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, f)
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, g := range e.faults {
			if g == f {
				e.faults = append(e.faults[:i], e.faults[i+1:]...)
				return
			}
		}
	}
}

// takeFault returns the first fault matching r that has failures left, counting one.
func (e *lambdaEndpoint) takeFault(r *http.Request, body []byte) *fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range e.faults {
		if int(f.hits.Load()) < f.Times && f.Match(r, body) {
			f.hits.Add(1)
			return f
		}
	}
	return nil
}

// awsError is a fault answering an AWS JSON-protocol call (X-Amz-Target target) whose
// body mentions orderID with status and the error code.
func awsError(target, orderID string, times, status int, code string) *fault {
	return &fault{
		Match: func(r *http.Request, body []byte) bool {
			return r.Header.Get("X-Amz-Target") == target && bytes.Contains(body, []byte(orderID))
		},
		Times:  times,
		Status: status,
		Header: map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amzn-Query-Error": code + ";Receiver",
			"X-Amzn-Requestid": "saga-fault"}, // moto's DynamoDB integration fails on an error without one
		Body: fmt.Sprintf(`{"__type":%q,"message":"injected by the saga test"}`, code),
	}
}

// functionError is a fault answering the process function's invoke for action on
// orderID as Lambda answers a function error of errorType (Runtime.ExitError for a
// crash, TransientError as the handler returns it).
func functionError(orderID, action, errorType string, times int) *fault {
	return &fault{
		Match: func(r *http.Request, body []byte) bool {
			var task struct{ Action, OrderID string }
			return strings.HasSuffix(r.URL.Path, "/invocations") && json.Unmarshal(body, &task) == nil &&
				task.OrderID == orderID && task.Action == action
		},
		Times:  times,
		Status: http.StatusOK,
		Header: map[string]string{"Content-Type": "application/json", "X-Amz-Function-Error": "Unhandled"},
		Body:   fmt.Sprintf(`{"errorType":%q,"errorMessage":"injected by the saga test"}`, errorType),
	}
}

// lostAnswer is a fault that lets the process function's invoke for action on orderID
// run and then answers as Lambda does when the function crashed (Runtime.ExitError): the
// write landed, the answer did not.
func lostAnswer(orderID, action string, times int) *fault {
	f := functionError(orderID, action, "Runtime.ExitError", times)
	f.Forward = true
	return f
}

// invokeError is a fault failing the Invoke API call itself for action on orderID (the
// Lambda service answered status with code, the function did not run).
func invokeError(orderID, action string, status int, code string) *fault {
	f := functionError(orderID, action, "", 1)
	f.Header = map[string]string{"Content-Type": "application/json", "X-Amzn-Errortype": code}
	f.Status, f.Body = status, `{"Type":"Service","message":"injected by the saga test"}`
	return f
}

func newLambdaEndpoint() *lambdaEndpoint {
	e := &lambdaEndpoint{fns: map[string]lambdaFunc{}}
	e.mux = http.NewServeMux()
	e.mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", e.invoke)
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		e.mu.RLock()
		p := e.proxy
		e.mu.RUnlock()
		if p == nil {
			http.Error(w, "no emulator to proxy to", http.StatusServiceUnavailable)
			return
		}
		p.ServeHTTP(w, r)
	})
	return e
}

func (e *lambdaEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.RLock()
	faulty := len(e.faults) > 0
	e.mu.RUnlock()
	if !faulty {
		e.mux.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	f := e.takeFault(r, body)
	if f == nil {
		e.mux.ServeHTTP(w, r)
		return
	}
	if f.Forward {
		e.mux.ServeHTTP(httptest.NewRecorder(), r) // it happens; its answer is lost
	}
	for k, v := range f.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(f.Status)
	io.WriteString(w, f.Body) //nolint:errcheck // the caller has gone
}

func (e *lambdaEndpoint) setProxy(p http.Handler) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.proxy = p
}

// register serves fn under the function name; the returned func removes it.
func (e *lambdaEndpoint) register(name string, fn lambdaFunc) (unregister func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fns[name] = fn
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.fns, name)
	}
}

// functionName returns the name in a function name, partial ARN or ARN, without a
// version or alias qualifier.
func functionName(s string) string {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) >= 7 && parts[0] == "arn": // arn:aws:lambda:region:account:function:name[:qualifier]
		return parts[6]
	case len(parts) >= 3 && parts[1] == "function": // account:function:name[:qualifier]
		return parts[2]
	}
	return parts[0] // name[:qualifier]
}

func (e *lambdaEndpoint) invoke(w http.ResponseWriter, r *http.Request) {
	name := functionName(r.PathValue("name"))
	e.mu.RLock()
	fn := e.fns[name]
	e.mu.RUnlock()
	if fn == nil {
		w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
		writeJSON(w, http.StatusNotFound, map[string]string{
			"Type": "User", "message": "Function not found: " + r.PathValue("name")})
		return
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	requestID := fmt.Sprintf("req-%d", e.reqID.Add(1))
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	out, errType, errMsg := fn(ctx, requestID, payload)
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if errType != "" {
		// A function error is a 200 with the error in the body, as Lambda answers.
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		writeJSON(w, http.StatusOK, map[string]string{"errorMessage": errMsg, "errorType": errType})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(out) //nolint:errcheck // the caller has gone
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the caller has gone
}
