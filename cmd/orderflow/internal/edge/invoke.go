package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Invoker runs a function synchronously; functionError is non-empty when it failed (the
// X-Amz-Function-Error header: "Unhandled" or "Handled").
type Invoker interface {
	InvokeSync(ctx context.Context, function string, payload []byte) (out []byte, functionError string, err error)
}

// AsyncInvoker accepts an invoke with InvocationType Event.
type AsyncInvoker interface {
	Invoke(function string, payload []byte)
}

// InvokeAPI serves the Lambda API for the stack's functions: Invoke (POST
// /2015-03-31/functions/{name}/invocations) for the functions Known reports, and
// ListFunctions, GetFunction and GetFunctionConfiguration for Functions. FunctionName may
// be a name, a partial or full ARN, with or without a qualifier. Set the fields before it
// serves, or call Wire later (safe while serving); until then every call answers 503.
type InvokeAPI struct {
	Sync  Invoker
	Async AsyncInvoker
	// Known reports whether a function name exists; nil: the names in Functions.
	Known func(name string) bool
	// Functions describe the functions for ListFunctions and GetFunction.
	Functions []Function
	// MaxPayload is the largest request payload (6 MB for synchronous invokes on AWS).
	MaxPayload int64

	mu    sync.RWMutex
	wired bool
}

// Function is what ListFunctions and GetFunction show of a function.
type Function struct {
	Name, ARN string
	// Runtime and Handler as the template declares them (provided.al2023, bootstrap).
	Runtime, Handler string
	MemoryMB         int
	Timeout          time.Duration
	Env              map[string]string
	// Architectures as the template declares them (arm64).
	Architectures []string
	// CodeLocation is where the function's code is (the local bootstrap binary).
	CodeLocation string
}

// Wire sets what the API serves; safe to call while it serves (the local stack starts
// serving before its functions run).
func (a *InvokeAPI) Wire(sync Invoker, async AsyncInvoker, fns []Function) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Sync, a.Async, a.Functions, a.wired = sync, async, fns, true
}

// backend returns the wired fields; ok is false before Wire when none was set.
func (a *InvokeAPI) backend() (sync Invoker, async AsyncInvoker, known func(string) bool, fns []Function, ok bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	known = a.Known
	if known == nil {
		names := map[string]bool{}
		for _, f := range a.Functions {
			names[f.Name] = true
		}
		known = func(n string) bool { return names[n] }
	}
	return a.Sync, a.Async, known, a.Functions, a.wired || a.Sync != nil
}

// FunctionName returns the function name in a FunctionName parameter:
// "arn:aws:lambda:us-east-1:123456789012:function:f:live" and "f:live" give "f".
func FunctionName(s string) string {
	if strings.HasPrefix(s, "arn:") {
		parts := strings.Split(s, ":")
		if len(parts) >= 7 {
			return parts[6]
		}
		return s
	}
	if i := strings.Index(s, ":function:"); i >= 0 { // 123456789012:function:f
		s = s[i+len(":function:"):]
	}
	name, _, _ := strings.Cut(s, ":")
	return name
}

// LambdaPathPrefix is the path of the Lambda API's function resources.
const LambdaPathPrefix = "/2015-03-31/functions"

func (a *InvokeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	syncInv, asyncInv, known, fns, ok := a.backend()
	if !ok {
		lambdaError(w, http.StatusServiceUnavailable, "ServiceException", "the local stack's functions are not started yet")
		return
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.EscapedPath(), LambdaPathPrefix), "/")
	raw, op, _ := strings.Cut(rest, "/")
	if raw == "" && r.Method == http.MethodGet {
		listFunctions(w, fns)
		return
	}
	fn, err := url.PathUnescape(raw)
	if err != nil {
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "bad function name")
		return
	}
	name := FunctionName(fn)
	if raw != "" && !known(name) {
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+fn)
		return
	}
	switch {
	case r.Method == http.MethodGet && op == "":
		getFunction(w, fns, name, true)
		return
	case r.Method == http.MethodGet && op == "configuration":
		getFunction(w, fns, name, false)
		return
	case r.Method != http.MethodPost || op != "invocations":
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "the local stack serves Invoke, ListFunctions, GetFunction and GetFunctionConfiguration for its functions, not "+r.Method+" "+r.URL.Path)
		return
	}
	max := a.MaxPayload
	if max <= 0 {
		max = 6 << 20
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", err.Error())
		return
	}
	if int64(len(payload)) > max {
		lambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	switch t := r.Header.Get("X-Amz-Invocation-Type"); t {
	case "", "RequestResponse":
	case "Event":
		if asyncInv == nil {
			lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "asynchronous invokes are not served")
			return
		}
		asyncInv.Invoke(name, payload)
		w.WriteHeader(http.StatusAccepted)
		return
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "unknown InvocationType "+t)
		return
	}
	out, fnErr, err := syncInv.InvokeSync(r.Context(), name, payload)
	if err != nil {
		lambdaError(w, http.StatusInternalServerError, "ServiceException", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if fnErr != "" {
		w.Header().Set("X-Amz-Function-Error", fnErr)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func lambdaError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"Type":"User","message":%q}`, msg)
}

// configuration is a FunctionConfiguration of the Lambda API.
func (f Function) configuration() map[string]any {
	c := map[string]any{
		"FunctionName": f.Name, "FunctionArn": f.ARN, "Runtime": f.Runtime, "Handler": f.Handler,
		"MemorySize": f.MemoryMB, "Timeout": int(f.Timeout / time.Second), "Version": "$LATEST",
		"State": "Active", "LastUpdateStatus": "Successful", "PackageType": "Zip",
		"Role": "arn:aws:iam::123456789012:role/" + f.Name,
	}
	if len(f.Architectures) > 0 {
		c["Architectures"] = f.Architectures
	}
	if len(f.Env) > 0 {
		c["Environment"] = map[string]any{"Variables": f.Env}
	}
	return c
}

func listFunctions(w http.ResponseWriter, fns []Function) {
	sorted := append([]Function(nil), fns...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	out := make([]map[string]any, 0, len(sorted))
	for _, f := range sorted {
		out = append(out, f.configuration())
	}
	writeJSON(w, map[string]any{"Functions": out})
}

// getFunction answers GetFunction (withCode) or GetFunctionConfiguration.
func getFunction(w http.ResponseWriter, fns []Function, name string, withCode bool) {
	for _, f := range fns {
		if f.Name != name {
			continue
		}
		if !withCode {
			writeJSON(w, f.configuration())
			return
		}
		writeJSON(w, map[string]any{"Configuration": f.configuration(),
			"Code": map[string]any{"RepositoryType": "Local", "Location": f.CodeLocation}})
		return
	}
	lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
