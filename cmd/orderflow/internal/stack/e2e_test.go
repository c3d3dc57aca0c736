package stack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/cli"
	"github.com/orderflow/orderflow/events/schemas"
	"github.com/orderflow/orderflow/pkg/handler/analytics"
	"github.com/orderflow/orderflow/tools/awstest"
)

// e2eSource is the template's default EventSource parameter, which the test keeps.
const e2eSource = "myapp.orders"

// e2eInFlight bounds the submissions in flight at once.
const e2eInFlight = 12

// e2eLine is one order line of a request.
type e2eLine struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// e2eOrder is one planned submission and what the system must make of it.
type e2eOrder struct {
	name   string
	body   string
	key    string // Idempotency-Key; "" sends none
	copies int    // identical requests sent at once (same key and body); 0 means 1
	lines  []e2eLine
	// wantHTTP is 202 (accepted; status and reason are the final ones) or 400 (code).
	wantHTTP       int
	code           string
	status, reason string

	// Filled in by the test.
	results []httpResult
	first   httpResult // the 202 every accepted copy and replay must repeat
	id      string
	final   orderView
}

// httpResult is one HTTP answer.
type httpResult struct {
	status      int
	body        []byte
	location    string
	contentType string
	err         error
}

// orderView is the part of the API's order the test checks.
type orderView struct {
	OrderID       string    `json:"orderId"`
	Status        string    `json:"status"`
	FailureReason string    `json:"failureReason"`
	Currency      string    `json:"currency"`
	Total         int64     `json:"total"`
	Lines         []e2eLine `json:"lines"`
}

// busEvent is the part of an EventBridge event the test checks.
type busEvent struct {
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Detail     struct {
		Metadata struct {
			EventID    string    `json:"eventId"`
			OccurredAt time.Time `json:"occurredAt"`
		} `json:"metadata"`
		Data struct {
			OrderID       string `json:"orderId"`
			Status        string `json:"status"`
			FailureReason string `json:"failureReason"`
			Total         int64  `json:"total"`
		} `json:"data"`
	} `json:"detail"`
}

// notification is the SNS message body (docs/CONTRACTS.md, "SNS notification").
type notification struct {
	EventID       string `json:"eventId"`
	OrderID       string `json:"orderId"`
	Status        string `json:"status"`
	FailureReason string `json:"failureReason"`
}

var detailTypeOf = map[string]string{
	"PENDING": "Order Created", "CONFIRMED": "Order Confirmed", "CANCELLED": "Order Cancelled", "REJECTED": "Order Rejected",
}

var eventTypeOf = map[string]string{"CONFIRMED": "OrderConfirmed", "CANCELLED": "OrderCancelled", "REJECTED": "OrderRejected"}

func orderBody(customer, token string, lines ...e2eLine) string {
	b, _ := json.Marshal(map[string]any{"customerId": customer, "currency": "USD", "lines": lines, "paymentToken": token})
	return string(b)
}

