// Package edge is the local stack's single AWS endpoint (127.0.0.1:4566 by default): it
// serves the Lambda Invoke API for the stack's own functions and proxies every other AWS
// call to the emulator. Every request passes through a chain of middlewares, which see the
// call's service and operation (Call); call counting is built in, fault injection can be
// added with Use.
package edge

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
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
	call := Identify(r)
	r = r.WithContext(context.WithValue(r.Context(), callKey{}, call))
	h.mu.RLock()
	next := h.handler
	h.mu.RUnlock()
	next.ServeHTTP(w, r)
}

func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	if h.Lambda != nil && strings.HasPrefix(r.URL.Path, "/2015-03-31/functions/") {
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
