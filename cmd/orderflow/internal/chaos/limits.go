package chaos

import (
	"github.com/orderflow/orderflow/tools/awscall"

	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/edge"
)

// AWS figures the simulated limits divide by Limits.Scale (shared/AWS-LIMITS.md;
// bench/quotas.json has the sources): DynamoDB's per-partition write capacity, which is
// also one item's, and Step Functions Standard's token buckets in us-east-1.
const (
	AWSItemWCU            = 1000
	AWSStartBucket        = 1300
	AWSStartRefill        = 300
	AWSTaskCallbackBucket = 3000
	AWSTaskCallbackRefill = 500
)

// Limits simulates AWS limits that moto does not have, scaled down by Scale so that two
// cores reach them. The zero value simulates none. Unlike the fault rules, what they
// answer depends on when calls arrive (a bucket empties and refills with time), so a run
// under limits is not replayed by its seed.
//
//	{"limits": {"scale": 100, "itemWrites": true, "transactionConflicts": true, "stepFunctions": true,
//	            "keys": {"inventory-dev": ["pk"]}}}
type Limits struct {
	// Scale divides every AWS figure: 100 makes an item take 10 WCU/s and StartExecution
	// refill 3 per second. 0 means 1 (AWS's own figures).
	Scale float64 `json:"scale,omitempty"`
	// ItemWrites gives each DynamoDB item AWSItemWCU/Scale write units per second (a
	// bucket of one second's units): a write costs 1 WCU per KB of item, an item in a
	// transaction twice that. A write past it is answered as DynamoDB answers a hot
	// partition: ProvisionedThroughputExceededException with the throttling reason
	// TableWriteKeyRangeThroughputExceeded, which the SDK retries; a transaction is
	// cancelled with ThrottlingError for the item.
	ItemWrites bool `json:"itemWrites,omitempty"`
	// TransactionConflicts cancels a TransactWriteItems that touches an item another
	// transaction is still writing (TransactionCanceledException, reason
	// TransactionConflict for that item), and answers a single-item write to such an item
	// with TransactionConflictException. moto runs transactions one at a time and never
	// reports either.
	TransactionConflicts bool `json:"transactionConflicts,omitempty"`
	// StepFunctions puts StartExecution and SendTaskSuccess/Failure/Heartbeat behind
	// token buckets of AWS's size and refill divided by Scale; an empty bucket answers
	// ThrottlingException.
	StepFunctions bool `json:"stepFunctions,omitempty"`
	// Tables, when set, limits DynamoDB writes on these tables only (their names); the
	// others are served as without ItemWrites and TransactionConflicts. A scenario about
	// one hot item (make flashsale) limits its table alone: at a large Scale, every other
	// item (an order written three times within a second) would reach a cap no such item
	// nears on AWS.
	Tables []string `json:"tables,omitempty"`
	// Keys names each table's key attributes (the local stack fills them from the
	// template's KeySchema). A put into a table not listed is keyed by the whole item.
	Keys map[string][]string `json:"keys,omitempty"`
}

// Enabled reports whether l simulates anything.
func (l Limits) Enabled() bool { return l.ItemWrites || l.TransactionConflicts || l.StepFunctions }

func (l Limits) scale() float64 {
	if l.Scale <= 0 {
		return 1
	}
	return l.Scale
}

// Bucket is a token bucket: it holds up to Size tokens and gains Refill per second.
type Bucket struct {
	Size, Refill float64
	tokens       float64
	at           time.Time
}

// NewBucket returns a full bucket at now.
func NewBucket(size, refill float64, now time.Time) *Bucket {
	return &Bucket{Size: size, Refill: refill, tokens: size, at: now}
}

// Take takes n tokens at now and reports whether there were enough; when not, it takes
// none.
func (b *Bucket) Take(n float64, now time.Time) bool {
	b.fill(now)
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// Tokens returns the tokens held at now.
func (b *Bucket) Tokens(now time.Time) float64 {
	b.fill(now)
	return b.tokens
}

func (b *Bucket) fill(now time.Time) {
	if now.After(b.at) {
		b.tokens = math.Min(b.Size, b.tokens+now.Sub(b.at).Seconds()*b.Refill)
		b.at = now
	}
}

// limiter holds the simulated limits' state.
type limiter struct {
	mu      sync.Mutex
	now     func() time.Time
	items   map[string]*Bucket
	writing map[string]int // items of transactions in flight
	sfn     map[string]*Bucket
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, items: map[string]*Bucket{}, writing: map[string]int{}, sfn: map[string]*Bucket{}}
}