// e2ePlan is the mix of submissions: valid orders (some with an Idempotency-Key), out of
// stock (alone or next to an available line: all or nothing), declined by token and by
// amount, unknown SKUs, invalid bodies, and the two Idempotency-Key cases. Stock is
// budgeted so that every outcome is deterministic whatever the interleaving: the
// confirmed and declined orders together never need more of a SKU than the catalog has,
// and the out-of-stock lines ask for more than the whole stock.
func e2ePlan(run string) []*e2eOrder {
	const mug, tee, stk, ltd = "SKU-MUG-001", "SKU-TEE-002", "SKU-STK-003", "SKU-LTD-004"
	skus := []string{mug, tee, stk}
	var plan []*e2eOrder
	add := func(o *e2eOrder) {
		if o.body == "" {
			token := "tok_visa"
			if o.reason == "PAYMENT_DECLINED" && !strings.Contains(o.name, "limit") {
				token = "tok_decline"
			}
			o.body = orderBody(fmt.Sprintf("c-%d", len(plan)%7), token, o.lines...)
		}
		plan = append(plan, o)
	}
	for i := range 30 {
		lines := []e2eLine{{skus[i%3], int64(1 + i%3)}}
		if i%2 == 0 {
			lines = append(lines, e2eLine{skus[(i+1)%3], 1})
		}
		if i%4 == 0 {
			lines = append(lines, e2eLine{skus[(i+2)%3], 2})
		}
		o := &e2eOrder{name: fmt.Sprintf("confirmed %d", i), lines: lines, wantHTTP: 202, status: "CONFIRMED"}
		if i%5 == 0 {
			o.key = fmt.Sprintf("e2e-%s-valid-%d", run, i)
		}
		add(o)
	}
	for i := range 3 {
		add(&e2eOrder{name: fmt.Sprintf("more than the stock %d", i), lines: []e2eLine{{ltd, 4}},
			wantHTTP: 202, status: "CANCELLED", reason: "OUT_OF_STOCK"})
		add(&e2eOrder{name: fmt.Sprintf("one line out of stock reserves nothing %d", i), lines: []e2eLine{{stk, 1}, {tee, 1000}},
			wantHTTP: 202, status: "CANCELLED", reason: "OUT_OF_STOCK"})
	}
	for i := range 4 {
		lines := []e2eLine{{mug, 2}}
		if i%2 == 1 {
			lines = []e2eLine{{tee, 1}, {stk, 3}}
		}
		add(&e2eOrder{name: fmt.Sprintf("declined token %d", i), lines: lines, wantHTTP: 202, status: "CANCELLED", reason: "PAYMENT_DECLINED"})
	}
	// 800 x 1299 = 1,039,200 minor units, above the default PaymentLimit of 1,000,000.
	add(&e2eOrder{name: "declined over the payment limit", lines: []e2eLine{{mug, 800}}, wantHTTP: 202, status: "CANCELLED", reason: "PAYMENT_DECLINED"})
	for i := range 2 {
		add(&e2eOrder{name: fmt.Sprintf("unknown sku %d", i), lines: []e2eLine{{"SKU-NOPE", 1}},
			wantHTTP: 202, status: "REJECTED", reason: "UNKNOWN_SKU"})
		add(&e2eOrder{name: fmt.Sprintf("unknown sku next to a known one %d", i), lines: []e2eLine{{mug, 1}, {"SKU-NOPE-2", 1}},
			wantHTTP: 202, status: "REJECTED", reason: "UNKNOWN_SKU"})
	}
	for name, body := range map[string]string{
		"malformed json":  `{"customerId":"c-1","currency":"USD","lines":[{"sku":"SKU-MUG-001","quantity":1}]`,
		"quantity zero":   orderBody("c-1", "tok_visa", e2eLine{mug, 0}),
		"duplicate sku":   orderBody("c-1", "tok_visa", e2eLine{mug, 1}, e2eLine{mug, 2}),
		"no lines":        `{"customerId":"c-1","currency":"USD","lines":[],"paymentToken":"tok_visa"}`,
		"unknown field":   `{"customerId":"c-1","currency":"USD","lines":[{"sku":"SKU-MUG-001","quantity":1}],"paymentToken":"tok_visa","discount":5}`,
		"quantity string": `{"customerId":"c-1","currency":"USD","lines":[{"sku":"SKU-MUG-001","quantity":"2"}],"paymentToken":"tok_visa"}`,
		"bad currency":    `{"customerId":"c-1","currency":"US","lines":[{"sku":"SKU-MUG-001","quantity":1}],"paymentToken":"tok_visa"}`,
	} {
		add(&e2eOrder{name: "invalid: " + name, body: body, wantHTTP: 400, code: "VALIDATION_FAILED"})
	}
	add(&e2eOrder{name: "same key and body three times at once", key: "e2e-" + run + "-same", copies: 3,
		lines: []e2eLine{{stk, 1}}, wantHTTP: 202, status: "CONFIRMED"})
	add(&e2eOrder{name: "key reused with another body", key: "e2e-" + run + "-other",
		lines: []e2eLine{{tee, 1}}, wantHTTP: 202, status: "CONFIRMED"})
	return plan
}

