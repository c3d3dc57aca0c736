// Package ingest is the HTTP API's Lambda handler (API Gateway payload format 2.0): it
// accepts orders (POST /orders, with an optional Idempotency-Key) and serves them back
// (GET /orders/{orderId}, and a customer's orders, newest first, page by page: GET /orders).
//
// Who the caller is depends on the API's auth (the template's ApiAuth). With a JWT
// authorizer (Handler.CustomerClaim set) the caller is a customer, named by a claim of
// the token that API Gateway validated and passed in requestContext.authorizer.jwt: a
// new order is that customer's whatever the body says, an Idempotency-Key is that
// customer's alone, GET /orders/{orderId} answers 404 for another customer's order (as
// for an unknown id), and GET /orders lists the caller's orders. Otherwise (IAM: SigV4,
// a trusted service) the customer is whatever the request names: customerId in the body,
// ?customerId= on GET /orders, and any order can be read.
//
// Every answer is JSON. Client mistakes get a 4xx with
// {"error":{"code","message","details":[{"field","issue"}]}}; failures of the stores get
// a 503 UNAVAILABLE whose text names no internal detail. Handle never returns a non-nil
// error, so API Gateway never answers a bare 500.
//
// A POST makes one write: the order, with the record of its Idempotency-Key when there is
// one, in one transaction (Intake). Nothing is published here: Order Created comes from
// the orders table's stream (pkg/handler/publisher), so an order that was stored is
// always announced and an order that was not stored never is, whatever crashes where.
//
// GET /orders/{orderId} with an id that is not an order id (order.ValidID) answers 404
// NOT_FOUND, like an unknown id: no order can exist under it, and a client cannot tell
// the two apart by probing.
package ingest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/idempotency"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/metrics"
	"github.com/orderflow/orderflow/pkg/order"
)

// Header names the handler reads and writes (API Gateway lowercases request headers;
// lookups are case-insensitive anyway, for sam local and tests).
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderCorrelationID  = "X-Correlation-Id"
	HeaderContentType    = "Content-Type"
	HeaderLocation       = "Location"
	HeaderAllow          = "Allow"
)

// MaxKeyLength is the longest Idempotency-Key or X-Correlation-Id accepted.
const MaxKeyLength = 128

// Error codes of the JSON error body.
const (
	CodeValidationFailed     = "VALIDATION_FAILED"
	CodePayloadTooLarge      = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	CodeRouteNotFound        = "ROUTE_NOT_FOUND"
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	CodeNotFound             = "NOT_FOUND"
	CodeKeyReused            = "IDEMPOTENCY_KEY_REUSED"
	CodeInProgress           = "REQUEST_IN_PROGRESS"
	CodeUnavailable          = "UNAVAILABLE"
	CodeForbidden            = "FORBIDDEN"
	CodeCustomerMismatch     = "CUSTOMER_MISMATCH"
)

// Paging of GET /orders: ?limit= (1 to MaxPageSize, default DefaultPageSize) and
// ?nextToken= (the nextToken of the page before, opaque).
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// OrderStore reads orders. Get returns order.ErrNotFound for an unknown id.
// PageByCustomer returns up to limit of a customer's orders, newest first, after the
// position pageToken names ("" = the newest), and the next page's token ("" = no more);
// order.ErrBadPageToken for a token it did not make (dynamo.OrderStore).
type OrderStore interface {
	Get(ctx context.Context, id string) (*order.Order, error)
	PageByCustomer(ctx context.Context, customerID string, limit int, pageToken string) ([]*order.Order, string, error)
}

// Intake stores a new order and, when o.IdempotencyKey is set, the record of its key
// (bodyHash and resp, the answer to replay) in one write (dynamo.IntakeStore). It returns
// (nil, nil) when o was stored; the recorded response of an earlier request with the same
// key and body (and stores nothing); idempotency.ErrMismatch for the same key with another
// body; idempotency.ErrInProgress while another request with the key is being committed.
type Intake interface {
	Accept(ctx context.Context, o *order.Order, bodyHash string, resp idempotency.Response, now time.Time) (*idempotency.Response, error)
}

// Handler serves the orders API. Orders and Intake are required; CustomerClaim, NewID,
// Now, Log and Metrics are optional.
type Handler struct {
	Orders OrderStore
	Intake Intake
	// CustomerClaim, when set (ApiAuth=JWT), is the JWT claim that names the calling
	// customer (e.g. "sub"); a request whose token lacks it, or whose value is not a
	// customer id, gets 403 FORBIDDEN. Empty: the caller is a trusted service (IAM).
	CustomerClaim string
	// NewID returns a new order id; order.NewID when nil.
	NewID func(time.Time) string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log is the logger; slog.Default when nil. The orderId and correlationId go on the
	// context (logging.WithOrder), so a pkg/logging handler puts them on every line; the
	// payment token is never logged.
	Log *slog.Logger
	// Metrics, when set, receives the OrdersAccepted count of each new order and is
	// flushed (one EMF line) per accepted order.
	Metrics Recorder
}