// itemWrite is one item a DynamoDB write call writes.
type itemWrite struct {
	table string
	key   string // table + key attributes, canonical JSON
	wcu   float64
}

// writes returns the items a DynamoDB write call writes, and whether it is a transaction.
func (l Limits) writes(op string, body []byte) ([]itemWrite, bool) {
	type action struct {
		TableName string
		Key       map[string]json.RawMessage
		Item      map[string]json.RawMessage
	}
	one := func(a action, factor float64) itemWrite {
		key := a.Key
		if names := l.Keys[a.TableName]; key == nil && len(names) == 0 {
			key = a.Item // no key schema known: the whole item stands for itself
		} else if key == nil {
			key = map[string]json.RawMessage{}
			for _, n := range names {
				if v, ok := a.Item[n]; ok {
					key[n] = v
				}
			}
		}
		k, _ := json.Marshal(key) // map keys sorted: canonical
		size := 0
		for n, v := range a.Item {
			size += len(n) + len(v)
		}
		return itemWrite{table: a.TableName, key: a.TableName + "\x00" + string(k), wcu: factor * math.Max(1, math.Ceil(float64(size)/1024))}
	}
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem":
		var a action
		if json.Unmarshal(body, &a) != nil {
			return nil, false
		}
		return []itemWrite{one(a, 1)}, false
	case "TransactWriteItems":
		var t struct {
			TransactItems []map[string]action
		}
		if json.Unmarshal(body, &t) != nil {
			return nil, true
		}
		var out []itemWrite
		for _, ti := range t.TransactItems {
			for kind, a := range ti { // Put, Update, Delete, ConditionCheck
				w := one(a, 2)
				if kind == "ConditionCheck" {
					w.wcu = 0 // a condition check reads
				}
				out = append(out, w)
			}
		}
		return out, true
	}
	return nil, false
}

