package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/tools/awscall"
)

// The local stack's own call counter (edge.Counter) lives in cmd/orderflow/internal and
// cannot be read from here, so the benchmark counts the same calls with two proxies of its
// own: one between the edge and moto (the functions' calls, plus the stack's plumbing),
// one between moto's Step Functions and the edge (the state machine's task calls). A call
// that passed the second proxy carries viaHeader and is not counted again by the first.
const viaHeader = "X-Orderflow-Bench-Counted"

// Source tells who made a call.
type Source string

// Sources of calls.
const (
	SourceFunctions    Source = "functions"
	SourceStateMachine Source = "state machine"
	SourcePlumbing     Source = "local stack plumbing"
)

// CallKey identifies a counted call.
type CallKey struct {
	Source    Source
	Service   string
	Operation string
}

// CallStat accumulates one CallKey's calls.
type CallStat struct {
	N int64
	// RRU and WRU are DynamoDB request units (items ≤ 4 KB read, ≤ 1 KB written);
	// Entries are EventBridge events or Kinesis records.
	RRU, WRU float64
	Entries  float64
	Elapsed  time.Duration
}

// Counter counts calls by source, service and operation. Safe for concurrent use.
type Counter struct {
	mu sync.Mutex
	m  map[CallKey]*CallStat
}

// NewCounter returns an empty counter.
func NewCounter() *Counter { return &Counter{m: map[CallKey]*CallStat{}} }

// Reset forgets every count.
func (c *Counter) Reset() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// add records one call.
func (c *Counter) add(k CallKey, s CallStat) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.m[k]
	if cur == nil {
		cur = &CallStat{}
		c.m[k] = cur
	}
	cur.N += s.N
	cur.RRU += s.RRU
	cur.WRU += s.WRU
	cur.Entries += s.Entries
	cur.Elapsed += s.Elapsed
}

// Snapshot returns a copy of the counts.
func (c *Counter) Snapshot() map[CallKey]CallStat {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[CallKey]CallStat, len(c.m))
	for k, v := range c.m {
		out[k] = *v
	}
	return out
}

// Total returns the number of calls of the functions and the state machine.
func (c *Counter) Total() int64 {
	var n int64
	for k, v := range c.Snapshot() {
		if k.Source != SourcePlumbing {
			n += v.N
		}
	}
	return n
}

// Identify returns the service and operation of an AWS request (awscall.Identify, as the
// local stack's edge names them; a form body it reads is left readable). A call to a
// Lambda function's path that is not signed is the state machine's Invoke.
func Identify(r *http.Request) (service, op string) {
	service, op = awscall.Identify(r)
	if service == awscall.Unknown && strings.HasPrefix(r.URL.Path, "/2015-03-31/functions/") {
		return "lambda", "Invoke"
	}
	return service, op
}

// Units returns the billing units of a call from its body: DynamoDB read and write request
// units for items within the 4 KB / 1 KB unit sizes, EventBridge entries, Kinesis records.
func Units(service, op string, body []byte) CallStat {
	s := CallStat{N: 1}
	switch service {
	case "dynamodb":
		var b struct {
			ConsistentRead bool
			TransactItems  []json.RawMessage
			RequestItems   map[string]json.RawMessage
		}
		_ = json.Unmarshal(body, &b)
		read := 0.5
		if b.ConsistentRead {
			read = 1
		}
		switch op {
		case "GetItem", "Query", "Scan":
			s.RRU = read
		case "PutItem", "UpdateItem", "DeleteItem":
			s.WRU = 1
		case "TransactWriteItems":
			s.WRU = 2 * float64(len(b.TransactItems))
		case "TransactGetItems":
			s.RRU = 2 * float64(len(b.TransactItems))
		case "BatchWriteItem":
			for _, raw := range b.RequestItems {
				var reqs []json.RawMessage
				_ = json.Unmarshal(raw, &reqs)
				s.WRU += float64(len(reqs))
			}
		case "BatchGetItem":
			for _, raw := range b.RequestItems {
				var t struct {
					Keys           []json.RawMessage
					ConsistentRead bool
				}
				_ = json.Unmarshal(raw, &t)
				per := 0.5
				if t.ConsistentRead {
					per = 1
				}
				s.RRU += per * float64(len(t.Keys))
			}
		}
	case "events":
		var b struct{ Entries []json.RawMessage }
		_ = json.Unmarshal(body, &b)
		s.Entries = float64(len(b.Entries))
	case "kinesis":
		var b struct{ Records []json.RawMessage }
		_ = json.Unmarshal(body, &b)
		switch op {
		case "PutRecord":
			s.Entries = 1
		case "PutRecords":
			s.Entries = float64(len(b.Records))
		}
	}
	return s
}

// isPlumbing reports a call the local stack makes itself, where AWS does the same work
// internally: event-source polling (SQS, Kinesis, the orders table's DynamoDB stream),
// rule delivery to Step Functions and Kinesis, and its bookkeeping. orderflow's functions
// make none of these calls.
func isPlumbing(service, op string) bool {
	switch service {
	case "sqs", "kinesis", "lambda":
		return true
	case "dynamodb":
		return op == "DescribeStream" || op == "GetShardIterator" || op == "GetRecords" || op == "ListStreams"
	case "states":
		return op == "StartExecution" || strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List") || strings.HasPrefix(op, "Get")
	case "events":
		return op != "PutEvents"
	}
	return false
}

// countingProxy proxies to upstream and counts each call as src (plumbing calls of the
// functions' proxy are told apart by operation); when mark is set it tags the request so
// that a downstream proxy does not count it again.
func countingProxy(upstream *url.URL, c *Counter, src Source, mark bool) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
		},
		FlushInterval: -1,
		// A call cut short when the stack stops is not worth a log line.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		counted := r.Header.Get(viaHeader) != ""
		if mark {
			r.Header.Set(viaHeader, "1")
		}
		began := time.Now()
		rp.ServeHTTP(w, r)
		if counted {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		service, op := Identify(r)
		s := Units(service, op, body)
		s.Elapsed = time.Since(began)
		from := src
		if src == SourceFunctions && isPlumbing(service, op) {
			from = SourcePlumbing
		}
		c.add(CallKey{Source: from, Service: service, Operation: op}, s)
	})
}

// sortedKeys returns the keys of m ordered by source, service and operation.
func sortedKeys(m map[CallKey]CallStat) []CallKey {
	keys := make([]CallKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b CallKey) int {
		return strings.Compare(string(a.Source)+"\x00"+a.Service+"\x00"+a.Operation, string(b.Source)+"\x00"+b.Service+"\x00"+b.Operation)
	})
	return keys
}
