package cli

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/queue"
	"github.com/orderflow/orderflow/tools/awstest"
)

func noEnv(string) string { return "" }

func testEnv(vars map[string]string) *env {
	return &env{stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string { return vars[k] }}
}

func TestParseCreate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    createOptions
		wantAPI string
		wantErr bool
	}{
		{
			name:    "flags and repeated skus",
			args:    []string{"--customer", "c1", "--sku", "A:2", "--sku", "B", "--token", "tok_decline", "--idempotency-key", "k1"},
			want:    createOptions{Customer: "c1", Currency: "USD", SKUs: skuFlag{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 1}}, Token: "tok_decline", IdempotencyKey: "k1", WaitTimeout: time.Minute},
			wantAPI: DefaultAPI,
		},
		{
			name:    "api from env, overridden by flag",
			args:    []string{"--file", "o.json", "--api", "http://x:1"},
			env:     map[string]string{"ORDERFLOW_API": "http://env:2"},
			want:    createOptions{Currency: "USD", Token: "tok_visa", File: "o.json", WaitTimeout: time.Minute},
			wantAPI: "http://x:1",
		},
		{
			name:    "api from env",
			args:    []string{"--file", "o.json", "--wait"},
			env:     map[string]string{"ORDERFLOW_API": "http://env:2"},
			want:    createOptions{Currency: "USD", Token: "tok_visa", File: "o.json", Wait: true, WaitTimeout: time.Minute},
			wantAPI: "http://env:2",
		},
		{name: "bad quantity", args: []string{"--sku", "A:0"}, wantErr: true},
		{name: "empty sku", args: []string{"--sku", ":3"}, wantErr: true},
		{name: "positional argument", args: []string{"extra"}, wantErr: true},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sf, o, err := testEnv(tt.env).parseCreate(tt.args)
			if tt.wantErr {
				if !errors.Is(err, errUsage) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*o, tt.want) {
				t.Errorf("options = %+v, want %+v", *o, tt.want)
			}
			if sf.API != tt.wantAPI {
				t.Errorf("api = %q, want %q", sf.API, tt.wantAPI)
			}
		})
	}
}

func TestCreateBody(t *testing.T) {
	tests := []struct {
		name    string
		opts    createOptions
		want    string
		wantErr bool
	}{
		{name: "from flags", opts: createOptions{Customer: "c1", Currency: "EUR", SKUs: skuFlag{{SKU: "A", Quantity: 2}}, Token: "t"},
			want: `{"customerId":"c1","currency":"EUR","lines":[{"sku":"A","quantity":2}],"paymentToken":"t"}`},
		{name: "from file", opts: createOptions{File: "f.json"}, want: `{"file":true}`},
		{name: "file and flags", opts: createOptions{File: "f.json", Customer: "c1"}, wantErr: true},
		{name: "no sku", opts: createOptions{Customer: "c1"}, wantErr: true},
	}
	read := func(string) ([]byte, error) { return []byte(`{"file":true}`), nil }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.opts.body(read)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if string(b) != tt.want {
				t.Errorf("body = %s, want %s", b, tt.want)
			}
		})
	}
}