// limit answers the call when a simulated limit refuses it (true), or lets it through
// and returns a function to call once it is served.
func (in *Injector) limit(w http.ResponseWriter, r *http.Request, call edge.Call) (refused bool, done func()) {
	l := in.Spec().Limits
	done = func() {}
	if !l.Enabled() {
		return false, done
	}
	lm := in.limiter
	s := l.scale()
	switch {
	case call.Service == "states" && l.StepFunctions:
		size, refill := 0.0, 0.0
		switch call.Operation {
		case "StartExecution":
			size, refill = AWSStartBucket, AWSStartRefill
		case "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat":
			size, refill = AWSTaskCallbackBucket, AWSTaskCallbackRefill
		default:
			return false, done
		}
		name := call.Operation
		if name != "StartExecution" {
			name = "SendTask*"
		}
		lm.mu.Lock()
		now := lm.now()
		b := lm.sfn[name]
		if b == nil {
			b = NewBucket(math.Max(1, size/s), refill/s, now)
			lm.sfn[name] = b
		}
		ok := b.Take(1, now)
		lm.mu.Unlock()
		if !ok {
			in.count(call, "ThrottlingException")
			writeJSONError(w, r, http.StatusBadRequest, "ThrottlingException", "Rate exceeded (simulated Step Functions "+name+" bucket)", nil)
			return true, done
		}
		return false, done
	case call.Service == "dynamodb" && (l.ItemWrites || l.TransactionConflicts):
		items, tx := l.writes(call.Operation, awscall.Peek(r, maxInspect))
		limited := func(it itemWrite) bool { return len(l.Tables) == 0 || slices.Contains(l.Tables, it.table) }
		if !slices.ContainsFunc(items, limited) {
			return false, done
		}
		lm.mu.Lock()
		defer lm.mu.Unlock()
		if l.TransactionConflicts {
			codes := make([]string, len(items))
			conflict := false
			for i, it := range items {
				codes[i] = "None"
				if limited(it) && lm.writing[it.key] > 0 {
					codes[i], conflict = "TransactionConflict", true
				}
			}
			if conflict {
				in.refuse(w, r, call, tx, codes, "Transaction is ongoing for the item (simulated)", "TransactionConflictException", nil)
				return true, done
			}
		}
		if l.ItemWrites {
			now := lm.now()
			bucket := func(key string) *Bucket {
				b := lm.items[key]
				if b == nil {
					b = NewBucket(AWSItemWCU/s, AWSItemWCU/s, now)
					lm.items[key] = b
				}
				return b
			}
			// All or nothing: a call takes its units only when every item has them.
			need := map[string]float64{}
			for _, it := range items {
				if limited(it) {
					need[it.key] += it.wcu
				}
			}
			codes := make([]string, len(items))
			short := ""
			for i, it := range items {
				codes[i] = "None"
				if limited(it) && bucket(it.key).Tokens(now) < need[it.key] {
					codes[i], short = "ThrottlingError", it.table
				}
			}
			if short != "" {
				in.refuse(w, r, call, tx, codes, "Throughput exceeds the current capacity of one or more items (simulated per-item limit)",
					"ProvisionedThroughputExceededException", map[string]any{"ThrottlingReasons": []map[string]string{{
						"reason": "TableWriteKeyRangeThroughputExceeded", "resource": "arn:aws:dynamodb:us-east-1:000000000000:table/" + short}}})
				return true, done
			}
			for k, n := range need {
				bucket(k).Take(n, now)
			}
		}
		if tx && l.TransactionConflicts {
			items = slices.DeleteFunc(items, func(it itemWrite) bool { return !limited(it) })
			for _, it := range items {
				lm.writing[it.key]++
			}
			done = func() {
				lm.mu.Lock()
				defer lm.mu.Unlock()
				for _, it := range items {
					if lm.writing[it.key]--; lm.writing[it.key] <= 0 {
						delete(lm.writing, it.key)
					}
				}
			}
		}
		return false, done
	}
	return false, done
}

// count records a refusal by a simulated limit in the stats.
func (in *Injector) count(call edge.Call, code string) {
	in.mu.Lock()
	in.stats.Limited[call.String()+":"+code]++
	in.mu.Unlock()
}

// refuse answers a DynamoDB write a simulated limit refused, and counts it: a
// transaction is cancelled with one reason code per action (why for those not "None"); a
// single write gets the exception code, with members.
func (in *Injector) refuse(w http.ResponseWriter, r *http.Request, call edge.Call, tx bool, codes []string, why, code string, members map[string]any) {
	if tx {
		reason := ""
		for _, c := range codes {
			if c != "None" {
				reason = c
			}
		}
		in.count(call, "TransactionCanceledException:"+reason)
		writeCancelled(w, r, codes, why)
		return
	}
	in.count(call, code)
	writeJSONError(w, r, http.StatusBadRequest, code, why, members)
}

// writeCancelled answers a TransactWriteItems with TransactionCanceledException and one
// cancellation reason per action, as DynamoDB does.
func writeCancelled(w http.ResponseWriter, r *http.Request, codes []string, why string) {
	reasons := make([]map[string]string, len(codes))
	for i, c := range codes {
		reasons[i] = map[string]string{"Code": c}
		if c != "None" {
			reasons[i]["Message"] = why
		}
	}
	writeJSONError(w, r, http.StatusBadRequest, "TransactionCanceledException",
		fmt.Sprintf("Transaction cancelled, please refer cancellation reasons for specific reasons [%s]", strings.Join(codes, ", ")),
		map[string]any{"CancellationReasons": reasons})
}

// writeJSONError answers in the awsJson protocol: the code in __type, the message, and
// the error's own members.
func writeJSONError(w http.ResponseWriter, r *http.Request, status int, code, msg string, members map[string]any) {
	body := map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": msg}
	if edge.CallFrom(r).Service != "dynamodb" {
		body["__type"] = code
	}
	for k, v := range members {
		body[k] = v
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/x-amz-json-1.0"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("limit-%d", time.Now().UnixNano()))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
