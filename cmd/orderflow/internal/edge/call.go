package edge

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/orderflow/orderflow/tools/awscall"
)

// Call is what the edge knows of an AWS API call: the service signing name (dynamodb,
// sqs, lambda, s3, ...) and the operation (PutItem, SendMessage, Invoke, PutObject).
// Either is "unknown" when the request does not tell. Internal is true for a call the
// local stack makes on AWS's behalf (event-source polling, rule-target delivery, async
// on-failure sends), signed with InternalAccessKeyID: counted apart from the product's
// calls, but seen by the middlewares (fault injection) like any other.
type Call struct {
	Service   string
	Operation string
	Internal  bool
}

// InternalAccessKeyID is the access key the local stack's own AWS clients sign with, so
// the edge can tell AWS-internal calls from the product's.
const InternalAccessKeyID = "ORDERFLOWAWSINTERNAL"

// String returns "service:Operation".
func (c Call) String() string { return c.Service + ":" + c.Operation }

// Identify finds the service and operation of an AWS request (awscall.Identify) and
// whether the local stack made it (signed with InternalAccessKeyID). A form body it reads
// is left readable.
func Identify(r *http.Request) Call {
	service, op := awscall.Identify(r)
	return Call{Service: service, Operation: op, Internal: awscall.AccessKeyID(r) == InternalAccessKeyID}
}

// Counter counts calls by service and operation. Safe for concurrent use.
type Counter struct {
	mu     sync.Mutex
	counts map[Call]int64
	writes atomic.Int64
}

// NewCounter returns an empty counter.
func NewCounter() *Counter { return &Counter{counts: map[Call]int64{}} }

// Middleware counts each call, then serves it.
func (c *Counter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Add(CallFrom(r))
		next.ServeHTTP(w, r)
	})
}

// Add counts one call.
func (c *Counter) Add(call Call) {
	if !call.ReadOnly() {
		c.writes.Add(1)
	}
	c.mu.Lock()
	c.counts[call]++
	c.mu.Unlock()
}

// Writes returns how many calls that may change something (all but ReadOnly ones, the
// product's and the internal ones) arrived so far: while it stands still, nothing moves.
func (c *Counter) Writes() int64 { return c.writes.Load() }

// ReadOnly reports whether the call only reads: Get*, List*, Describe*, Scan, Query,
// Head*, BatchGet* and the pollers' ReceiveMessage and GetRecords (whose effect, a message
// in flight or a record in hand, their owners account for).
func (c Call) ReadOnly() bool {
	for _, p := range []string{"Get", "List", "Describe", "Scan", "Query", "Head", "BatchGet", "ReceiveMessage"} {
		if strings.HasPrefix(c.Operation, p) {
			return true
		}
	}
	return false
}

// Count is one row of a Snapshot.
type Count struct {
	Call
	N int64
}

// Snapshot returns the counts so far, sorted by service and operation, the product's
// calls before the internal ones of the same operation.
func (c *Counter) Snapshot() []Count {
	c.mu.Lock()
	out := make([]Count, 0, len(c.counts))
	for k, n := range c.counts {
		out = append(out, Count{Call: k, N: n})
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		if out[i].Operation != out[j].Operation {
			return out[i].Operation < out[j].Operation
		}
		return !out[i].Internal && out[j].Internal
	})
	return out
}

// Total returns the number of the product's calls counted so far (internal ones apart).
func (c *Counter) Total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for k, v := range c.counts {
		if !k.Internal {
			n += v
		}
	}
	return n
}

// Reset forgets every count.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.counts = map[Call]int64{}
	c.mu.Unlock()
}
