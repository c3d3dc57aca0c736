package chaos

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/edge"
	"github.com/orderflow/orderflow/pkg/lambdahost"
)

// maxInspect bounds how much of a request body is read to match ErrorRule.Resource.
const maxInspect = 1 << 20

// Injector decides and counts faults. Its methods are safe for concurrent use; a nil
// *Injector injects nothing.
type Injector struct {
	mu    sync.Mutex
	spec  Spec
	rng   *rand.Rand
	stats Stats

	procs  Processes
	invoke map[string]*invokeCalls // by the calling process's access key id
	hits   []int                   // matches per spec.CrashAt rule since the spec was set
}

// Processes tells which function process made an AWS call, and what it is running, from
// the call's access key id, and kills it: *lambdahost.Host with ProcessKeys.
type Processes interface {
	Running(key string) (lambdahost.Running, bool)
	KillProcess(key string) bool
}

// invokeCalls counts the AWS calls of the invoke a process is running.
type invokeCalls struct {
	requestID string
	calls     int
	byOp      map[string]int
}

// Stats counts the faults injected so far.
type Stats struct {
	// Errors by "service:Operation:code".
	Errors map[string]int64 `json:"errors"`
	// Throttles and ServerErrors split Errors by kind.
	Throttles    int64 `json:"throttles"`
	ServerErrors int64 `json:"serverErrors"`
	// Crashes by function name (random kills and crash points).
	Crashes map[string]int64 `json:"crashes"`
	// CrashPoints counts the kills of each CrashAt rule, by its String.
	CrashPoints map[string]int64 `json:"crashPoints"`
	// Duplicates by source (sqs, kinesis, eventbridge, dynamodb).
	Duplicates map[string]int64 `json:"duplicates"`
	// Delayed is the number of calls that got added latency.
	Delayed int64 `json:"delayed"`
}

// Sum returns the total of a count map.
func Sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// New returns an Injector for spec.
func New(spec Spec) *Injector {
	seed := spec.Seed
	if seed == 0 {
		seed = 1
	}
	return &Injector{spec: spec, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), stats: newStats(),
		invoke: map[string]*invokeCalls{}, hits: make([]int, len(spec.CrashAt))}
}

func newStats() Stats {
	return Stats{Errors: map[string]int64{}, Crashes: map[string]int64{}, CrashPoints: map[string]int64{}, Duplicates: map[string]int64{}}
}

// Set replaces the spec from now on (a test removes a fault this way, or sets the next
// crash point); counts are kept, the crash points' matches start again from zero.
func (in *Injector) Set(spec Spec) {
	if in == nil {
		return
	}
	in.mu.Lock()
	in.spec = spec
	in.hits = make([]int, len(spec.CrashAt))
	in.mu.Unlock()
}

// SetProcesses gives the injector the function processes, which crash points need.
func (in *Injector) SetProcesses(p Processes) {
	if in == nil {
		return
	}
	in.mu.Lock()
	in.procs = p
	in.mu.Unlock()
}