// The issue "Local stack": concurrent mixed orders over real HTTP through the whole local
// stack, checked at every output: the API's answers and final statuses, the stock, the
// events on the bus, the SNS notifications, the per-minute metrics and the data lake; then
// no child process is left after Close.
func TestE2EOrdersThroughTheLocalStack(t *testing.T) {
	before0 := map[int]bool{} // children an earlier test left are that test's failure
	for _, pid := range liveChildren() {
		before0[pid] = true
	}
	s := up(t, Options{Build: true, Dir: repoRoot(t)})
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	ctx := context.Background()
	busQ := captureBus(t, s, e2eSource)
	snsQ := captureTopic(t, s)
	cat, err := ReadCatalog(filepath.Join(repoRoot(t), "local", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	price := map[string]int64{}
	before := map[string]int{}
	for _, it := range cat.Items {
		price[it.SKU] = it.Price
		before[it.SKU] = stock(t, s, it.SKU)
	}

	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	plan := e2ePlan(run)
	client := &http.Client{Timeout: time.Minute}

	// Submit everything concurrently, in a random order, at most e2eInFlight requests at
	// a time: on a loaded machine a request queued behind fifty others for the two
	// ingest processes would wait longer than any client does. The copies of one
	// Idempotency-Key go out together.
	requests := 0
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	slots := make(chan struct{}, e2eInFlight)
	for _, i := range rand.Perm(len(plan)) {
		o := plan[i]
		n := max(o.copies, 1)
		o.results = make([]httpResult, n)
		requests += n
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			slots <- struct{}{}
			defer func() { <-slots }()
			var copies sync.WaitGroup
			for i := range n {
				copies.Add(1)
				go func() {
					defer copies.Done()
					o.results[i] = post(client, s.HTTPURL, o.key, o.body)
				}()
			}
			copies.Wait()
		}()
	}
	started := time.Now()
	close(startGate)
	wg.Wait()
	submitted := time.Since(started)

	// The API's answers.
	var accepted []*e2eOrder
	byID := map[string]*e2eOrder{}
	for _, o := range plan {
		t.Run("answer/"+o.name, func(t *testing.T) {
			if o.wantHTTP == 400 {
				checkError(t, o.results[0], 400, o.code)
				return
			}
			for i, r := range o.results {
				if r.err != nil {
					t.Fatalf("copy %d: %v", i, r.err)
				}
				if r.status == 409 && len(o.results) > 1 {
					checkError(t, r, 409, "REQUEST_IN_PROGRESS")
					continue
				}
				if r.status != 202 {
					t.Fatalf("copy %d: %d %s, want 202", i, r.status, r.body)
				}
				if o.first.status == 0 {
					o.first = r
				} else if !sameAnswer(o.first, r) {
					t.Errorf("copy %d answered %s %s, the first %s %s", i, r.location, r.body, o.first.location, o.first.body)
				}
			}
			if o.first.status == 0 {
				t.Fatalf("no copy accepted: %+v", o.results)
			}
			var v orderView
			if err := json.Unmarshal(o.first.body, &v); err != nil || v.OrderID == "" || v.Status != "PENDING" {
				t.Fatalf("202 body %s: %v", o.first.body, err)
			}
			if o.first.location != "/orders/"+v.OrderID {
				t.Errorf("Location %q for order %s", o.first.location, v.OrderID)
			}
			o.id = v.OrderID
		})
		if o.id != "" {
			accepted = append(accepted, o)
			byID[o.id] = o
		}
	}
	wantAccepted := 0
	for _, o := range plan {
		if o.wantHTTP == 202 {
			wantAccepted++
		}
	}
	if len(accepted) != wantAccepted || len(byID) != wantAccepted {
		t.Fatalf("%d orders accepted (%d distinct ids), want %d", len(accepted), len(byID), wantAccepted)
	}

	// Idempotency-Key: a replay answers the first response again; another body is a 409.
	for _, o := range accepted {
		if o.key == "" {
			continue
		}
		t.Run("replay/"+o.name, func(t *testing.T) {
			r := post(client, s.HTTPURL, o.key, o.body)
			if r.err != nil || r.status != 202 || !sameAnswer(o.first, r) {
				t.Errorf("replay: %d %s %s %v, want the first answer %s %s", r.status, r.location, r.body, r.err, o.first.location, o.first.body)
			}
			if strings.Contains(o.name, "another body") {
				other := orderBody("c-other", "tok_visa", e2eLine{"SKU-TEE-002", 2})
				checkError(t, post(client, s.HTTPURL, o.key, other), 409, "IDEMPOTENCY_KEY_REUSED")
			}
		})
	}

	// Every accepted order reaches its final status; stock never goes negative meanwhile.
	pending := map[string]*e2eOrder{}
	for _, o := range accepted {
		pending[o.id] = o
	}
	minStock := map[string]int{}
	awstest.Eventually(t, time.Minute, func() (bool, string) {
		for sku := range before {
			n := stock(t, s, sku)
			if v, ok := minStock[sku]; !ok || n < v {
				minStock[sku] = n
			}
		}
		last := ""
		for id, o := range pending {
			r := get(client, s.HTTPURL+"/orders/"+id)
			if r.err != nil || r.status != 200 {
				last = fmt.Sprintf("GET /orders/%s: %d %s %v", id, r.status, r.body, r.err)
				continue
			}
			var v orderView
			if err := json.Unmarshal(r.body, &v); err != nil {
				last = fmt.Sprintf("GET /orders/%s: %s", id, r.body)
				continue
			}
			switch v.Status {
			case "CONFIRMED", "CANCELLED", "REJECTED":
				o.final = v
				delete(pending, id)
			default:
				last = fmt.Sprintf("order %s (%s) still %s", id, o.name, v.Status)
			}
		}
		return len(pending) == 0, fmt.Sprintf("%d orders not final, e.g. %s", len(pending), last)
	})
	allFinal := time.Since(started)

	confirmedQty := map[string]int{}
	var confirmed, cancelled, rejected int
	var revenue int64
	for _, o := range accepted {
		t.Run("final/"+o.name, func(t *testing.T) {
			if o.final.Status != o.status || o.final.FailureReason != o.reason {
				t.Errorf("order %s ended %s %q, want %s %q", o.id, o.final.Status, o.final.FailureReason, o.status, o.reason)
			}
			if o.final.Status != "CONFIRMED" {
				return
			}
			var want int64
			for _, l := range o.lines {
				want += l.Quantity * price[l.SKU]
			}
			if o.final.Total != want || o.final.Currency != "USD" {
				t.Errorf("confirmed total %d %s, want %d USD from the catalog", o.final.Total, o.final.Currency, want)
			}
		})
		switch o.final.Status {
		case "CONFIRMED":
			confirmed++
			revenue += o.final.Total
			for _, l := range o.final.Lines {
				confirmedQty[l.SKU] += int(l.Quantity)
			}
		case "CANCELLED":
			cancelled++
		case "REJECTED":
			rejected++
		}
	}
	t.Run("stock is the catalog's minus what was confirmed", func(t *testing.T) {
		for sku, b := range before {
			after := stock(t, s, sku)
			if after != b-confirmedQty[sku] || after < 0 || minStock[sku] < 0 {
				t.Errorf("%s: %d -> %d (lowest seen %d), confirmed %d", sku, b, after, minStock[sku], confirmedQty[sku])
			}
		}
	})
	t.Run("one order per accepted request, none for a duplicate", func(t *testing.T) {
		items := scan(t, s, s.Tables["OrdersTable"])
		if len(items) != len(accepted) {
			t.Errorf("orders table holds %d orders, want %d", len(items), len(accepted))
		}
	})

	// The bus carries a Created and a terminal event per order; notify publishes once per
	// terminal event.
	events := map[string]busEvent{} // by eventId
	busCount, snsCount := 0, 0
	notes := map[string]snsEnvelope{} // by eventId
	var bad []string
	readBus := func() {
		if err := busQ.drain(ctx); err != nil {
			t.Fatal(err)
		}
		for id, body := range busQ.bodies {
			if body == "" {
				continue
			}
			busQ.bodies[id] = ""
			busCount++
			if err := schemas.ValidateEvent([]byte(body)); err != nil {
				bad = append(bad, fmt.Sprintf("schema: %v in %s", err, body))
			}
			var e busEvent
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				bad = append(bad, fmt.Sprintf("bus message %s: %v", body, err))
				continue
			}
			events[e.Detail.Metadata.EventID] = e
		}
	}
	readSNS := func() {
		if err := snsQ.drain(ctx); err != nil {
			t.Fatal(err)
		}
		for id, body := range snsQ.bodies {
			if body == "" {
				continue
			}
			snsQ.bodies[id] = ""
			snsCount++
			var env snsEnvelope
			var n notification
			if err := json.Unmarshal([]byte(body), &env); err != nil || json.Unmarshal([]byte(env.Message), &n) != nil {
				bad = append(bad, fmt.Sprintf("SNS message %s: %v", body, err))
				continue
			}
			notes[n.EventID] = env
		}
	}
	awstest.Eventually(t, 30*time.Second, func() (bool, string) {
		readBus()
		readSNS()
		return len(events) >= 2*len(accepted) && len(notes) >= len(accepted),
			fmt.Sprintf("%d distinct events on the bus (want %d), %d notifications (want %d)", len(events), 2*len(accepted), len(notes), len(accepted))
	})
	busDone := time.Since(started)

	// Metrics: every event counted once in its minute, revenue of the confirmed orders.
	var sums map[string]int64
	awstest.Eventually(t, 40*time.Second, func() (bool, string) {
		sums = map[string]int64{}
		for _, it := range scan(t, s, s.Tables["MetricsTable"]) {
			pk, _ := it["pk"].(*ddbtypes.AttributeValueMemberS)
			if pk == nil {
				continue
			}
			if strings.HasPrefix(pk.Value, "EVENT#") {
				sums["markers"]++
				continue
			}
			if !strings.HasPrefix(pk.Value, "MINUTE#") {
				continue
			}
			for name, v := range it {
				if n, ok := v.(*ddbtypes.AttributeValueMemberN); ok {
					x, _ := strconv.ParseInt(n.Value, 10, 64)
					sums[name] += x
				}
			}
		}
		return sums["count_PENDING"] == int64(len(accepted)) && sums["count_CONFIRMED"] == int64(confirmed) &&
				sums["count_CANCELLED"] == int64(cancelled) && sums["count_REJECTED"] == int64(rejected) &&
				sums["revenue_USD"] == revenue, fmt.Sprintf("metrics %v, want %d created, %d confirmed, %d cancelled, %d rejected, revenue %d",
				sums, len(accepted), confirmed, cancelled, rejected, revenue)
	})
	metricsDone := time.Since(started)

	// The data lake: every line JSON, every event the bus carried is there.
	s3c := s3.NewFromConfig(s.Config, func(o *s3.Options) { o.UsePathStyle = true })
	days := map[string]bool{}
	for _, e := range events {
		days[e.Detail.Metadata.OccurredAt.UTC().Format(time.DateOnly)] = true
	}
	lake := map[string]int{}
	var lakeObjects, lakeRows int
	badRows := map[string]bool{} // rows whose detail fails its schema, reported once
	awstest.Eventually(t, 40*time.Second, func() (bool, string) {
		lake, lakeObjects, lakeRows = map[string]int{}, 0, 0
		for day := range days {
			p := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String("raw/dt=" + day + "/")})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("list %s: %v", s.Bucket, err)
				}
				for _, obj := range page.Contents {
					lakeObjects++
					out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: obj.Key})
					if err != nil {
						t.Fatalf("get %s: %v", aws.ToString(obj.Key), err)
					}
					b, err := io.ReadAll(out.Body)
					out.Body.Close()
					if err != nil {
						t.Fatal(err)
					}
					sc := bufio.NewScanner(bytes.NewReader(b))
					sc.Buffer(make([]byte, 1<<20), 1<<20)
					for sc.Scan() {
						lakeRows++
						var row analytics.Row
						if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row.EventID == "" {
							t.Fatalf("%s: line %q is not a JSON row: %v", aws.ToString(obj.Key), sc.Text(), err)
						}
						if err := schemas.Validate(row.DetailType, row.Detail); err != nil {
							badRows[fmt.Sprintf("%s: row %s: %v", aws.ToString(obj.Key), row.EventID, err)] = true
						}
						lake[row.EventID]++
					}
				}
			}
		}
		missing := 0
		for id := range events {
			if lake[id] == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d events not in the lake yet (%d objects, %d rows)", missing, len(events), lakeObjects, lakeRows)
	})
	lakeDone := time.Since(started)
	for b := range badRows {
		t.Error(b)
	}

	// Late duplicates would have arrived by now: read the queues once more.
	readBus()
	readSNS()
	for _, b := range bad {
		t.Error(b)
	}
	t.Run("bus: one Created and one terminal event per order, schema-valid", func(t *testing.T) {
		perOrder := map[string][]string{}
		for id, e := range events {
			d := e.Detail.Data
			if e.Source != e2eSource || e.DetailType != detailTypeOf[d.Status] || id != d.OrderID+":"+d.Status {
				t.Errorf("event %s: source %q, detail-type %q, status %s", id, e.Source, e.DetailType, d.Status)
			}
			o := byID[d.OrderID]
			if o == nil {
				t.Errorf("event %s for an order nobody accepted", id)
				continue
			}
			perOrder[d.OrderID] = append(perOrder[d.OrderID], d.Status)
			if d.Status != "PENDING" && (d.Status != o.final.Status || d.FailureReason != o.final.FailureReason) {
				t.Errorf("event %s says %s %q, the order is %s %q", id, d.Status, d.FailureReason, o.final.Status, o.final.FailureReason)
			}
			if d.Status == "CONFIRMED" && d.Total != o.final.Total {
				t.Errorf("event %s total %d, order total %d", id, d.Total, o.final.Total)
			}
		}
		for _, o := range accepted {
			got := perOrder[o.id]
			sort.Strings(got)
			want := []string{o.final.Status, "PENDING"}
			sort.Strings(want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("order %s (%s): state changes on the bus %v, want %v", o.id, o.name, got, want)
			}
		}
		if len(events) != 2*len(accepted) {
			t.Errorf("%d distinct events, want %d", len(events), 2*len(accepted))
		}
	})
	t.Run("sns: one notification per terminal event, with its eventType", func(t *testing.T) {
		for id, env := range notes {
			var n notification
			_ = json.Unmarshal([]byte(env.Message), &n)
			o := byID[n.OrderID]
			if o == nil || env.Type != "Notification" {
				t.Errorf("notification %s (%s) for no accepted order", id, env.Type)
				continue
			}
			if id != o.id+":"+o.final.Status || n.Status != o.final.Status || n.FailureReason != o.final.FailureReason {
				t.Errorf("notification %s: %+v, order %s %q", id, n, o.final.Status, o.final.FailureReason)
			}
			if a := env.MessageAttributes["eventType"]; a.Type != "String" || a.Value != eventTypeOf[o.final.Status] {
				t.Errorf("notification %s: eventType %+v, want %s", id, a, eventTypeOf[o.final.Status])
			}
			if a := env.MessageAttributes["orderId"]; a.Value != o.id {
				t.Errorf("notification %s: orderId attribute %+v", id, a)
			}
		}
		if len(notes) != len(accepted) {
			t.Errorf("%d distinct notifications, want one per accepted order: %d", len(notes), len(accepted))
		}
	})
	t.Run("metrics: one marker per event", func(t *testing.T) {
		if sums["markers"] != int64(len(events)) {
			t.Errorf("%d EVENT# markers, want %d", sums["markers"], len(events))
		}
	})
	t.Run("lake: exactly the events of the bus", func(t *testing.T) {
		for id := range lake {
			if _, ok := events[id]; !ok {
				t.Errorf("lake row %s was never on the bus", id)
			}
		}
	})

	// A real SQL engine over the files the stack wrote, through the Glue table's columns
	// and dt partitions (orderflow lake query: DuckDB), deduplicating on event_id as
	// every reader must: the confirmed orders and their revenue are the metrics table's.
	t.Run("lake query: confirmed count and revenue equal the metrics table's", func(t *testing.T) {
		const sql = `SELECT currency, count(*) AS confirmed, sum(total) AS revenue FROM (
			SELECT event_id, any_value(currency) AS currency, any_value(total) AS total
			FROM order_events WHERE status = 'CONFIRMED' GROUP BY event_id) GROUP BY currency`
		var out, errOut bytes.Buffer
		if code := cli.Run(ctx, []string{"lake", "query", sql, "--json", "--aws-endpoint", s.EdgeURL, "--bucket", s.Bucket,
			"--template", filepath.Join(repoRoot(t), "template.yaml")}, &out, &errOut); code != cli.ExitOK {
			t.Fatalf("orderflow lake query: exit %d: %s", code, errOut.String())
		}
		var r struct{ Rows [][]string }
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("lake query answer %s: %v", out.String(), err)
		}
		lakeConfirmed, lakeRevenue := int64(0), map[string]int64{}
		for _, row := range r.Rows {
			n, _ := strconv.ParseInt(row[1], 10, 64)
			rev, _ := strconv.ParseInt(row[2], 10, 64)
			lakeConfirmed += n
			lakeRevenue["revenue_"+row[0]] = rev
		}
		metricsRevenue := map[string]int64{}
		for k, v := range sums {
			if strings.HasPrefix(k, "revenue_") {
				metricsRevenue[k] = v
			}
		}
		if confirmed == 0 || lakeConfirmed != sums["count_CONFIRMED"] || fmt.Sprint(lakeRevenue) != fmt.Sprint(metricsRevenue) {
			t.Errorf("lake query: %d confirmed, revenue %v; metrics table: %d confirmed, revenue %v (orders: %d confirmed)",
				lakeConfirmed, lakeRevenue, sums["count_CONFIRMED"], metricsRevenue, confirmed)
		}
	})

	t.Logf("%d requests (%d orders accepted: %d confirmed, %d cancelled, %d rejected; revenue %d): answered in %s, all final after %s, "+
		"bus and SNS complete after %s, metrics after %s, lake after %s", requests, len(accepted), confirmed, cancelled, rejected,
		revenue, submitted.Round(time.Millisecond), allFinal.Round(time.Millisecond), busDone.Round(time.Millisecond),
		metricsDone.Round(time.Millisecond), lakeDone.Round(time.Millisecond))
	t.Logf("bus: %d messages, %d distinct events; SNS: %d messages, %d distinct; lake: %d objects, %d rows, %d distinct events",
		busCount, len(events), snsCount, len(notes), lakeObjects, lakeRows, len(lake))

	// Stop: every child process (moto, the functions) is gone, the ports are free.
	children := liveChildren()
	if len(children) < 1+5 {
		t.Errorf("expected moto and the five functions as children, found %v", children)
	}
	closed = true
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range children {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("child process %d still exists after Close (%v)", pid, err)
		}
	}
	for _, pid := range liveChildren() {
		if !before0[pid] {
			t.Errorf("child process %d appeared and is left after Close", pid)
		}
	}
	for _, u := range []string{s.HTTPURL, s.EdgeURL} {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after Close", u)
		}
	}
}

