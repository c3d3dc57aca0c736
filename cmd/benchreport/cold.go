package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/tools/lambdahost"
)

// coldOrderID is the order the stub's GetItem returns, already VALIDATED.
const coldOrderID = "01956a1e-9c00-7abc-8def-00000000c01d"

// coldCase is a function's first request: a payload that answers successfully with at
// most one AWS call, which the stub answers at once.
type coldCase struct {
	payload string
	why     string
}

var coldCases = map[string]coldCase{
	"hello": {`{}`, "any event"},
	"ingest": {`{"version":"2.0","routeKey":"GET /orders/{orderId}","rawPath":"/orders/not-an-order-id",` +
		`"headers":{"accept":"application/json"},"pathParameters":{"orderId":"not-an-order-id"},` +
		`"requestContext":{"http":{"method":"GET","path":"/orders/not-an-order-id"}},"isBase64Encoded":false}`,
		"GET /orders/{id} with an id that is no order id → 404 JSON answer, no AWS call"},
	"process": {`{"action":"validate","orderId":"` + coldOrderID + `","correlationId":"bench"}`,
		"validate of an order already VALIDATED → the order unchanged; one DynamoDB GetItem, answered by the stub"},
	"inventory": {`{"Records":[]}`, "an empty SQS batch → empty batch response, no AWS call"},
	"notify": {`{"version":"0","id":"bench-1","detail-type":"Order Confirmed","source":"myapp.orders","account":"123456789012",` +
		`"time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"metadata":{"eventId":"` + coldOrderID + `:CONFIRMED",` +
		`"schemaVersion":"1.0","correlationId":"bench","occurredAt":"2026-01-01T00:00:00Z"},"data":{"orderId":"` + coldOrderID + `",` +
		`"customerId":"c-1","status":"CONFIRMED","currency":"USD","total":1299,"lines":[{"sku":"SKU-MUG-001","quantity":1,"unitPrice":1299}],` +
		`"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z"}}}`,
		"an Order Confirmed already notified → success without publishing; one conditional PutItem, answered ConditionalCheckFailed with the DONE marker by the stub"},
	"analytics": {`{"Records":[]}`, "an empty Kinesis batch → empty batch response, no AWS call"},
	"publisher": {`{"Records":[]}`, "an empty DynamoDB stream batch → empty batch response, no AWS call"},
}

// coldEnv is every function's environment (CONTRACTS.md) for the cold-start runs.
func coldEnv(endpoint string) map[string]string {
	return map[string]string{
		"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL": endpoint,
		"ORDERS_TABLE": "orders", "IDEMPOTENCY_TABLE": "idempotency", "INVENTORY_TABLE": "inventory",
		"METRICS_TABLE": "metrics", "EVENT_BUS_NAME": "orders", "EVENT_SOURCE": "myapp.orders",
		"TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:order-notifications", "DATA_LAKE_BUCKET": "lake",
		"POWERTOOLS_SERVICE_NAME": "orderflow", "SERVICE_NAME": "orderflow", "TZ": ":UTC",
	}
}

// The items the stub answers with, written by pkg/dynamo's codec (the one owner of the
// tables' layout): the order, VALIDATED, that process's validate reads, and the DONE
// marker notify's claim finds.
var coldOrderItem, coldMarkerItem = func() ([]byte, []byte) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	item, err := dynamo.EncodeOrder(&order.Order{ID: coldOrderID, CustomerID: "c-1", Currency: "USD", Total: 1299,
		Status: order.StatusValidated, CorrelationID: "bench", CreatedAt: at, UpdatedAt: at, Version: 2,
		Lines: []order.Line{{SKU: "SKU-MUG-001", Quantity: 1, UnitPrice: 1299}}})
	if err != nil {
		panic(err)
	}
	o, err := dynamo.ItemJSON(item)
	if err != nil {
		panic(err)
	}
	m, err := dynamo.ItemJSON(dynamo.DoneMarkerItem(dynamo.NotifyMarkerPrefix, coldOrderID+":"+string(order.StatusConfirmed), at))
	if err != nil {
		panic(err)
	}
	return o, m
}()

// awsStub answers the two calls the cold-start requests make; anything else is a 400 and
// is counted as unexpected.
type awsStub struct {
	unexpected atomic.Int64
}

