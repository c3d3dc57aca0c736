package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
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

// InvokeAPI serves the Lambda Invoke API (POST /2015-03-31/functions/{name}/invocations)
// for the functions Known reports; FunctionName may be a name, a partial or full ARN, with
// or without a qualifier.
type InvokeAPI struct {
	Sync  Invoker
	Async AsyncInvoker
	// Known reports whether a function name exists.
	Known func(name string) bool
	// MaxPayload is the largest request payload (6 MB for synchronous invokes on AWS).
	MaxPayload int64
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

func (a *InvokeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/2015-03-31/functions/")
	raw, op, ok := strings.Cut(rest, "/")
	if !ok || op != "invocations" || r.Method != http.MethodPost {
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "the local stack serves only Invoke for its functions: "+r.Method+" "+r.URL.Path)
		return
	}
	fn, err := url.PathUnescape(raw)
	if err != nil {
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "bad function name")
		return
	}
	name := FunctionName(fn)
	if a.Known != nil && !a.Known(name) {
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+fn)
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
		if a.Async == nil {
			lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "asynchronous invokes are not served")
			return
		}
		a.Async.Invoke(name, payload)
		w.WriteHeader(http.StatusAccepted)
		return
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "unknown InvocationType "+t)
		return
	}
	out, fnErr, err := a.Sync.InvokeSync(r.Context(), name, payload)
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
