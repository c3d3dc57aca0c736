package saga_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

func (e *lambdaEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

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