// Recorder records business metrics; *metrics.Recorder satisfies it.
type Recorder interface {
	Put(name string, value float64, unit metrics.Unit)
	Flush() error
}

// MetricOrdersAccepted counts orders accepted (202, not replays).
const MetricOrdersAccepted = "OrdersAccepted"

// Handle routes one HTTP API request. The error is always nil: every outcome, including
// an internal failure, is an HTTP response.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	method, kind, id := route(req)
	if kind == routeUnknown {
		return errorResponse(404, CodeRouteNotFound, "no route for "+method+" "+safePath(req.RawPath), nil), nil
	}
	customer, denied, ok := h.caller(req)
	if !ok {
		return denied, nil
	}
	switch {
	case kind == routeCollection && method == "POST":
		return h.create(ctx, req, customer), nil
	case kind == routeCollection && method == "GET":
		return h.list(ctx, req, customer), nil
	case kind == routeItem && method == "GET":
		return h.get(ctx, id, customer), nil
	case kind == routeCollection:
		return methodNotAllowed("GET, POST"), nil
	}
	return methodNotAllowed("GET"), nil
}

// caller returns the calling customer when the API authenticates customers
// (CustomerClaim set): the claim's value, from the claims API Gateway's JWT authorizer
// passed. Without CustomerClaim it returns "" (a trusted service). ok is false, with
// the 403 to send, when the claim is missing or not a customer id: a request that
// reached the function without one is refused, never served as nobody's.
func (h *Handler) caller(req events.APIGatewayV2HTTPRequest) (customer string, denied events.APIGatewayV2HTTPResponse, ok bool) {
	if h.CustomerClaim == "" {
		return "", denied, true
	}
	var claims map[string]string
	if a := req.RequestContext.Authorizer; a != nil && a.JWT != nil {
		claims = a.JWT.Claims
	}
	v, found := claims[h.CustomerClaim]
	switch {
	case !found || v == "":
		return "", errorResponse(403, CodeForbidden, "the token carries no "+h.CustomerClaim+" claim naming the customer", nil), false
	case !order.ValidCustomerID(v):
		return "", errorResponse(403, CodeForbidden, "the token's "+h.CustomerClaim+" claim is not a valid customer id (1 to 64 letters, digits and - _ . : @)", nil), false
	}
	return v, denied, true
}

func (h *Handler) create(ctx context.Context, req events.APIGatewayV2HTTPRequest, customer string) events.APIGatewayV2HTTPResponse {
	if !jsonContentType(header(req.Headers, HeaderContentType)) {
		return errorResponse(415, CodeUnsupportedMediaType, "Content-Type must be application/json", nil)
	}
	key, hasKey := headerValue(req.Headers, HeaderIdempotencyKey)
	if hasKey && !validToken(key, printableASCII) {
		return errorResponse(400, CodeValidationFailed, "invalid Idempotency-Key header",
			[]order.FieldIssue{{Field: HeaderIdempotencyKey, Issue: "must be 1 to 128 printable ASCII characters"}})
	}
	body, resp, ok := readBody(req)
	if !ok {
		return resp
	}
	var parsed order.Request
	var err error
	if customer != "" {
		parsed, err = order.DecodeRequestAs(body, customer)
	} else {
		parsed, err = order.DecodeRequest(body)
	}
	if errors.Is(err, order.ErrCustomerMismatch) {
		return customerMismatch()
	}
	if err != nil {
		var v *order.ValidationError
		if errors.As(err, &v) {
			return errorResponse(400, CodeValidationFailed, "the order request is invalid", v.Fields)
		}
		return errorResponse(400, CodeValidationFailed, "the order request is invalid", nil)
	}

	now := h.now()
	log := h.logger()
	id := h.newID(now)
	correlationID, ok := headerValue(req.Headers, HeaderCorrelationID)
	if !ok || !validToken(correlationID, identifierChar) {
		correlationID = id
	}
	o, err := order.New(id, parsed, correlationID, now)
	if err != nil { // DecodeRequest validated already; kept for safety
		return errorResponse(400, CodeValidationFailed, "the order request is invalid", nil)
	}
	var bodyHash string
	if hasKey {
		o.IdempotencyKey = key
		if customer != "" {
			o.IdempotencyKey = idempotency.ScopedKey(customer, key)
		}
		bodyHash = idempotency.Hash(body)
	}
	answer := idempotency.Response{
		StatusCode: 202,
		Headers: map[string]string{
			HeaderContentType:   "application/json",
			HeaderLocation:      "/orders/" + id,
			HeaderCorrelationID: correlationID,
		},
		Body: mustJSON(o),
	}
	replay, err := h.Intake.Accept(ctx, o, bodyHash, answer, now)
	switch {
	case errors.Is(err, idempotency.ErrMismatch):
		return errorResponse(409, CodeKeyReused, "this Idempotency-Key was used with a different request body", nil)
	case errors.Is(err, idempotency.ErrInProgress):
		return errorResponse(409, CodeInProgress, "a request with this Idempotency-Key is being processed right now; retry with the same key", nil)
	case err != nil:
		log.ErrorContext(ctx, "store order failed", "error", err.Error())
		return unavailable()
	case replay != nil:
		log.InfoContext(ctx, "idempotent replay", "status", replay.StatusCode, "location", replay.Headers[HeaderLocation])
		return fromStored(*replay)
	}
	ctx = logging.WithOrder(ctx, id, correlationID)
	if h.Metrics != nil {
		h.Metrics.Put(MetricOrdersAccepted, 1, metrics.Count)
		if err := h.Metrics.Flush(); err != nil {
			log.WarnContext(ctx, "metrics flush failed", "error", err.Error())
		}
	}
	log.InfoContext(ctx, "order accepted", "lines", len(o.Lines), "currency", o.Currency)
	return fromStored(answer)
}

