package chaos

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/edge"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/tools/awscall"
	"github.com/orderflow/orderflow/tools/lambdahost"
)

// maxInspect bounds how much of a request body is read to match ErrorRule.Resource and
// to find the request's identity.
const maxInspect = 1 << 20

// Injector decides and counts faults. Its methods are safe for concurrent use; a nil
// *Injector injects nothing.
//
// Every decision is a function of the seed and of what is decided on, never of the order
// in which concurrent calls arrive, of how the stack batches them or of how often it
// polls: an AWS call's error and latency of (seed, service, operation, resource, the
// function that made it, an identity the request is about, attempt), a crash of (seed,
// function, an identity of the payload, attempt), a duplicate delivery of (seed, source,
// an identity of the payload, attempt). A call or payload is decided on for each
// identity it is about: each order it names, by its Idempotency-Key (key:<key>) or its
// order id (with the status of an event id, <id>:CONFIRMED), an order id standing for the
// key it was created under once Alias has been told. A batch is about each of its orders,
// and fails when one of them draws a fault; a call about none is one decision. A poll (an
// SQS receive, a stream read) is decided on what it returns, after it is served.
//
// The attempt is one more than the faults injected on the same key so far: it advances
// only with a fault, so the repeats of a call after one that passed pass too, and the
// faults on each key are the run of faults its seeded draws begin with. Every count is
// then the same in every run with the same seed and orders, however often the stack
// retries, polls or redelivers, and each fault counts once for each identity that drew it.
type Injector struct {
	mu      sync.Mutex
	spec    Spec
	stats   Stats
	faulted map[string]int         // faults injected by decision key: the last attempt that failed
	delayed map[string]int         // the last attempt counted as delayed, by decision key
	held    map[string][]*recorded // failed receives' answers, by queue (see poll)
	aliases map[string]string
	handles map[string]string // SQS receipt handle -> the identity of its message
	older   map[string]string // the handles learnt before handles last filled up
	log     []string

	procs   Processes
	invoke  map[string]*invokeCalls // by the calling process's access key id
	planned map[string]int          // Crash: request id -> the calls its invoke makes before the kill
	dead    map[string]bool         // keys of the processes the injector killed (see crashPoint)
	hits    []int                   // matches per spec.CrashAt rule since the spec was set

	limiter *limiter // the simulated limits' buckets and transactions in flight
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
	// Errors by "service:Operation:code", one for each identity that drew it (see Injector).
	Errors map[string]int64 `json:"errors"`
	// Throttles and ServerErrors split Errors by kind.
	Throttles    int64 `json:"throttles"`
	ServerErrors int64 `json:"serverErrors"`
	// Crashes by function name (random kills, one for each identity that drew it, and
	// crash points).
	Crashes map[string]int64 `json:"crashes"`
	// CrashPoints counts the kills of each CrashAt rule, by its String.
	CrashPoints map[string]int64 `json:"crashPoints"`
	// Duplicates by source (sqs, kinesis, eventbridge, dynamodb).
	Duplicates map[string]int64 `json:"duplicates"`
	// Delayed is the number of decisions that added latency, each counted once however
	// often its call is made.
	Delayed int64 `json:"delayed"`
	// Limited counts the calls a simulated limit refused, by "service:Operation:code".
	Limited map[string]int64 `json:"limited"`
}

// Sum returns the total of a count map.
func Sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// maxLog bounds the decision log (Decisions).
const maxLog = 200_000

// New returns an Injector for spec.
func New(spec Spec) *Injector {
	return &Injector{spec: spec, stats: newStats(), faulted: map[string]int{}, delayed: map[string]int{}, held: map[string][]*recorded{}, aliases: map[string]string{}, handles: map[string]string{},
		invoke: map[string]*invokeCalls{}, planned: map[string]int{}, dead: map[string]bool{}, hits: make([]int, len(spec.CrashAt)), limiter: newLimiter(time.Now)}
}