func TestParseStackNames(t *testing.T) {
	tests := []struct {
		name          string
		args          []string
		env           map[string]string
		wantTable     string
		wantBus       string
		wantEndpoint  string
		wantConfigErr bool
	}{
		{name: "defaults", wantTable: "inventory-dev", wantBus: "orders-dev", wantEndpoint: DefaultEndpoint},
		{name: "stage flag", args: []string{"--stage", "prod"}, wantTable: "inventory-prod", wantBus: "orders-prod", wantEndpoint: DefaultEndpoint},
		{name: "explicit names beat the stage", args: []string{"--stage", "prod", "--inventory-table", "t", "--bus", "b"}, wantTable: "t", wantBus: "b", wantEndpoint: DefaultEndpoint},
		{name: "env names", env: map[string]string{"INVENTORY_TABLE": "et", "EVENT_BUS_NAME": "eb", "ORDERFLOW_STAGE": "x", "AWS_ENDPOINT_URL": "http://e:9"},
			wantTable: "et", wantBus: "eb", wantEndpoint: "http://e:9"},
		{name: "real aws needs credentials", args: []string{"--aws-endpoint", "aws"}, wantTable: "inventory-dev", wantBus: "orders-dev", wantConfigErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEnv(tt.env)
			sf := &stackFlags{}
			fs := e.newFlagSet("test", sf)
			if _, err := parse(fs, tt.args); err != nil {
				t.Fatal(err)
			}
			if got := sf.inventoryTable(); got != tt.wantTable {
				t.Errorf("table = %q, want %q", got, tt.wantTable)
			}
			if got := sf.bus(); got != tt.wantBus {
				t.Errorf("bus = %q, want %q", got, tt.wantBus)
			}
			cfg, err := e.awsConfig(sf)
			if (err != nil) != tt.wantConfigErr {
				t.Fatalf("awsConfig err = %v, want error %v", err, tt.wantConfigErr)
			}
			if err == nil {
				if got := *cfg.BaseEndpoint; got != tt.wantEndpoint {
					t.Errorf("endpoint = %q, want %q", got, tt.wantEndpoint)
				}
				if cfg.Region != DefaultRegion {
					t.Errorf("region = %q", cfg.Region)
				}
			}
		})
	}
}

func TestParseOthers(t *testing.T) {
	e := testEnv(nil)
	t.Run("stock set with price, flags after arguments", func(t *testing.T) {
		_, o, err := e.parseStockSet([]string{"SKU-1", "7", "--price", "1234", "--currency", "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		if o.Item.SKU != "SKU-1" || o.Item.Stock != 7 || o.Item.Price != 1234 || o.Item.Currency != "EUR" || !o.PriceSet {
			t.Errorf("got %+v", o)
		}
	})
	t.Run("stock set without price keeps it", func(t *testing.T) {
		_, o, err := e.parseStockSet([]string{"SKU-1", "7"})
		if err != nil || o.PriceSet {
			t.Fatalf("got %+v, %v", o, err)
		}
	})
	for _, args := range [][]string{{"SKU-1"}, {"SKU-1", "-1"}, {"SKU-1", "x"}, {"SKU-1", "1", "--price", "-5"}} {
		t.Run("stock set rejects "+strings.Join(args, " "), func(t *testing.T) {
			if _, _, err := e.parseStockSet(args); !errors.Is(err, errUsage) {
				t.Errorf("err = %v, want usage error", err)
			}
		})
	}
	t.Run("load", func(t *testing.T) {
		_, o, err := e.parseLoad([]string{"--orders", "50", "--concurrency", "4", "--seed", "9", "--mix", "valid=3,declined=1", "--histogram", "h.svg"})
		if err != nil {
			t.Fatal(err)
		}
		want := []weightedKind{{kindValid, 3}, {kindDeclined, 1}}
		if o.Orders != 50 || o.Concurrency != 4 || o.Seed != 9 || !reflect.DeepEqual(o.Mix, want) || o.Histogram != "h.svg" {
			t.Errorf("got %+v", o)
		}
	})
	for _, args := range [][]string{{"--orders", "0"}, {"--concurrency", "0"}, {"--mix", "nope"}, {"--mix", "valid=0"}, {"--mix", "weird=1"}} {
		t.Run("load rejects "+strings.Join(args, " "), func(t *testing.T) {
			if _, _, err := e.parseLoad(args); !errors.Is(err, errUsage) {
				t.Errorf("err = %v, want usage error", err)
			}
		})
	}
	t.Run("dlq redrive", func(t *testing.T) {
		_, o, err := e.parseDLQRedrive([]string{"q-dlq", "--to", "q"})
		if err != nil || o.Queue != "q-dlq" || o.To != "q" {
			t.Fatalf("got %+v, %v", o, err)
		}
	})
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{name: "no command", args: nil, want: ExitUsage},
		{name: "unknown command", args: []string{"frobnicate"}, want: ExitUsage},
		{name: "unknown subcommand", args: []string{"orders", "delete"}, want: ExitUsage},
		{name: "missing argument", args: []string{"orders", "get"}, want: ExitUsage},
		{name: "help", args: []string{"help"}, want: ExitOK},
		{name: "flag help", args: []string{"stock", "get", "-h"}, want: ExitOK},
		{name: "bad api url", args: []string{"orders", "get", "x", "--api", "nope"}, want: ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(context.Background(), tt.args, &out, &errOut, noEnv); got != tt.want {
				t.Errorf("exit = %d, want %d; stderr: %s", got, tt.want, errOut.String())
			}
		})
	}
}