// get answers one order. A customer (customer != "") reads only its own orders: another
// customer's order is answered as an unknown one, so ids cannot be probed.
func (h *Handler) get(ctx context.Context, id, customer string) events.APIGatewayV2HTTPResponse {
	if !order.ValidID(id) {
		return notFound()
	}
	o, err := h.Orders.Get(ctx, id)
	switch {
	case errors.Is(err, order.ErrNotFound):
		return notFound()
	case err == nil && customer != "" && o.CustomerID != customer:
		return notFound()
	case err != nil:
		h.logger().ErrorContext(logging.WithOrder(ctx, id, ""), "get order failed", "error", err.Error())
		return unavailable()
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers:    map[string]string{HeaderContentType: "application/json"},
		Body:       mustJSON(o),
	}
}

// orderPage is the body of GET /orders.
type orderPage struct {
	Orders    []*order.Order `json:"orders"`
	NextToken string         `json:"nextToken,omitempty"`
}

// list answers one page of a customer's orders, newest first: the caller's own
// (customer != "") or, for a trusted service, those of ?customerId=.
func (h *Handler) list(ctx context.Context, req events.APIGatewayV2HTTPRequest, customer string) events.APIGatewayV2HTTPResponse {
	q := req.QueryStringParameters
	named, hasNamed := q["customerId"]
	switch {
	case customer != "" && hasNamed && named != customer:
		return customerMismatch()
	case customer == "" && !order.ValidCustomerID(named):
		return errorResponse(400, CodeValidationFailed, "the customerId query parameter is required",
			[]order.FieldIssue{{Field: "customerId", Issue: "must be 1 to 64 letters, digits and - _ . : @"}})
	case customer == "":
		customer = named
	}
	limit := DefaultPageSize
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			return errorResponse(400, CodeValidationFailed, "invalid limit",
				[]order.FieldIssue{{Field: "limit", Issue: "must be an integer from 1 to " + strconv.Itoa(MaxPageSize)}})
		}
		limit = n
	}
	orders, next, err := h.Orders.PageByCustomer(ctx, customer, limit, q["nextToken"])
	switch {
	case errors.Is(err, order.ErrBadPageToken):
		return errorResponse(400, CodeValidationFailed, "invalid nextToken",
			[]order.FieldIssue{{Field: "nextToken", Issue: "must be the nextToken of an earlier page"}})
	case err != nil:
		h.logger().ErrorContext(ctx, "list orders failed", "error", err.Error())
		return unavailable()
	}
	if orders == nil {
		orders = []*order.Order{}
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers:    map[string]string{HeaderContentType: "application/json"},
		Body:       mustJSON(orderPage{Orders: orders, NextToken: next}),
	}
}