func newStats() Stats {
	return Stats{Errors: map[string]int64{}, Crashes: map[string]int64{}, CrashPoints: map[string]int64{}, Duplicates: map[string]int64{},
		Limited: map[string]int64{}}
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
	for k, v := range in.stats.Limited {
		out.Limited[k] = v
	}
	return out
}

// Decisions returns every fault injected so far, added latency included, one line each
// ("kind key attempt outcome"), sorted: two runs with the same seed and orders can be
// compared line by line.
func (in *Injector) Decisions() []string {
	if in == nil {
		return nil
	}
	in.mu.Lock()
	out := slices.Clone(in.log)
	in.mu.Unlock()
	sort.Strings(out)
	return out
}

// Alias makes orderID stand for identity (key:<Idempotency-Key>) in later decisions: an
// order id is new in every run, the key a client sent it under is not.
func (in *Injector) Alias(orderID, identity string) {
	if in == nil || orderID == "" || identity == "" {
		return
	}
	in.mu.Lock()
	in.aliases[orderID] = identity
	in.mu.Unlock()
}

var (
	// reIdempotencyKey finds an Idempotency-Key: the API's idempotency record (its pk is
	// dynamo.IdempotencyKeyPrefix and the key) or the header in an HTTP API event (names
	// lower case in payload 2.0).
	reIdempotencyKey = regexp.MustCompile(regexp.QuoteMeta(dynamo.IdempotencyKeyPrefix) + `([^"\\&\s]{1,128})|"idempotency-key":"([^"\\]{1,128})"`)
	// reReceiptHandle finds the receipt handles of a delete or visibility change.
	reReceiptHandle = regexp.MustCompile(`"ReceiptHandle":"([^"]{1,1000})"`)
	// reOrderID finds an order id (a UUIDv7) and the status of an event id after it.
	reOrderID = regexp.MustCompile(`([0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})(?:(?::|%3A)([A-Z_]{3,20}))?`)
	// reData finds base64 record data (Kinesis's GetRecords answer and its Lambda event),
	// in which the order ids are encoded.
	reData = regexp.MustCompile(`"[dD]ata":"([A-Za-z0-9+/]{16,}={0,2})"`)
)

