// Package httpapi serves an HTTP API on localhost the way API Gateway's HTTP APIs do:
// routes from the template, requests turned into payload format 2.0 events, and the
// function's response turned back into HTTP. With an Authorizer (ApiAuth=JWT) every route
// requires a valid token, and its claims reach the function as API Gateway's JWT
// authorizer passes them; SigV4 (IAM) is not enforced locally.
package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Route maps a method and a path template ("/orders/{orderId}") to a function.
type Route struct {
	Method   string // upper case, or "ANY"
	Path     string
	Function string
}

// Invoker runs a function synchronously. functionError is non-empty when the function
// failed (as the X-Amz-Function-Error header).
type Invoker interface {
	InvokeSync(ctx context.Context, function string, payload []byte) (out []byte, functionError string, err error)
}

// Authorizer validates a request's credentials as an API Gateway authorizer does and
// returns what goes into the event's requestContext.authorizer, or why it refuses them.
type Authorizer interface {
	Authorize(ctx context.Context, r *http.Request) (*events.APIGatewayV2HTTPRequestContextAuthorizerDescription, error)
}

// Server is an http.Handler for a set of routes.
type Server struct {
	Routes  []Route
	Invoker Invoker
	// Authorizer, when set, guards every route (the template gives every route the same
	// security): a request it refuses gets API Gateway's 401 {"message":"Unauthorized"}
	// and never reaches the function.
	Authorizer Authorizer
	// MaxBody is the largest request body accepted; API Gateway's limit is 10 MB.
	MaxBody int64
	// Stage is the stage name in the request context; "$default" when empty.
	Stage string
	// Timeout is the integration timeout: API Gateway gives up on a function after 30 s
	// and answers 503 Service Unavailable.
	Timeout time.Duration
	now     func() time.Time
	seq     atomic.Int64
}

// New returns a Server for routes.
func New(routes []Route, inv Invoker) *Server {
	return &Server{Routes: routes, Invoker: inv, MaxBody: 10 << 20, Timeout: 30 * time.Second, now: time.Now}
}

// DefaultRoute is the path of the catch-all route, as in API Gateway.
const DefaultRoute = "$default"

// match finds the route for a request: explicit routes first, then $default.
func (s *Server) match(method, path string) (Route, map[string]string, bool) {
	for _, r := range s.Routes {
		if r.Path == DefaultRoute || (r.Method != "ANY" && r.Method != method) {
			continue
		}
		if params, ok := matchPath(r.Path, path); ok {
			return r, params, true
		}
	}
	for _, r := range s.Routes {
		if r.Path == DefaultRoute {
			return r, nil, true
		}
	}
	return Route{}, nil, false
}

// matchPath matches a path template with {name} and a final {name+} segment.
func matchPath(tmpl, path string) (map[string]string, bool) {
	ts := strings.Split(strings.Trim(tmpl, "/"), "/")
	ps := strings.Split(strings.Trim(path, "/"), "/")
	params := map[string]string{}
	for i, t := range ts {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "+}") {
			if i >= len(ps) {
				return nil, false
			}
			params[t[1:len(t)-2]] = strings.Join(ps[i:], "/")
			return params, true
		}
		if i >= len(ps) {
			return nil, false
		}
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if ps[i] == "" {
				return nil, false
			}
			params[t[1:len(t)-1]] = ps[i]
			continue
		}
		if t != ps[i] {
			return nil, false
		}
	}
	if len(ts) != len(ps) {
		return nil, false
	}
	return params, true
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route, params, ok := s.match(r.Method, r.URL.Path)
	if !ok {
		gatewayError(w, http.StatusNotFound, "Not Found")
		return
	}
	var auth *events.APIGatewayV2HTTPRequestContextAuthorizerDescription
	if s.Authorizer != nil {
		var err error
		if auth, err = s.Authorizer.Authorize(r.Context(), r); err != nil {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer error=%q error_description=%q", "invalid_token", err.Error()))
			gatewayError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.MaxBody+1))
	if err != nil {
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if int64(len(body)) > s.MaxBody {
		gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	ev := s.event(r, route, params, body)
	ev.RequestContext.Authorizer = auth
	payload, err := json.Marshal(ev)
	if err != nil {
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	ctx := r.Context()
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	out, fnErr, err := s.Invoker.InvokeSync(ctx, route.Function, payload)
	if ctx.Err() == context.DeadlineExceeded {
		gatewayError(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	if err != nil || fnErr != "" {
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	writeResponse(w, out)
}

func (s *Server) event(r *http.Request, route Route, params map[string]string, body []byte) events.APIGatewayV2HTTPRequest {
	now := s.now()
	stage := s.Stage
	if stage == "" {
		stage = "$default"
	}
	headers := make(map[string]string, len(r.Header)+1)
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	if r.Host != "" {
		headers["host"] = r.Host
	}
	var cookies []string
	if c, ok := headers["cookie"]; ok {
		for _, part := range strings.Split(c, ";") {
			cookies = append(cookies, strings.TrimSpace(part))
		}
		delete(headers, "cookie")
	}
	var query map[string]string
	if q := r.URL.Query(); len(q) > 0 {
		query = make(map[string]string, len(q))
		for k, v := range q {
			query[k] = strings.Join(v, ",")
		}
	}
	routeKey := route.Method + " " + route.Path
	if route.Path == DefaultRoute {
		routeKey = DefaultRoute
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.Path,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    "123456789012",
			Stage:        stage,
			RequestID:    fmt.Sprintf("local-%d-%d", now.UnixNano(), s.seq.Add(1)),
			APIID:        "local",
			DomainName:   r.Host,
			DomainPrefix: "local",
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  ip,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) && isText(headers["content-type"]) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isText follows API Gateway: bodies are passed as text unless they look binary.
func isText(contentType string) bool {
	ct := strings.ToLower(contentType)
	return ct == "" || strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") ||
		strings.Contains(ct, "xml") || strings.Contains(ct, "x-www-form-urlencoded") || strings.Contains(ct, "javascript")
}

// writeResponse applies payload format 2.0's response rules: a JSON object with
// statusCode is a structured response; anything else is a 200 JSON body.
func writeResponse(w http.ResponseWriter, out []byte) {
	var probe map[string]json.RawMessage
	if json.Unmarshal(out, &probe) == nil {
		if _, ok := probe["statusCode"]; ok {
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				gatewayError(w, http.StatusBadGateway, "Internal Server Error")
				return
			}
			keys := make([]string, 0, len(resp.Headers))
			for k := range resp.Headers {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				w.Header().Set(k, resp.Headers[k])
			}
			for k, vs := range resp.MultiValueHeaders {
				for _, v := range vs {
					w.Header().Add(k, v)
				}
			}
			for _, c := range resp.Cookies {
				w.Header().Add("Set-Cookie", c)
			}
			body := []byte(resp.Body)
			if resp.IsBase64Encoded {
				b, err := base64.StdEncoding.DecodeString(resp.Body)
				if err != nil {
					gatewayError(w, http.StatusBadGateway, "Internal Server Error")
					return
				}
				body = b
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(body)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// gatewayError answers as API Gateway itself does for errors outside the function.
func gatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"message":%q}`, msg)
}
