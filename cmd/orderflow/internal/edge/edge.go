// Package edge is the local stack's single AWS endpoint (127.0.0.1:4566 by default): it
// serves the Lambda Invoke API for the stack's own functions and proxies every other AWS
// call to the emulator. Every request passes through a chain of middlewares, which see the
// call's service and operation (Call); call counting is built in, fault injection can be
// added with Use.
package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// Middleware wraps the handler that serves a call.
type Middleware func(next http.Handler) http.Handler

// Handler is the edge endpoint: middlewares, then either the Lambda Invoke API or the
// reverse proxy to the emulator.
type Handler struct {
	// Lambda serves Lambda API calls (/2015-03-31/functions/...); nil proxies them too.
	Lambda http.Handler
	// Counter, when set, counts every call by service and operation.
	Counter *Counter
	// Readiness, when set, holds back every call but the AWS-internal ones until the
	// stack is ready (see Readiness).
	Readiness *Readiness

	proxy *httputil.ReverseProxy

	mu      sync.RWMutex
	mws     []Middleware
	handler http.Handler
}

// New returns an edge that proxies to upstream (the emulator's base URL) and serves
// Lambda calls with lambda (may be nil). The counter is created and installed first.
func New(upstream *url.URL, lambda http.Handler) *Handler {
	h := &Handler{Lambda: lambda, Counter: NewCounter()}
	h.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			// Keep the path as signed and sent: SetURL joins paths, upstream has none.
		},
		FlushInterval: -1,
	}
	h.rebuild()
	return h
}

// Use appends a middleware to the chain; it sees calls after the ones added before it.
// Safe to call while serving.
func (h *Handler) Use(mw Middleware) {
	h.mu.Lock()
	h.mws = append(h.mws, mw)
	h.mu.Unlock()
	h.rebuild()
}

func (h *Handler) rebuild() {
	h.mu.Lock()
	defer h.mu.Unlock()
	var next http.Handler = http.HandlerFunc(h.route)
	for i := len(h.mws) - 1; i >= 0; i-- {
		next = h.mws[i](next)
	}
	if h.Counter != nil {
		next = h.Counter.Middleware(next)
	}
	h.handler = next
}

// ServeHTTP identifies the call and runs it through the middleware chain.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Readiness.answer(w, r) {
		return
	}
	call := Identify(r)
	if !call.Internal && !h.Readiness.Ready() {
		h.Readiness.refuse(w)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), callKey{}, call))
	h.mu.RLock()
	next := h.handler
	h.mu.RUnlock()
	next.ServeHTTP(w, r)
}

func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	if h.Lambda != nil && strings.HasPrefix(r.URL.Path, LambdaPathPrefix) {
		h.Lambda.ServeHTTP(w, r)
		return
	}
	h.proxy.ServeHTTP(w, r)
}

type callKey struct{}

// CallFrom returns the call the edge identified for r (inside a middleware).
func CallFrom(r *http.Request) Call {
	c, _ := r.Context().Value(callKey{}).(Call)
	return c
}

// ReadyPath is where the edge and the HTTP API answer whether the stack is ready: 200
// {"ready":true} once it is, 503 {"ready":false,"message":...} before. (No S3 bucket can
// be named "_orderflow", so the path is free at the edge.)
const ReadyPath = "/_orderflow/ready"

// Readiness holds requests back until the stack is ready: before SetReady, ReadyPath
// answers 503 and so does every other request (except what the owner lets through),
// with a JSON message saying how to wait. A nil *Readiness is always ready.
type Readiness struct {
	// Message says what is not ready yet and how to wait.
	Message string
	ready   atomic.Bool
	refused atomic.Int64
}

// Refused returns how many requests were answered 503 so far.
func (g *Readiness) Refused() int64 { return g.refused.Load() }

// SetReady marks the stack ready; everything set before it is visible to the requests
// served after.
func (g *Readiness) SetReady() { g.ready.Store(true) }

// Ready reports whether SetReady was called (true for nil).
func (g *Readiness) Ready() bool { return g == nil || g.ready.Load() }

// Wrap holds back every request to next until ready and answers ReadyPath.
func (g *Readiness) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.answer(w, r) {
			return
		}
		if !g.Ready() {
			g.refuse(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// answer serves ReadyPath; it reports whether r was for it.
func (g *Readiness) answer(w http.ResponseWriter, r *http.Request) bool {
	if g == nil || r.URL.Path != ReadyPath {
		return false
	}
	if !g.Ready() {
		g.refuse(w)
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ready":true}` + "\n"))
	return true
}

// refuse answers 503 with the message, in a body the AWS SDKs read as a retryable
// ServiceUnavailable error.
func (g *Readiness) refuse(w http.ResponseWriter) {
	g.refused.Add(1)
	b, _ := json.Marshal(map[string]any{"ready": false, "__type": "ServiceUnavailable", "message": g.Message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", "ServiceUnavailable")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(append(b, '\n'))
}
