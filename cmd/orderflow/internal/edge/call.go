package edge

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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

const unknown = "unknown"

// maxFormBody bounds how much of a form-encoded body is read to find its Action.
const maxFormBody = 1 << 20

// Identify finds the service and operation of an AWS request: the service from the SigV4
// credential scope (Credential=AKID/date/region/<service>/aws4_request), the operation from
// X-Amz-Target (JSON protocols), the Action parameter (query protocols, in the query
// string or the form body, which is left readable), or the REST path (Lambda, S3).
func Identify(r *http.Request) Call {
	auth := r.Header.Get("Authorization")
	c := Call{Service: serviceOf(auth), Operation: unknown, Internal: accessKeyOf(auth) == InternalAccessKeyID}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		c.Operation = t[strings.LastIndex(t, ".")+1:]
		return c
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		c.Operation = a
		return c
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBody))
		rest := r.Body
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), rest), rest}
		if err == nil {
			if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
				c.Operation = v.Get("Action")
				return c
			}
		}
	}
	switch c.Service {
	case "lambda":
		c.Operation = lambdaOperation(r)
	case "s3":
		c.Operation = s3Operation(r)
	}
	return c
}

// accessKeyOf returns the access key id of a SigV4 Authorization header ("" if none).
func accessKeyOf(auth string) string {
	parts := credential(auth)
	if parts == nil {
		return ""
	}
	return strings.Join(parts[:len(parts)-4], "/")
}

func serviceOf(auth string) string {
	parts := credential(auth)
	if parts == nil {
		return unknown
	}
	return parts[len(parts)-2]
}

// AccessKeyID returns the access key id that signed r (SigV4's Credential=AKID/...), ""
// when r is not signed. With lambdahost's per-process keys it names the function process
// that made the call.
func AccessKeyID(r *http.Request) string { return accessKeyOf(r.Header.Get("Authorization")) }

// credential returns the parts of a SigV4 Authorization header's credential scope,
// AKID/date/region/service/aws4_request, or nil.
func credential(auth string) []string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return nil
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) < 5 || parts[len(parts)-1] != "aws4_request" {
		return nil
	}
	return parts
}

func lambdaOperation(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/invocations"):
		return "Invoke"
	case strings.HasSuffix(p, "/invoke-async") || strings.HasSuffix(p, "/invoke-async/"):
		return "InvokeAsync"
	case strings.HasSuffix(p, "/functions") || strings.HasSuffix(p, "/functions/"):
		if r.Method == http.MethodPost {
			return "CreateFunction"
		}
		return "ListFunctions"
	}
	return r.Method + " " + p
}

func s3Operation(r *http.Request) string {
	// Path-style: /bucket or /bucket/key (the local endpoint is an IP address).
	p := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(p, "/")
	q := r.URL.Query()
	switch {
	case bucket == "":
		return "ListBuckets"
	case key == "":
		switch r.Method {
		case http.MethodPut:
			return "CreateBucket"
		case http.MethodDelete:
			return "DeleteBucket"
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodPost:
			if q.Has("delete") {
				return "DeleteObjects"
			}
		case http.MethodGet:
			if q.Get("list-type") == "2" {
				return "ListObjectsV2"
			}
			return "ListObjects"
		}
	default:
		switch r.Method {
		case http.MethodPut:
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				return "CopyObject"
			}
			return "PutObject"
		case http.MethodGet:
			return "GetObject"
		case http.MethodHead:
			return "HeadObject"
		case http.MethodDelete:
			return "DeleteObject"
		}
	}
	return r.Method
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