func TestPlanOrdersDeterministic(t *testing.T) {
	mix := namedMixes["default"]
	a, b := planOrders(500, 42, mix), planOrders(500, 42, mix)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different orders")
	}
	if reflect.DeepEqual(a, planOrders(500, 43, mix)) {
		t.Fatal("another seed gave the same orders")
	}
	if prefix := planOrders(100, 42, mix); !reflect.DeepEqual(prefix, a[:100]) {
		t.Error("a shorter run is not a prefix of a longer one with the same seed")
	}
}

func TestPlanOrdersKinds(t *testing.T) {
	const n = 4000
	counts := map[orderKind]int{}
	for _, p := range planOrders(n, 7, namedMixes["default"]) {
		counts[p.Kind]++
		req, err := order.DecodeRequest(p.Body)
		if p.Kind == kindInvalid {
			if err == nil {
				t.Errorf("invalid order %d decodes: %s", p.Index, p.Body)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s order %d does not decode: %v: %s", p.Kind, p.Index, err, p.Body)
		}
		if _, err := req.Normalize(); err != nil {
			t.Fatalf("%s order %d is not valid: %v", p.Kind, p.Index, err)
		}
	}
	for _, w := range namedMixes["default"] {
		want := float64(n) * float64(w.Weight) / 100
		if got := float64(counts[w.Kind]); got < want*0.75 || got > want*1.25 {
			t.Errorf("%s: %v orders, want about %v", w.Kind, got, want)
		}
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		values []time.Duration
		p      float64
		want   time.Duration
	}{
		{name: "empty", values: nil, p: 50, want: 0},
		{name: "one value", values: ms(7), p: 99, want: 7 * time.Millisecond},
		{name: "median of odd", values: ms(1, 2, 3, 4, 5), p: 50, want: 3 * time.Millisecond},
		{name: "median of even is the lower", values: ms(1, 2, 3, 4), p: 50, want: 2 * time.Millisecond},
		{name: "p95 of 1..100", values: ms(hundred...), p: 95, want: 95 * time.Millisecond},
		{name: "p99 of 1..100", values: ms(hundred...), p: 99, want: 99 * time.Millisecond},
		{name: "p100 is the max", values: ms(hundred...), p: 100, want: 100 * time.Millisecond},
		{name: "p99 of ten is the max", values: ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), p: 99, want: 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.values, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
	t.Run("summarize sorts", func(t *testing.T) {
		s := Summarize(ms(5, 1, 3, 2, 4))
		if s.Min != time.Millisecond || s.Max != 5*time.Millisecond || s.P50 != 3*time.Millisecond || s.Mean != 3*time.Millisecond {
			t.Errorf("got %+v", s)
		}
	})
}

// checkXML parses doc fully and returns how many elements of each name it holds.
func checkXML(t *testing.T, doc []byte) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	counts := map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return counts
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
			if counts["svg"] == 1 && se.Name.Local == "svg" && se.Name.Space != "http://www.w3.org/2000/svg" {
				t.Errorf("svg namespace = %q", se.Name.Space)
			}
		}
	}
}