// Identity returns the identity of a request body or payload (see Injector): the first of
// its identities, "" when it has none.
func (in *Injector) Identity(b []byte) string {
	if ids := in.identities(b); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// identities returns what a request body or payload is about, sorted and without repeats:
// the identity of the message of each SQS receipt handle it names (receipt handles are
// new in every run, messages are not; "" for a message about no order), each Idempotency-Key (key:<key>) and each order id (with the status
// of an event id, <id>:CONFIRMED; an order id the Injector has an alias for stands for
// it). Base64 record data is decoded first. A body naming one key and an order id teaches
// the alias. Nil when it names none of them.
func (in *Injector) identities(b []byte) []string {
	for _, m := range reData.FindAllSubmatch(b, -1) {
		if data, err := base64.StdEncoding.DecodeString(string(m[1])); err == nil {
			b = append(append(slices.Clip(b), '\n'), data...)
		}
	}
	var ids []string
	handles := reReceiptHandle.FindAllSubmatch(b, -1)
	var keys []string
	for _, m := range reIdempotencyKey.FindAllSubmatch(b, -1) {
		keys = append(keys, "key:"+string(m[1])+string(m[2]))
	}
	orders := reOrderID.FindAllSubmatch(b, -1)
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, m := range handles {
		if id, ok := in.handles[string(m[1])]; ok {
			ids = append(ids, id)
		} else if id, ok := in.older[string(m[1])]; ok {
			ids = append(ids, id)
		}
	}
	if len(keys) == 1 && len(orders) > 0 { // a record that names both: the order's stable name from now on
		in.aliases[string(orders[0][1])] = keys[0]
	}
	ids = append(ids, keys...)
	for _, m := range orders {
		id := string(m[1])
		if a, ok := in.aliases[id]; ok {
			id = a
		}
		if len(m[2]) > 0 {
			id += ":" + string(m[2])
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// draws returns the random source of one decision: a function of the seed and the
// decision's key and attempt only. Callers draw from it in a fixed order.
func (in *Injector) draws(seed uint64, key string, attempt int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(key))
	fmt.Fprintf(h, "\x00%d", attempt)
	if seed == 0 {
		seed = 1
	}
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// attempt returns the attempt a decision on key is made at: one more than the faults
// injected on key so far. Call with mu held.
func (in *Injector) attempt(key string) int { return in.faulted[key] + 1 }

// injected counts a fault injected on key at attempt and logs it. Call with mu held.
func (in *Injector) injected(key string, attempt int, what string) {
	in.faulted[key] = attempt
	in.logDecision(key, attempt, what)
}

// logDecision adds one line to the decision log (Decisions), within its bound. Call with
// mu held.
func (in *Injector) logDecision(key string, attempt int, what string) {
	if len(in.log) < maxLog {
		in.log = append(in.log, fmt.Sprintf("%s #%d %s", strings.ReplaceAll(key, "\x00", " "), attempt, what))
	}
}

// drawEach makes one decision for each identity of ids, on the key prefix and the
// identity: decide draws from the decision's random source (see draws) and returns what
// it injects, "" for nothing. An injection advances its key's attempt and is logged, so
// a decision that passed passes on every repeat. Call with mu held.
func (in *Injector) drawEach(seed uint64, prefix string, ids []string, decide func(*rand.Rand) string) {
	for _, id := range ids {
		key := prefix + "\x00" + id
		attempt := in.attempt(key)
		if what := decide(in.draws(seed, key, attempt)); what != "" {
			in.injected(key, attempt, what)
		}
	}
}

// payloadIdentities returns the identities of a payload; one about no order is decided
// on as "" (its content holds ids and times that are new in every run).
func (in *Injector) payloadIdentities(payload []byte) []string {
	if ids := in.identities(payload); len(ids) > 0 {
		return ids
	}
	return []string{""}
}

// Duplicate reports whether this delivery of payload from source (sqs, kinesis,
// eventbridge, dynamodb) is to be made again, and counts it: once for each identity of
// the payload whose draw duplicates it. The event sources ask again for the copy, so an
// identity's duplicates are the run its draws begin with, like its faults.
func (in *Injector) Duplicate(source string, payload []byte) bool {
	if in == nil {
		return false
	}
	spec := in.Spec()
	var p float64
	switch source {
	case "sqs":
		p = spec.Duplicate.SQS
	case "kinesis":
		p = spec.Duplicate.Kinesis
	case "eventbridge":
		p = spec.Duplicate.EventBridge
	case "dynamodb":
		p = spec.Duplicate.DynamoDB
	}
	if p <= 0 {
		return false
	}
	ids := in.payloadIdentities(payload)
	in.mu.Lock()
	defer in.mu.Unlock()
	dup := false
	in.drawEach(spec.Seed, "duplicate\x00"+source, ids, func(rng *rand.Rand) string {
		if rng.Float64() >= p {
			return ""
		}
		dup = true
		in.stats.Duplicates[source]++
		return "duplicated"
	})
	return dup
}

// DefaultMaxCalls is Crash.MaxCalls when it is 0.
const DefaultMaxCalls = 4

// DecideKill reports whether the process about to run the invoke requestID of function
// with payload is to be killed during it: it is lambdahost's Kill hook, asked before the
// payload is handed over. Each identity of the payload is drawn for (see Injector) and
// counted when its draw kills; the first that kills draws n, the calls of the invoke that
// take effect: the process is killed at its next call (Middleware), or by lambdahost as
// it answers. Asked again for a request it planned a kill for, it answers yes without a
// draw.
func (in *Injector) DecideKill(function, requestID string, payload []byte) bool {
	if in == nil {
		return false
	}
	c := in.Spec().Crash
	if c.Rate <= 0 {
		return false
	}
	if len(c.Functions) > 0 {
		match := false
		for _, f := range c.Functions {
			match = match || strings.Contains(function, f)
		}
		if !match {
			return false
		}
	}
	maxCalls := c.MaxCalls
	if maxCalls <= 0 {
		maxCalls = DefaultMaxCalls
	}
	ids := in.payloadIdentities(payload)
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, ok := in.planned[requestID]; ok {
		return true
	}
	kill := false
	in.drawEach(in.spec.Seed, "crash\x00"+function, ids, func(rng *rand.Rand) string {
		if rng.Float64() >= c.Rate {
			return ""
		}
		if !kill {
			in.planned[requestID] = rng.IntN(maxCalls + 1)
		}
		kill = true
		in.stats.Crashes[function]++
		return "killed"
	})
	return kill
}

// Killed is lambdahost's OnKill hook: the process of requestID was killed as it answered,
// and its planned kill is done.
func (in *Injector) Killed(_, requestID string) {
	if in == nil {
		return
	}
	in.mu.Lock()
	delete(in.planned, requestID)
	in.mu.Unlock()
}

// polled reports whether call is a poll (an SQS receive, a stream read), whose faults are
// decided on what it returns: how often the pollers poll is a matter of timing, what
// they get is not.
func polled(call edge.Call) bool {
	return (call.Service == "sqs" && call.Operation == "ReceiveMessage") ||
		((call.Service == "kinesis" || call.Service == "dynamodb") && call.Operation == "GetRecords")
}

// Middleware is the edge middleware: added latency, then an injected error or the call;
// a call that is a crash point is served, then its process is killed before the answer,
// and a call past a planned kill's calls (Crash) is not served: its process is killed.
// A poll is served first, then failed or answered (see Injector).
func (in *Injector) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := edge.CallFrom(r)
		if in != nil && !wholeBody(r) {
			panic(http.ErrAbortHandler) // its sender is gone: no call, nothing decided
		}
		if key, how := in.crashPoint(r, call); how != survive {
			in.crash(next, r, key, how)
			return
		}
		delay, fault := in.decide(r, call)
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if fault != nil {
			fault.write(w, r, call)
			return
		}
		refused, done := in.limit(w, r, call)
		if refused {
			return
		}
		defer done()
		if polled(call) && in != nil { // also with no fault in force: held answers go out
			in.poll(w, r, call, next)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// poll serves a poll and decides its faults on the identities of what it returns; a poll
// that returns nothing with an identity is answered as it is. A failed receive's messages
// are held and are the answer to the next receive from the queue, as they would be had
// the error come before the receive: the emulator has counted them received once.
func (in *Injector) poll(w http.ResponseWriter, r *http.Request, call edge.Call, next http.Handler) {
	body := awscall.Peek(r, maxInspect)
	resource, base := resourceOf(r, body), in.callKey(r, body, call)
	answer := in.takeHeld(call, resource)
	if answer == nil {
		answer = &recorded{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(answer, r)
		if call.Service == "sqs" {
			in.learnHandles(answer.body.Bytes())
		}
	}
	var f *fault
	if ids := in.returned(answer); len(ids) > 0 {
		spec := in.Spec() // the rules in force when the answer came (a long poll waits)
		in.mu.Lock()
		f = in.faultOn(spec, matchRule(spec, r, body, call), call, base, ids)
		in.mu.Unlock()
	}
	if f == nil {
		answer.replay(w)
		return
	}
	if call.Service == "sqs" {
		in.hold(resource, answer)
	}
	f.write(w, r, call)
}

// returned returns the identities of the messages or records a poll's answer holds.
func (in *Injector) returned(a *recorded) []string {
	if a.status != http.StatusOK {
		return nil
	}
	answer := a.body.Bytes()
	var out struct {
		Messages []struct{ Body string }
		Records  []json.RawMessage
	}
	if json.Unmarshal(answer, &out) != nil {
		return nil
	}
	var ids []string
	for _, m := range out.Messages {
		ids = append(ids, in.identities([]byte(m.Body))...)
	}
	for _, rec := range out.Records {
		ids = append(ids, in.identities(rec)...)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// maxHeld bounds the failed receives held per queue; beyond it the oldest is let go (its
// messages come back when their visibility timeout ends).
const maxHeld = 64

// hold keeps a failed receive's answer for the next receive from queue.
func (in *Injector) hold(queue string, answer *recorded) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.held[queue]) >= maxHeld {
		in.held[queue] = in.held[queue][1:]
	}
	in.held[queue] = append(in.held[queue], answer)
}

// takeHeld returns the oldest answer held for a receive from queue (nil if none).
func (in *Injector) takeHeld(call edge.Call, queue string) *recorded {
	if call.Service != "sqs" {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	q := in.held[queue]
	if len(q) == 0 {
		return nil
	}
	in.held[queue] = q[1:]
	if len(q) == 1 {
		delete(in.held, queue)
	}
	return q[0]
}

// death is what becomes of a call's process (crashPoint).
type death int

const (
	survive     death = iota // the call goes on
	afterServed              // a crash point: the call is served, then the process is killed
	unserved                 // a planned kill whose calls are made: killed before this one
	alreadyDead              // the injector killed the process: the call is dropped
)

// crashPoint counts r as a call of the invoke its process is running and reports whether
// the process is to die with it, and how: the calling process's key and the death. A call
// of a process the injector has killed (one its other goroutines sent at the same time) is
// not served and decides nothing: whether it left before the kill is timing.
func (in *Injector) crashPoint(r *http.Request, call edge.Call) (string, death) {
	if in == nil {
		return "", survive
	}
	key := awscall.AccessKeyID(r)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.dead[key] {
		return key, alreadyDead
	}
	if in.procs == nil || (len(in.spec.CrashAt) == 0 && len(in.planned) == 0) || !strings.HasPrefix(key, lambdahost.ProcessKeyPrefix) {
		return "", survive
	}
	running, found := in.procs.Running(key)
	if !found || running.RequestID == "" {
		return "", survive
	}
	c := in.invoke[key]
	if c == nil || c.requestID != running.RequestID {
		c = &invokeCalls{requestID: running.RequestID, byOp: map[string]int{}}
		in.invoke[key] = c
	}
	c.calls++
	c.byOp[call.Operation]++
	if n, planned := in.planned[running.RequestID]; planned && c.calls > n {
		delete(in.planned, running.RequestID)
		delete(in.invoke, key) // the process dies before this call
		in.dead[key] = true
		return key, unserved
	}
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
		in.dead[key] = true
		in.stats.Crashes[running.Function]++
		in.stats.CrashPoints[p.String()]++
		in.injected("crashAt\x00"+p.String()+"\x00"+running.Function, in.hits[i], "killed")
		return key, afterServed
	}
	return "", survive
}

// wholeBody reads r's body into memory and says whether it arrived whole. A body cut
// short comes from a process killed while sending it (a crash decided on another of its
// calls, in the same instant): AWS would see a broken connection, not a call, so such a
// request is neither served nor decided on. Decided on, it had no identity, and drew a
// fault under an empty key in one run and not in the next.
func wholeBody(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	b, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return err == nil
}

// crash kills the calling process before it sees an answer (a crash point's call served
// first, so that it takes effect), and drops the connection as a dead process's is.
func (in *Injector) crash(next http.Handler, r *http.Request, key string, how death) {
	if how == afterServed {
		next.ServeHTTP(discard{header: http.Header{}}, r)
	}
	if how != alreadyDead {
		in.mu.Lock()
		procs := in.procs
		in.mu.Unlock()
		procs.KillProcess(key)
	}
	panic(http.ErrAbortHandler) // net/http closes the connection without an answer
}

// discard is a ResponseWriter that keeps nothing: the answer of a call whose caller is
// killed.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}

// LearnOrders wraps the HTTP API: for each order it accepts under an Idempotency-Key it
// tells Alias, so the decisions on the order's later calls are the same in every run
// with the same seed and keys. A nil Injector returns api as it is.
func (in *Injector) LearnOrders(api http.Handler) http.Handler {
	if in == nil {
		return api
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" || r.Method != http.MethodPost {
			api.ServeHTTP(w, r)
			return
		}
		rec := &responseCopy{ResponseWriter: w}
		api.ServeHTTP(rec, r)
		var created struct {
			OrderID string `json:"orderId"`
		}
		if json.Unmarshal(rec.body.Bytes(), &created) == nil {
			in.Alias(created.OrderID, "key:"+key)
		}
	})
}

// maxHandles bounds the receipt handles remembered: when as many are learnt, they become
// the older generation and the generation before is dropped, so a handle is known for at
// least maxHandles receives after its own (a message received just before a bulk drop
// kept its identity for its delete), and at most 2*maxHandles are kept.
const maxHandles = 100_000

// learnHandles remembers the identity of each message a ReceiveMessage answered (SQS's
// JSON protocol), by its receipt handle.
func (in *Injector) learnHandles(answer []byte) {
	var out struct {
		Messages []struct {
			ReceiptHandle string
			Body          string
		}
	}
	if json.Unmarshal(answer, &out) != nil || len(out.Messages) == 0 {
		return
	}
	ids := make([]string, len(out.Messages))
	for i, m := range out.Messages {
		ids[i] = in.Identity([]byte(m.Body))
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.handles) >= maxHandles {
		in.older, in.handles = in.handles, make(map[string]string, maxHandles)
	}
	for i, m := range out.Messages {
		in.handles[m.ReceiptHandle] = ids[i]
	}
}

// responseCopy keeps a copy of what is written through it.
type responseCopy struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (c *responseCopy) Write(p []byte) (int, error) {
	c.body.Write(p)
	return c.ResponseWriter.Write(p)
}

// recorded is an answer kept to be written later (a poll's, decided on what it returns).
type recorded struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *recorded) Header() http.Header         { return a.header }
func (a *recorded) Write(p []byte) (int, error) { return a.body.Write(p) }
func (a *recorded) WriteHeader(status int)      { a.status = status }

// replay writes the answer to w.
func (a *recorded) replay(w http.ResponseWriter) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body.Bytes())
}

// fault is one injected error answer.
type fault struct {
	throttle bool
	status   int
}

// decide draws a call's latency (the longest its identities draw) and, unless it is a poll
// (see poll), its fault: one decision for each identity the call is about (a call about
// none is one decision).
func (in *Injector) decide(r *http.Request, call edge.Call) (time.Duration, *fault) {
	if in == nil {
		return 0, nil
	}
	spec := in.Spec()
	if !spec.Enabled() {
		return 0, nil
	}
	body := awscall.Peek(r, maxInspect)
	base := in.callKey(r, body, call)
	ids := in.identities(append([]byte(r.URL.Path+"\n"), body...))
	if len(ids) == 0 {
		ids = []string{""}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	var delay time.Duration
	for _, id := range ids {
		delay = max(delay, in.latency(spec, base+"\x00"+id))
	}
	if polled(call) {
		return delay, nil
	}
	return delay, in.faultOn(spec, matchRule(spec, r, body, call), call, base, ids)
}

// callKey is the part of a call's decision keys before the identity: the service,
// operation and resource, and the function whose process made the call ("" for the
// stack's own calls, made on AWS's behalf).
func (in *Injector) callKey(r *http.Request, body []byte, call edge.Call) string {
	return "aws\x00" + call.Service + "\x00" + call.Operation + "\x00" + resourceOf(r, body) + "\x00" + in.caller(r)
}

// caller returns the function whose process made r ("" if none did).
func (in *Injector) caller(r *http.Request) string {
	key := awscall.AccessKeyID(r)
	if !strings.HasPrefix(key, lambdahost.ProcessKeyPrefix) {
		return ""
	}
	in.mu.Lock()
	procs := in.procs
	in.mu.Unlock()
	if procs == nil {
		return ""
	}
	running, _ := procs.Running(key)
	return running.Function
}

// matchRule returns the first error rule for the call (nil if none).
func matchRule(spec Spec, r *http.Request, body []byte, call edge.Call) *ErrorRule {
	for i := range spec.Errors {
		e := &spec.Errors[i]
		if e.Rate <= 0 || (e.Service != "" && e.Service != "*" && e.Service != call.Service) ||
			(e.Operation != "" && e.Operation != call.Operation) {
			continue
		}
		if e.Resource != "" && !mentions(r, body, e.Resource) {
			continue
		}
		return e
	}
	return nil
}

// latency draws the latency added to a call decided on key, and counts it once per
// attempt however often the call is made. Call with mu held.
func (in *Injector) latency(spec Spec, key string) time.Duration {
	if spec.Latency.Rate <= 0 {
		return 0
	}
	attempt := in.attempt(key)
	rng := in.draws(spec.Seed, key, attempt)
	lat, latLen := rng.Float64(), rng.Float64()
	if lat >= spec.Latency.Rate {
		return 0
	}
	lo, hi := int64(spec.Latency.Min), int64(spec.Latency.Max)
	delay := time.Duration(lo)
	if hi > lo {
		delay += time.Duration(latLen * float64(hi-lo+1))
	}
	if in.delayed[key] != attempt {
		in.delayed[key] = attempt
		in.stats.Delayed++
		in.logDecision(key, attempt, "delayed "+delay.String())
	}
	return delay
}

// faultOn draws rule's fault for each identity (key base, then the identity) and counts
// each one drawn; the call fails with the first. Call with mu held.
func (in *Injector) faultOn(spec Spec, rule *ErrorRule, call edge.Call, base string, ids []string) *fault {
	if rule == nil {
		return nil
	}
	var first *fault
	in.drawEach(spec.Seed, base, ids, func(rng *rand.Rand) string {
		// A fixed order of draws: latency, its length, error, its kind, its status.
		_, _ = rng.Float64(), rng.Float64()
		fail, kind, status := rng.Float64(), rng.Float64(), rng.Float64()
		if fail >= rule.Rate {
			return ""
		}
		f := &fault{}
		switch rule.Kind {
		case "throttle":
			f.throttle = true
		case "5xx":
		default:
			f.throttle = kind < 0.5
		}
		if f.throttle {
			in.stats.Throttles++
		} else {
			f.status = http.StatusInternalServerError
			if status < 0.5 {
				f.status = http.StatusServiceUnavailable
			}
			in.stats.ServerErrors++
		}
		code := f.code(call)
		in.stats.Errors[call.String()+":"+code]++
		if first == nil {
			first = f
		}
		return code
	})
	return first
}

// reResource finds the resource a request names: a table, queue, stream, topic, bus,
// state machine or function.
var reResource = regexp.MustCompile(`"(?:TableName|QueueUrl|StreamName|StreamARN|TopicArn|EventBusName|StateMachineArn|FunctionName)":"([^"]{1,512})"|(?:QueueUrl|TopicArn)=([^&]{1,512})`)

// resourceOf returns the name of the resource r is about ("" when it names none): the
// last path segment of a queue URL or an ARN, the bucket of an S3 path.
func resourceOf(r *http.Request, body []byte) string {
	if m := reResource.FindSubmatch(body); m != nil {
		v, _ := url.QueryUnescape(string(m[1]) + string(m[2]))
		return v[strings.LastIndexAny(v, "/:")+1:]
	}
	if edge.CallFrom(r).Service == "s3" {
		bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		return bucket
	}
	return ""
}

// mentions reports whether s occurs in r's path, query or body.
func mentions(r *http.Request, body []byte, s string) bool {
	return strings.Contains(r.URL.Path, s) || strings.Contains(r.URL.RawQuery, s) || bytes.Contains(body, []byte(s))
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
// Every count is the same in every run with the same seed and orders (see Injector),
// except those of the simulated limits, which are about time.
func (s Stats) Summary() []string {
	var out []string
	out = append(out, fmt.Sprintf("injected AWS errors: %d (throttling %d, 5xx %d; one for each order a failed call was about)", Sum(s.Errors), s.Throttles, s.ServerErrors))
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
	if len(s.Limited) > 0 {
		out = append(out, fmt.Sprintf("refused by simulated limits: %d", Sum(s.Limited)))
		for _, k := range sortedKeys(s.Limited) {
			out = append(out, fmt.Sprintf("  %-60s %d", k, s.Limited[k]))
		}
	}
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