func post(c *http.Client, base, key, body string) httpResult {
	req, err := http.NewRequest(http.MethodPost, base+"/orders", strings.NewReader(body))
	if err != nil {
		return httpResult{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return do(c, req)
}

func get(c *http.Client, url string) httpResult {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return httpResult{err: err}
	}
	return do(c, req)
}

func do(c *http.Client, req *http.Request) httpResult {
	resp, err := c.Do(req)
	if err != nil {
		return httpResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, body: b, location: resp.Header.Get("Location"),
		contentType: resp.Header.Get("Content-Type"), err: err}
}

// sameAnswer reports whether two answers are the same response: status, Location, body.
func sameAnswer(a, b httpResult) bool {
	return a.status == b.status && a.location == b.location && bytes.Equal(a.body, b.body)
}

// checkError checks a JSON error answer: status, code, a message, JSON content type.
func checkError(t *testing.T, r httpResult, status int, code string) {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || r.status != status || e.Error.Code != code || e.Error.Message == "" ||
		!strings.HasPrefix(r.contentType, "application/json") {
		t.Errorf("answer %d %s (%s), want %d %s", r.status, r.body, r.contentType, status, code)
	}
}

// scan reads a whole table (a test's table is small).
func scan(t *testing.T, s *Stack, table string) []map[string]ddbtypes.AttributeValue {
	t.Helper()
	var items []map[string]ddbtypes.AttributeValue
	p := dynamodb.NewScanPaginator(dynamodb.NewFromConfig(s.Config), &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		items = append(items, page.Items...)
	}
	return items
}