func TestHistogramSVG(t *testing.T) {
	spread := make([]time.Duration, 0, 300)
	for i := range 300 {
		spread = append(spread, time.Duration(i*i)*time.Microsecond)
	}
	tests := []struct {
		name      string
		title     string
		values    []time.Duration
		wantRects int // bars plus the background
	}{
		{name: "no values", title: "empty", values: nil, wantRects: 1},
		{name: "one value", title: "one", values: []time.Duration{time.Second}, wantRects: 2},
		{name: "spread", title: `load <&> "quotes"`, values: spread, wantRects: 1 + 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeHistogramSVG(&b, tt.title, tt.values); err != nil {
				t.Fatal(err)
			}
			counts := checkXML(t, b.Bytes())
			if counts["svg"] != 1 {
				t.Errorf("svg elements = %d", counts["svg"])
			}
			if counts["rect"] > tt.wantRects || counts["rect"] < min(tt.wantRects, 2) {
				t.Errorf("rects = %d, want up to %d", counts["rect"], tt.wantRects)
			}
			if len(tt.values) > 0 && !strings.Contains(b.String(), ">p99 ") {
				t.Error("no p99 marker")
			}
		})
	}
	t.Run("every value in a bin", func(t *testing.T) {
		h := NewHistogram(spread, 40)
		n := 0
		for _, c := range h.Counts {
			n += c
		}
		if n != len(spread) {
			t.Errorf("binned %d of %d", n, len(spread))
		}
	})
}