// Spec returns the spec in force.
func (in *Injector) Spec() Spec {
	if in == nil {
		return Spec{}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.spec
}

// Stats returns a copy of the counts.
func (in *Injector) Stats() Stats {
	out := newStats()
	if in == nil {
		return out
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	out.Throttles, out.ServerErrors, out.Delayed = in.stats.Throttles, in.stats.ServerErrors, in.stats.Delayed
	for k, v := range in.stats.Errors {
		out.Errors[k] = v
	}
	for k, v := range in.stats.Crashes {
		out.Crashes[k] = v
	}
	for k, v := range in.stats.CrashPoints {
		out.CrashPoints[k] = v
	}
	for k, v := range in.stats.Duplicates {
		out.Duplicates[k] = v
	}
	return out
}

// chance draws a number and reports whether it falls under p. Call with mu held.
func (in *Injector) chance(p float64) bool { return p > 0 && in.rng.Float64() < p }

// Duplicate reports whether this delivery from source (sqs, kinesis, eventbridge,
// dynamodb) is to be made twice, and counts it.
func (in *Injector) Duplicate(source string) bool {
	if in == nil {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	var p float64
	switch source {
	case "sqs":
		p = in.spec.Duplicate.SQS
	case "kinesis":
		p = in.spec.Duplicate.Kinesis
	case "eventbridge":
		p = in.spec.Duplicate.EventBridge
	case "dynamodb":
		p = in.spec.Duplicate.DynamoDB
	}
	if !in.chance(p) {
		return false
	}
	in.stats.Duplicates[source]++
	return true
}

// KillAfter reports whether the process about to run an invoke of function is to be
// killed, and how long after the payload is handed over. It is lambdahost's Kill hook.
func (in *Injector) KillAfter(function string) (time.Duration, bool) {
	if in == nil {
		return 0, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	c := in.spec.Crash
	if len(c.Functions) > 0 {
		match := false
		for _, f := range c.Functions {
			match = match || strings.Contains(function, f)
		}
		if !match {
			return 0, false
		}
	}
	if !in.chance(c.Rate) {
		return 0, false
	}
	maxDelay := time.Duration(c.MaxDelay)
	if maxDelay <= 0 {
		maxDelay = 30 * time.Millisecond
	}
	return time.Duration(in.rng.Int64N(int64(maxDelay) + 1)), true
}

// Killed counts a process killed by KillAfter's decision. It is lambdahost's OnKill hook.
func (in *Injector) Killed(function string) {
	if in == nil {
		return
	}
	in.mu.Lock()
	in.stats.Crashes[function]++
	in.mu.Unlock()
}

// Middleware is the edge middleware: added latency, then an injected error or the call;
// a call that is a crash point is served, then its process is killed before the answer.
func (in *Injector) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := edge.CallFrom(r)
		if key, point, ok := in.crashPoint(r, call); ok {
			in.crash(next, r, key, point)
			return
		}
		delay, fault := in.decide(r, call)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if fault != nil {
			fault.write(w, r, call)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crashPoint counts r as a call of the invoke its process is running and reports whether
// it is a crash point: the calling process's key and the rule's String.
func (in *Injector) crashPoint(r *http.Request, call edge.Call) (string, string, bool) {
	if in == nil {
		return "", "", false
	}
	key := edge.AccessKeyID(r)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.procs == nil || len(in.spec.CrashAt) == 0 || !strings.HasPrefix(key, lambdahost.ProcessKeyPrefix) {
		return "", "", false
	}
	running, ok := in.procs.Running(key)
	if !ok || running.RequestID == "" {
		return "", "", false
	}
	c := in.invoke[key]
	if c == nil || c.requestID != running.RequestID {
		c = &invokeCalls{requestID: running.RequestID, byOp: map[string]int{}}
		in.invoke[key] = c
	}
	c.calls++
	c.byOp[call.Operation]++
	for i, p := range in.spec.CrashAt {
		if !strings.Contains(running.Function, p.Function) {
			continue
		}
		n, at := c.calls, max(p.AfterCall, 1)
		if p.Operation != "" {
			if p.Operation != call.Operation {
				continue
			}
			n = c.byOp[call.Operation]
		}
		if n != at {
			continue
		}
		in.hits[i]++
		if in.hits[i] <= p.Skip || (p.Times > 0 && in.hits[i] > p.Skip+p.Times) {
			continue
		}
		delete(in.invoke, key) // the process dies with this call
		in.stats.Crashes[running.Function]++
		in.stats.CrashPoints[p.String()]++
		return key, p.String(), true
	}
	return "", "", false
}

// crash serves the call, so that it takes effect, then kills the calling process before
// it sees the answer, and drops the connection as a dead process's is.
func (in *Injector) crash(next http.Handler, r *http.Request, key, point string) {
	next.ServeHTTP(discard{header: http.Header{}}, r)
	in.mu.Lock()
	procs := in.procs
	in.mu.Unlock()
	procs.KillProcess(key)
	panic(http.ErrAbortHandler) // net/http closes the connection without an answer
}

// discard is a ResponseWriter that keeps nothing: the answer of a call whose caller is
// killed.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}

// fault is one injected error answer.
type fault struct {
	throttle bool
	status   int
}

func (in *Injector) decide(r *http.Request, call edge.Call) (time.Duration, *fault) {
	if in == nil {
		return 0, nil
	}
	in.mu.Lock()
	spec := in.spec
	in.mu.Unlock()
	var rule *ErrorRule
	for i := range spec.Errors {
		e := &spec.Errors[i]
		if e.Rate <= 0 || (e.Service != "" && e.Service != "*" && e.Service != call.Service) ||
			(e.Operation != "" && e.Operation != call.Operation) {
			continue
		}
		if e.Resource != "" && !mentions(r, e.Resource) {
			continue
		}
		rule = e
		break
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	var delay time.Duration
	if in.chance(spec.Latency.Rate) {
		lo, hi := int64(spec.Latency.Min), int64(spec.Latency.Max)
		delay = time.Duration(lo)
		if hi > lo {
			delay += time.Duration(in.rng.Int64N(hi - lo + 1))
		}
		in.stats.Delayed++
	}
	if rule == nil || !in.chance(rule.Rate) {
		return delay, nil
	}
	f := &fault{}
	switch rule.Kind {
	case "throttle":
		f.throttle = true
	case "5xx":
	default:
		f.throttle = in.rng.IntN(2) == 0
	}
	if f.throttle {
		in.stats.Throttles++
	} else {
		f.status = http.StatusInternalServerError
		if in.rng.IntN(2) == 0 {
			f.status = http.StatusServiceUnavailable
		}
		in.stats.ServerErrors++
	}
	in.stats.Errors[call.String()+":"+f.code(call)]++
	return delay, f
}

// mentions reports whether s occurs in r's path, query or body; the body stays readable.
func mentions(r *http.Request, s string) bool {
	if strings.Contains(r.URL.Path, s) || strings.Contains(r.URL.RawQuery, s) {
		return true
	}
	if r.Body == nil {
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxInspect))
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), rest), rest}
	return bytes.Contains(body, []byte(s))
}

// code is the AWS error code of the fault for the call's service.
func (f *fault) code(call edge.Call) string {
	if !f.throttle {
		switch {
		case call.Service == "s3" && f.status == http.StatusServiceUnavailable:
			return "ServiceUnavailable"
		case call.Service == "s3":
			return "InternalError"
		case call.Service == "lambda":
			return "ServiceException"
		case f.status == http.StatusServiceUnavailable:
			return "ServiceUnavailable"
		}
		return "InternalFailure"
	}
	switch call.Service {
	case "s3":
		return "SlowDown"
	case "lambda":
		return "TooManyRequestsException"
	case "sns":
		return "Throttling"
	case "kinesis":
		return "ProvisionedThroughputExceededException"
	case "sqs":
		return "RequestThrottled"
	}
	return "ThrottlingException"
}

// write answers the call with the error in its protocol's format: the awsJson protocols
// (DynamoDB, Kinesis, EventBridge, Step Functions and SQS, which the SDK v2 now calls
// with awsJson1_0) put the code in "__type"; the query protocol (SNS) answers an XML
// ErrorResponse; S3 an XML Error; Lambda's REST-JSON the X-Amzn-ErrorType header.
func (f *fault) write(w http.ResponseWriter, r *http.Request, call edge.Call) {
	code := f.code(call)
	status := f.status
	if f.throttle {
		status = http.StatusBadRequest
		switch call.Service {
		case "s3":
			status = http.StatusServiceUnavailable
		case "lambda":
			status = http.StatusTooManyRequests
		}
	}
	msg := "Rate exceeded"
	if !f.throttle {
		msg = "We encountered an internal error. Please try again. (injected by orderflow chaos)"
	} else {
		msg += " (injected by orderflow chaos)"
	}
	reqID := fmt.Sprintf("chaos-%d", time.Now().UnixNano())
	h := w.Header()
	h.Set("X-Amzn-Requestid", reqID)
	ct := r.Header.Get("Content-Type")
	switch {
	case call.Service == "s3":
		h.Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId></Error>`, code, msg, reqID)
	case call.Service == "lambda":
		h.Set("Content-Type", "application/json")
		h.Set("X-Amzn-Errortype", code)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"Type":"Service","message":%q}`, msg)
	case strings.HasPrefix(ct, "application/x-amz-json") || strings.HasPrefix(ct, "application/json"):
		h.Set("Content-Type", ct)
		if call.Service == "sqs" { // the SQS JSON protocol also names the query-compatible code
			h.Set("X-Amzn-Query-Error", code+";"+map[bool]string{true: "Sender", false: "Receiver"}[f.throttle])
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
	default: // query protocol: SNS, SQS's old protocol
		h.Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		typ := "Receiver"
		if f.throttle {
			typ = "Sender"
		}
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`, typ, code, msg, reqID)
	}
}

// Summary returns the counts as report lines ("  errors  dynamodb:PutItem:ThrottlingException  12").
func (s Stats) Summary() []string {
	var out []string
	out = append(out, fmt.Sprintf("injected AWS errors: %d (throttling %d, 5xx %d)", Sum(s.Errors), s.Throttles, s.ServerErrors))
	for _, k := range sortedKeys(s.Errors) {
		out = append(out, fmt.Sprintf("  %-60s %d", k, s.Errors[k]))
	}
	out = append(out, fmt.Sprintf("function crashes: %d", Sum(s.Crashes)))
	for _, k := range sortedKeys(s.Crashes) {
		out = append(out, fmt.Sprintf("  %-60s %d", k, s.Crashes[k]))
	}
	for _, k := range sortedKeys(s.CrashPoints) {
		out = append(out, fmt.Sprintf("  crash point %-48s %d", k, s.CrashPoints[k]))
	}
	out = append(out, fmt.Sprintf("duplicate deliveries: %d", Sum(s.Duplicates)))
	for _, k := range sortedKeys(s.Duplicates) {
		out = append(out, fmt.Sprintf("  %-60s %d", k, s.Duplicates[k]))
	}
	out = append(out, fmt.Sprintf("delayed calls: %d", s.Delayed))
	return out
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
