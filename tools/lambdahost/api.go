package lambdahost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

const (
	// maxSyncPayload and maxAsyncPayload are AWS's request payload limits.
	maxSyncPayload  = 6 << 20
	maxAsyncPayload = 1 << 20
)

// FunctionName splits an Invoke API FunctionName into the function's name and qualifier:
// "f", "f:$LATEST", "123456789012:function:f" and
// "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST" all name "f".
func FunctionName(s string) (name, qualifier string) {
	if strings.HasPrefix(s, "arn:") {
		parts := strings.Split(s, ":")
		if len(parts) < 7 || parts[5] != "function" {
			return s, ""
		}
		if len(parts) > 7 {
			qualifier = parts[7]
		}
		return parts[6], qualifier
	}
	if i := strings.Index(s, ":function:"); i >= 0 {
		s = s[i+len(":function:"):]
	}
	name, qualifier, _ = strings.Cut(s, ":")
	return name, qualifier
}

// ServeHTTP serves the Lambda Invoke API, POST /2015-03-31/functions/{FunctionName}/invocations,
// for the registered functions. FunctionName may be a name, a partial or a full ARN; the
// only qualifier is $LATEST. X-Amz-Invocation-Type RequestResponse (the default) answers
// the function's payload with X-Amz-Function-Error on a function error; Event answers 202
// and queues the invoke (InvokeAsync); DryRun answers 204. Errors are AWS's JSON errors
// (ResourceNotFoundException 404, InvalidParameterValueException 400,
// InvalidRequestContentException 400, RequestTooLargeException 413, ServiceException 500).
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/2015-03-31/functions/")
	raw, op, _ := strings.Cut(rest, "/")
	if !ok || op != "invocations" {
		apiError(w, http.StatusNotFound, "UnknownOperationException", "only Invoke is served: "+r.Method+" "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		apiError(w, http.StatusMethodNotAllowed, "UnknownOperationException", "Invoke is a POST")
		return
	}
	arg, err := url.PathUnescape(raw)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidParameterValueException", "FunctionName is not a valid path segment")
		return
	}
	name, qualifier := FunctionName(arg)
	if q := r.URL.Query().Get("Qualifier"); q != "" {
		if qualifier != "" && qualifier != q {
			apiError(w, http.StatusBadRequest, "InvalidParameterValueException", "The derived qualifier from the function name does not match the specified qualifier.")
			return
		}
		qualifier = q
	}
	arn := h.ARN(name)
	if arn == "" || (qualifier != "" && qualifier != "$LATEST") {
		apiError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+arg)
		return
	}
	invType := r.Header.Get("X-Amz-Invocation-Type")
	if invType == "" {
		invType = "RequestResponse"
	}
	limit := int64(maxSyncPayload)
	switch invType {
	case "RequestResponse", "DryRun":
	case "Event":
		limit = maxAsyncPayload
	default:
		apiError(w, http.StatusBadRequest, "InvalidParameterValueException", "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun")
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", "could not read the request body")
		return
	}
	if int64(len(payload)) > limit {
		apiError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", fmt.Sprintf("Request must be smaller than %d bytes for the Invoke operation", limit))
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}
	switch invType {
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
	case "Event":
		if err := h.InvokeAsync(name, payload); err != nil {
			h.invokeError(w, err)
			return
		}
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		w.WriteHeader(http.StatusAccepted)
	default:
		res, err := h.Invoke(r.Context(), name, payload)
		if err != nil {
			h.invokeError(w, err)
			return
		}
		hd := w.Header()
		hd.Set("Content-Type", "application/json")
		hd.Set("X-Amz-Executed-Version", "$LATEST")
		hd.Set("X-Amzn-Requestid", res.RequestID)
		if res.FunctionError != "" {
			hd.Set("X-Amz-Function-Error", res.FunctionError)
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res.Payload)
	}
}

func (h *Host) invokeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrFunctionNotFound):
		apiError(w, http.StatusNotFound, "ResourceNotFoundException", err.Error())
	case errors.Is(err, ErrClosed):
		apiError(w, http.StatusServiceUnavailable, "ServiceException", "the local Lambda host is shutting down")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The caller has gone; nobody reads the answer.
		apiError(w, http.StatusGatewayTimeout, "ServiceException", "the invoke was cancelled")
	default:
		apiError(w, http.StatusInternalServerError, "ServiceException", err.Error())
	}
}

// apiError writes an AWS JSON error; the SDKs read the code from X-Amzn-ErrorType.
func apiError(w http.ResponseWriter, status int, code, msg string) {
	typ := "User"
	if status >= 500 {
		typ = "Service"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": typ, "Message": msg})
}