func TestRenderBar(t *testing.T) {
	tests := []struct {
		name              string
		done, total, cols int
		rate              float64
		want              string
	}{
		{name: "start", done: 0, total: 1000, cols: 10, rate: 0, want: "[----------] 0/1000 0.0 orders/s"},
		{name: "half", done: 512, total: 1000, cols: 10, rate: 12.34, want: "[#####-----] 512/1000 12.3 orders/s"},
		{name: "done", done: 1000, total: 1000, cols: 10, rate: 99.96, want: "[##########] 1000/1000 100.0 orders/s"},
		{name: "zero total", done: 0, total: 0, cols: 4, rate: 0, want: "[----] 0/0 0.0 orders/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderBar(tt.done, tt.total, tt.cols, tt.rate); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProgress(t *testing.T) {
	t.Run("silent when short", func(t *testing.T) {
		var b bytes.Buffer
		p := newProgress(&b, 10)
		p.Delay = time.Hour
		p.Start()
		p.Add(10)
		p.Stop()
		if b.Len() != 0 {
			t.Errorf("printed %q", b.String())
		}
	})
	t.Run("plain lines off a terminal", func(t *testing.T) {
		var b awstest.SyncBuffer
		p := newProgress(&b, 4)
		if !p.plain {
			t.Fatal("a buffer is not a terminal")
		}
		p.Delay, p.Every = 0, time.Millisecond
		p.Start()
		p.Add(4)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(b.String(), "4/4") && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		p.Stop()
		if out := b.String(); strings.Contains(out, "\r") || !strings.Contains(out, "] 4/4 ") || !strings.HasSuffix(out, "orders/s\n") {
			t.Errorf("output %q", out)
		}
	})
	t.Run("drawn when long", func(t *testing.T) {
		var b awstest.SyncBuffer
		p := newProgress(&b, 10)
		p.Delay, p.Every, p.plain = 0, time.Millisecond, false
		p.Start()
		p.Add(5)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(b.String(), "5/10") && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		p.Add(5)
		p.Stop()
		out := b.String()
		if !strings.Contains(out, "\r[###############---------------] 5/10 ") || !strings.Contains(out, "] 10/10 ") || !strings.HasSuffix(out, "orders/s \n") {
			t.Errorf("output %q", out)
		}
	})
}

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		minor    int64
		currency string
		want     string
	}{
		{1234, "USD", "12.34 USD"},
		{-250, "USD", "-2.50 USD"},
		{1234, "JPY", "1234 JPY"},
		{100, "", "1.00"},
		{math.MinInt64, "USD", "-92233720368547758.08 USD"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatMoney(tt.minor, tt.currency); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFailureReason(t *testing.T) {
	tests := []struct {
		name string
		msg  queue.Message
		want string
	}{
		{
			name: "eventbridge dlq",
			msg:  queue.Message{Body: `{"detail":{}}`, Attributes: map[string]string{"ERROR_CODE": "SDK_CLIENT_ERROR", "ERROR_MESSAGE": "Unable to invoke"}},
			want: "eventbridge SDK_CLIENT_ERROR: Unable to invoke",
		},
		{
			name: "lambda async on-failure",
			msg: queue.Message{Body: `{"version":"1.0","requestContext":{"functionArn":"arn:aws:lambda:us-east-1:1:function:orderflow-dev-notify","condition":"RetriesExhausted","approximateInvokeCount":3},
				"requestPayload":{},"responsePayload":{"errorType":"TopicError","errorMessage":"sns down"}}`},
			want: "lambda orderflow-dev-notify RetriesExhausted after 3 invokes: TopicError: sns down",
		},
		{
			name: "kinesis on-failure",
			msg: queue.Message{Body: `{"requestContext":{"functionArn":"arn:aws:lambda:us-east-1:1:function:an","condition":"RetryAttemptsExhausted","approximateInvokeCount":6},
				"KinesisBatchInfo":{"shardId":"shardId-000","startSequenceNumber":"1","endSequenceNumber":"9","batchSize":2}}`},
			want: "lambda an RetryAttemptsExhausted after 6 invokes: kinesis shardId-000 seq 1..9 (2 records)",
		},
		{name: "redrive dlq", msg: queue.Message{Body: "{\"command\":\n \"reserve\"}"}, want: `body {"command": "reserve"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failureReason(tt.msg); got != tt.want {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestOfStage(t *testing.T) {
	tests := []struct {
		name, stage string
		want        bool
	}{
		{"orders-dev-event-targets-dlq", "dev", true},
		{"notify-dlq-dev", "dev", true},
		{"notify-dlq-prod", "dev", false},
		{"devices-dlq", "dev", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ofStage(tt.name, tt.stage); got != tt.want {
				t.Errorf("got %v", got)
			}
		})
	}
}

func TestParseWatchLine(t *testing.T) {
	body := `{"version":"0","id":"x","detail-type":"Order Cancelled","source":"myapp.orders","time":"2025-01-02T03:04:05Z",
		"detail":{"metadata":{"eventId":"e","schemaVersion":"1.0","correlationId":"c","occurredAt":"2025-01-02T03:04:05.678Z"},
		"data":{"orderId":"0190-abc","customerId":"c1","status":"CANCELLED","currency":"USD","total":1234,"lines":[],"failureReason":"OUT_OF_STOCK"}}}`
	l := parseWatchLine(body)
	for _, want := range []string{"Order Cancelled", "0190-abc", "CANCELLED", "12.34 USD", "OUT_OF_STOCK", time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC).Local().Format("15:04:05.678")} {
		if !strings.Contains(l.text, want) {
			t.Errorf("line %q lacks %q", l.text, want)
		}
	}
	if got := parseWatchLine("not json").text; !strings.HasPrefix(got, "?? not json") {
		t.Errorf("garbage line = %q", got)
	}
}

func TestIsDLQ(t *testing.T) {
	tests := []struct {
		name    string
		sources int
		want    bool
	}{
		{"orders-dev-event-targets-dlq", 0, true},
		{"notify-dlq-dev", 0, true},
		{"inventory-commands-dev", 0, false},
		{"dlqlist-test-1", 0, false},
		{"whatever", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &queueInfo{Name: tt.name, Sources: make([]*queueInfo, tt.sources)}
			if got := q.isDLQ(); got != tt.want {
				t.Errorf("got %v", got)
			}
		})
	}
}
