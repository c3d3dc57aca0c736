// Package logging gives every orderflow function the same JSON log lines: Lambda's field
// names (timestamp, level, message), the invocation's requestId, the orderId and
// correlationId the handler is working on, and no secrets.
//
// It builds on aws-lambda-go's lambdacontext logger (its ReplaceAttr field names and the
// request id from lambdacontext.FromContext) rather than calling lambdacontext.NewLogger
// itself, because that logger writes TEXT unless AWS_LAMBDA_LOG_FORMAT=JSON, always writes
// to stdout, and owns the ReplaceAttr hook that redaction needs.
//
// Typical use, once at cold start in main:
//
//	slog.SetDefault(logging.New(context.Background()))
//
// and in the handler:
//
//	ctx = logging.WithOrder(ctx, orderID, correlationID)
//	slog.InfoContext(ctx, "order accepted", "total", total)
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Keys of the attributes the handler adds from the context.
const (
	RequestIDKey     = "requestId"
	OrderIDKey       = "orderId"
	CorrelationIDKey = "correlationId"
)

type orderKey struct{}

type orderIDs struct {
	orderID, correlationID string
}

// WithOrder returns a context whose log lines carry orderID and correlationID. An empty
// argument keeps the value ctx already carries.
func WithOrder(ctx context.Context, orderID, correlationID string) context.Context {
	prev, _ := ctx.Value(orderKey{}).(orderIDs)
	if orderID == "" {
		orderID = prev.orderID
	}
	if correlationID == "" {
		correlationID = prev.correlationID
	}
	return context.WithValue(ctx, orderKey{}, orderIDs{orderID: orderID, correlationID: correlationID})
}

// OrderFromContext returns the order and correlation ids WithOrder put on ctx, or empty
// strings.
func OrderFromContext(ctx context.Context) (orderID, correlationID string) {
	if ctx == nil {
		return "", ""
	}
	ids, _ := ctx.Value(orderKey{}).(orderIDs)
	return ids.orderID, ids.correlationID
}

// defaultHandler is built once: the writer and level come from the environment, which
// does not change during the life of an execution environment.
var defaultHandler = sync.OnceValue(func() *handler {
	w := io.Writer(os.Stderr)
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		w = os.Stdout // what lambdacontext's logger and the Lambda runtime use
	}
	return newHandler(w, LevelFromEnv())
})

// New returns the process's JSON logger, writing to stdout inside Lambda and to stderr
// elsewhere. Lines logged through it carry requestId, orderId and correlationId from the
// context passed to the *Context logging methods, and otherwise from ctx (which may be
// context.Background()).
func New(ctx context.Context) *slog.Logger {
	base := defaultHandler()
	h := *base
	h.bound = ctx
	return slog.New(&h)
}

// LevelFromEnv returns the minimum level from AWS_LAMBDA_LOG_LEVEL (set by Lambda's
// advanced logging controls) or LOG_LEVEL: TRACE and DEBUG, INFO, WARN, ERROR and FATAL.
// The default is INFO.
func LevelFromEnv() slog.Level {
	v := os.Getenv("AWS_LAMBDA_LOG_LEVEL")
	if v == "" {
		v = os.Getenv("LOG_LEVEL")
	}
	switch strings.ToUpper(v) {
	case "TRACE", "DEBUG":
		return slog.LevelDebug
	case "WARN", "WARNING":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// NewHandler returns the handler New uses, writing JSON lines to w at level and above.
// Tests and tools that need another writer use it: slog.New(logging.NewHandler(w, level)).
func NewHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return newHandler(w, level)
}

func newHandler(w io.Writer, level slog.Leveler) *handler {
	return &handler{inner: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: replaceAttr})}
}

// handler adds requestId, orderId and correlationId at the top level of every record.
//
// Until the first WithGroup, attributes go straight to the JSON handler, which
// pre-formats them. After it, groups and attributes are kept in ops and applied per
// record, so that the context attributes stay at the top level instead of landing inside
// the group.
type handler struct {
	inner slog.Handler
	ops   []op
	bound context.Context
	// has* record that a top-level attribute of that name was already added with
	// WithAttrs, so the context's value would only duplicate it.
	hasRequest, hasOrder, hasCorrelation bool
}

type op struct {
	group string // a WithGroup when non-empty
	attrs []slog.Attr
}

// Enabled implements slog.Handler.
func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// WithAttrs implements slog.Handler.
func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	if len(h.ops) == 0 {
		for _, a := range attrs {
			switch a.Key {
			case RequestIDKey:
				h2.hasRequest = true
			case OrderIDKey:
				h2.hasOrder = true
			case CorrelationIDKey:
				h2.hasCorrelation = true
			}
		}
		h2.inner = h.inner.WithAttrs(attrs)
		return &h2
	}
	h2.ops = append(h.ops[:len(h.ops):len(h.ops)], op{attrs: attrs})
	return &h2
}

// WithGroup implements slog.Handler.
func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.ops = append(h.ops[:len(h.ops):len(h.ops)], op{group: name})
	return &h2
}

// Handle implements slog.Handler.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var reqID, orderID, corrID string
	lookup := func(c context.Context) {
		if c == nil {
			return
		}
		if reqID == "" {
			if lc, ok := lambdacontext.FromContext(c); ok {
				reqID = lc.AwsRequestID
			}
		}
		o, cid := OrderFromContext(c)
		if orderID == "" {
			orderID = o
		}
		if corrID == "" {
			corrID = cid
		}
	}
	lookup(ctx)
	lookup(h.bound)

	out := r
	if len(h.ops) > 0 {
		out = slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	}
	// A record's own top-level attribute wins over the context's. Under a group the
	// record's attributes are nested, so they cannot clash.
	if len(h.ops) == 0 {
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case RequestIDKey:
				reqID = ""
			case OrderIDKey:
				orderID = ""
			case CorrelationIDKey:
				corrID = ""
			}
			return true
		})
	}
	if reqID != "" && !h.hasRequest {
		out.AddAttrs(slog.String(RequestIDKey, reqID))
	}
	if orderID != "" && !h.hasOrder {
		out.AddAttrs(slog.String(OrderIDKey, orderID))
	}
	if corrID != "" && !h.hasCorrelation {
		out.AddAttrs(slog.String(CorrelationIDKey, corrID))
	}
	if len(h.ops) > 0 {
		out.AddAttrs(h.nest(r)...)
	}
	return h.inner.Handle(ctx, out)
}

// nest wraps the record's attributes in the groups and attributes of h.ops.
func (h *handler) nest(r slog.Record) []slog.Attr {
	attrs := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	for i := len(h.ops) - 1; i >= 0; i-- {
		o := h.ops[i]
		if o.group != "" {
			attrs = []slog.Attr{{Key: o.group, Value: slog.GroupValue(attrs...)}}
			continue
		}
		attrs = append(o.attrs[:len(o.attrs):len(o.attrs)], attrs...)
	}
	return attrs
}