func (s *awsStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch r.Header.Get("X-Amz-Target") {
	case "DynamoDB_20120810.GetItem":
		fmt.Fprintf(w, `{"Item":%s}`, coldOrderItem)
	case "DynamoDB_20120810.PutItem":
		w.WriteHeader(http.StatusBadRequest)
		// The marker the claim's ReturnValuesOnConditionCheckFailure ALL_OLD asks for: done.
		fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed",`+
			`"Item":%s}`, coldMarkerItem)
	default:
		s.unexpected.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"not stubbed"}`)
	}
}

// median returns the median of ds (the mean of the middle two for an even count).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// hostBin is where the host-arch bootstrap of name is built (also used by the local stack).
func hostBin(dir, name string) string { return filepath.Join(dir, "host", name, "bootstrap") }

// buildHost builds hello and every function for this machine into dir/host/<name>/bootstrap.
func buildHost(ctx context.Context, root, dir string) error {
	if err := build(ctx, root, helloPkg, "linux", runtime.GOARCH, hostBin(dir, "hello")); err != nil {
		return err
	}
	for _, f := range Functions {
		if err := build(ctx, root, "./functions/"+f, "linux", runtime.GOARCH, hostBin(dir, f)); err != nil {
			return err
		}
	}
	return nil
}

// measureCold runs n cold starts of each function, interleaved with hello-world.
func measureCold(ctx context.Context, dir string, n int) ColdSection {
	c := ColdSection{Build: buildCommand("linux", runtime.GOARCH)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ColdSection{Skip: err.Error()}
	}
	stub := &awsStub{}
	srv := &http.Server{Handler: stub, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	host := lambdahost.New(lambdahost.Options{})
	defer host.Close()
	env := coldEnv("http://" + ln.Addr().String())
	for _, name := range append([]string{"hello"}, Functions...) {
		if err := host.Register(lambdahost.Function{Name: name, Path: hostBin(dir, name), Env: env, Timeout: 10 * time.Second,
			Concurrency: 1, Stdout: io.Discard, Stderr: io.Discard}); err != nil {
			return ColdSection{Skip: err.Error()}
		}
	}
	start := func(name string) (time.Duration, error) {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		return host.ColdStart(cctx, name, []byte(coldCases[name].payload))
	}
	fn := make(map[string][]time.Duration)
	hello := make(map[string][]time.Duration)
	// A warm-up round puts the binaries in the page cache before anything is kept.
	for _, name := range append([]string{"hello"}, Functions...) {
		if _, err := start(name); err != nil {
			return ColdSection{Skip: fmt.Sprintf("cold start of %s: %v", name, err)}
		}
	}
	for range n {
		for _, name := range Functions {
			d, err := start(name)
			if err != nil {
				return ColdSection{Skip: fmt.Sprintf("cold start of %s: %v", name, err)}
			}
			h, err := start("hello")
			if err != nil {
				return ColdSection{Skip: fmt.Sprintf("cold start of hello: %v", err)}
			}
			fn[name] = append(fn[name], d)
			hello[name] = append(hello[name], h)
		}
	}
	if u := stub.unexpected.Load(); u > 0 {
		return ColdSection{Skip: fmt.Sprintf("%d unexpected AWS calls reached the stub; the first requests are not the cheap ones documented", u)}
	}
	for _, name := range Functions {
		it, err := initTrace(ctx, hostBin(dir, name), initRuns)
		if err != nil {
			return ColdSection{Skip: err.Error()}
		}
		c.Rows = append(c.Rows, ColdRow{Name: name, N: len(fn[name]), Median: median(fn[name]), HelloMedian: median(hello[name]),
			Payload: strings.ReplaceAll(coldCases[name].why, "|", "/"), Init: it})
	}
	if c.HelloInit, err = initTrace(ctx, hostBin(dir, "hello"), initRuns); err != nil {
		return ColdSection{Skip: err.Error()}
	}
	return c
}

// initRuns is how many starts initTrace takes the fastest of.
const initRuns = 21

// initTrace starts the binary at path n times with GODEBUG=inittrace=1 and no Lambda
// Runtime API (it exits once main finds none) and returns its package initialization.
// It returns an error when a start prints no trace.
func initTrace(ctx context.Context, path string, n int) (InitTrace, error) {
	var best InitTrace
	for i := range n {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cmd := exec.CommandContext(cctx, path)
		cmd.Env = []string{"GODEBUG=inittrace=1", "AWS_REGION=us-east-1", "TZ=:UTC"}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		_ = cmd.Run() // it fails without a Runtime API; the trace is printed before main
		cancel()
		t, ok := ParseInitTrace(stderr.String())
		if !ok {
			return InitTrace{}, fmt.Errorf("init trace of %s: no trace in %q", path, lastLines(stderr.String(), 3))
		}
		if i == 0 || t.Clock < best.Clock {
			best = t
		}
	}
	return best, nil
}

// initLine is one line of GODEBUG=inittrace=1:
// "init <package> @<start> ms, <clock> ms clock, <bytes> bytes, <allocs> allocs".
var initLine = regexp.MustCompile(`(?m)^init \S+ @\S+ ms, ([0-9.]+) ms clock, (\d+) bytes, (\d+) allocs$`)

// ParseInitTrace sums the GODEBUG=inittrace=1 lines of out; ok is false when there are none.
func ParseInitTrace(out string) (t InitTrace, ok bool) {
	for _, m := range initLine.FindAllStringSubmatch(out, -1) {
		clock, _ := strconv.ParseFloat(m[1], 64)
		b, _ := strconv.ParseInt(m[2], 10, 64)
		a, _ := strconv.ParseInt(m[3], 10, 64)
		t.Clock += time.Duration(clock * float64(time.Millisecond))
		t.Bytes += b
		t.Allocs += a
		ok = true
	}
	return t, ok
}