// readBody returns the request body, decoded from base64 when API Gateway encoded it,
// or the 4xx response to send.
func readBody(req events.APIGatewayV2HTTPRequest) ([]byte, events.APIGatewayV2HTTPResponse, bool) {
	tooLarge := errorResponse(413, CodePayloadTooLarge, "the request body is larger than 64 KiB", nil)
	if !req.IsBase64Encoded {
		if len(req.Body) > order.MaxRequestBytes {
			return nil, tooLarge, false
		}
		return []byte(req.Body), events.APIGatewayV2HTTPResponse{}, true
	}
	if base64.StdEncoding.DecodedLen(len(req.Body)) > order.MaxRequestBytes+3 {
		return nil, tooLarge, false
	}
	body, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, errorResponse(400, CodeValidationFailed, "the request body is not valid base64",
			[]order.FieldIssue{{Field: "body", Issue: "is not valid base64"}}), false
	}
	if len(body) > order.MaxRequestBytes {
		return nil, tooLarge, false
	}
	return body, events.APIGatewayV2HTTPResponse{}, true
}

type routeKind int

const (
	routeUnknown routeKind = iota
	routeCollection
	routeItem
)

// route finds the method and resource of a request: from the route key API Gateway
// matched ("POST /orders", "GET /orders/{orderId}") or, behind a $default route or the
// local stack, from the raw path.
func route(req events.APIGatewayV2HTTPRequest) (method string, kind routeKind, id string) {
	method = strings.ToUpper(req.RequestContext.HTTP.Method)
	rk := req.RouteKey
	if rk == "" {
		rk = req.RequestContext.RouteKey
	}
	if m, tmpl, ok := strings.Cut(rk, " "); ok {
		if method == "" {
			method = strings.ToUpper(m)
		}
		switch tmpl {
		case "/orders":
			return method, routeCollection, ""
		case "/orders/{orderId}":
			return method, routeItem, req.PathParameters["orderId"]
		}
	}
	path := strings.TrimSuffix(req.RawPath, "/")
	if path == "/orders" {
		return method, routeCollection, ""
	}
	if rest, ok := strings.CutPrefix(path, "/orders/"); ok && rest != "" && !strings.Contains(rest, "/") {
		if unescaped, err := url.PathUnescape(rest); err == nil {
			rest = unescaped
		}
		return method, routeItem, rest
	}
	return method, routeUnknown, ""
}

// jsonContentType accepts application/json with an optional utf-8 charset.
func jsonContentType(v string) bool {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

func header(headers map[string]string, name string) string {
	v, _ := headerValue(headers, name)
	return v
}

// headerValue looks a header up case-insensitively; ok reports whether it was sent.
func headerValue(headers map[string]string, name string) (string, bool) {
	if v, ok := headers[strings.ToLower(name)]; ok {
		return v, true
	}
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func printableASCII(c byte) bool { return c >= 0x20 && c <= 0x7e }

func identifierChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:@", c) >= 0
}

func validToken(s string, ok func(byte) bool) bool {
	if s == "" || len(s) > MaxKeyLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// safePath keeps an echoed path short and printable.
func safePath(p string) string {
	if len(p) > 200 {
		p = p[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, p)
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string             `json:"code"`
	Message string             `json:"message"`
	Details []order.FieldIssue `json:"details,omitempty"`
}

func errorResponse(status int, code, message string, details []order.FieldIssue) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{HeaderContentType: "application/json"},
		Body:       mustJSON(errorBody{Error: errorDetail{Code: code, Message: message, Details: details}}),
	}
}

func methodNotAllowed(allow string) events.APIGatewayV2HTTPResponse {
	r := errorResponse(405, CodeMethodNotAllowed, "method not allowed; use "+allow, nil)
	r.Headers[HeaderAllow] = allow
	return r
}

func customerMismatch() events.APIGatewayV2HTTPResponse {
	return errorResponse(403, CodeCustomerMismatch, "the request names another customer than the one of the token", nil)
}

func notFound() events.APIGatewayV2HTTPResponse {
	return errorResponse(404, CodeNotFound, "order not found", nil)
}

func unavailable() events.APIGatewayV2HTTPResponse {
	r := errorResponse(503, CodeUnavailable, "the service is temporarily unavailable; retry with the same Idempotency-Key", nil)
	r.Headers["Retry-After"] = "1"
	return r
}

func fromStored(r idempotency.Response) events.APIGatewayV2HTTPResponse {
	headers := make(map[string]string, len(r.Headers))
	for k, v := range r.Headers {
		headers[k] = v
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: r.StatusCode, Headers: headers, Body: r.Body}
}

// mustJSON encodes values whose encoding cannot fail (plain structs of strings and numbers).
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return `{"error":{"code":"INTERNAL","message":"internal error"}}`
	}
	return string(b)
}

func (h *Handler) newID(now time.Time) string {
	if h.NewID != nil {
		return h.NewID(now)
	}
	return order.NewID(now)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) logger() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
