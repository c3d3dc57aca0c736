package main

import (
	"github.com/orderflow/orderflow/tools/emulator"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/capacity"
)

// fullReport is a report with every section measured: sizes and cold starts that meet
// their goals, a hot path and a load run that do not.
func fullReport() *Report {
	return &Report{
		Date:    time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC),
		Machine: Machine{NProc: 2, CPU: "Test CPU", GoVersion: "go1.26.0", OS: "linux/amd64", LoadBefore: "0.1 0.2 0.3", LoadAfter: "1.0 0.5 0.3"},
		Elapsed: 90 * time.Second,
		Sizes:   SizeSection{Command: "go build", Hello: 5 << 20, Rows: []SizeRow{{"ingest", 7 << 20}, {"process", 6 << 20}}},
		Cold: ColdSection{Build: "go build", Rows: []ColdRow{
			{Name: "ingest", N: 21, Median: 3 * time.Millisecond, HelloMedian: 2500 * time.Microsecond, Payload: "GET 404",
				Init: InitTrace{Clock: 1500 * time.Microsecond, Bytes: 160 << 10, Allocs: 1000}}},
			HelloInit: InitTrace{Clock: 500 * time.Microsecond, Bytes: 20 << 10}},
		Hot: HotSection{Command: "go test -bench", Rows: []HotRow{
			{Name: "notify", Input: "event", Hot: BenchStat{NsPerOp: 4000, BytesPerOp: 100, AllocsPerOp: 10}, Decode: BenchStat{NsPerOp: 1000, BytesPerOp: 50, AllocsPerOp: 5}}}},
		Calls: CallSection{Orders: 20,
			Calls:    []CallRow{{"dynamodb:PutItem (functions)", 3}, {"lambda:Invoke (state machine)", 2}},
			Plumbing: []CallRow{{"sqs:ReceiveMessage (local stack plumbing)", 4.5}},
			Minimum:  []MinRow{{Service: "dynamodb", Measured: 3, Minimum: 3, Why: "three writes"}, {Service: "lambda", Measured: 2, Minimum: 2, Why: "two tasks"}}},
		Load: LoadSection{Command: "orderflow load", Orders: 100, Concurrency: 20, Rate: 4, P50: time.Second, P95: 2 * time.Second, P99: 3 * time.Second,
			Output: "orders 100 in 25s (4.0 orders/s)", SVG: "latency.svg", Raw: RawRate{Workers: 8, Seconds: 3, GetItem: 200, SendMessage: 50}, CallsPerOrder: 5,
			CallLatency: 40 * time.Millisecond},
		Cost: CostSection{Prices: capacity.Prices{Date: "2026-01-01", Source: "test"}, Advice: "Use fewer states.",
			Lines:       []capacity.CostLine{{Service: "Step Functions", Item: "transitions", Quantity: 6, Unit: "transitions", PerMillion: 150}, {Service: "SQS", Item: "requests", Quantity: 3, Unit: "requests", PerMillion: 1.2}},
			Assumptions: []string{"an assumption"}},
	}
}

func TestWriteMarkdown(t *testing.T) {
	skipped := &Report{Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)}
	for _, s := range []*string{&skipped.Sizes.Skip, &skipped.Cold.Skip, &skipped.Hot.Skip, &skipped.Calls.Skip, &skipped.Load.Skip, &skipped.Cost.Skip} {
		*s = "no moto here"
	}
	tests := []struct {
		name    string
		report  *Report
		want    []string
		notWant []string
	}{
		{"every section measured", func() *Report {
			r := fullReport()
			r.Soak = "soak: 10000 orders; moto 0.4 GB at the end\n"
			r.FlashSale = "| conditional | **2.50** |\n"
			return r
		}(), []string{
			"## 7. Soak", "soak: 10000 orders; moto 0.4 GB at the end", flashHeading, "| conditional | **2.50** |",
			"2026-01-02 03:04 UTC", "2 CPUs (nproc), Test CPU, go1.26.0", "at the start: 0.1 0.2 0.3; at the end: 1.0 0.5 0.3",
			"| ingest | 7340032 | 7.00 MiB | 1.40× | met |",
			"| ingest | 21 | 3.00 ms | 2.50 ms | 1.20× | met | 1.50 ms | 160 KB | GET 404 |", "hello-world: 0.50 ms, 20 KB.",
			"| notify | event | 4000 | 100 | 10 | 1000 | 50 | 5 | 4.00× | NOT met |",
			"| **total** | **5.00** | **5.00** | |",
			"sqs:ReceiveMessage (local stack plumbing) | 4.50",
			"50/50 mix 80 calls/s", "80 ÷ 5.00 = **16.0 orders/s**", "| ≥ 80% of the emulator-bound limit | 25% | NOT met |",
			"| p99 ≤ 2 s at concurrency 20 | 3.00 s | NOT met |", "![latency histogram](latency.svg)",
			"| **total** | | | | **151.20** |", "Largest line: **Step Functions transitions, $150.00 of $151.20**. Use fewer states.",
			"- an assumption",
			"| 4. AWS calls per order at the design minimum | 5.00 measured, 5.00 minimum | met |",
		}, []string{"not measured"}},
		{"a service above its minimum is named", func() *Report {
			r := fullReport()
			r.Calls.Minimum = append(r.Calls.Minimum, MinRow{Service: "s3", Measured: 0.2, Minimum: 0.02, Amortized: true},
				MinRow{Service: "sns", Measured: 2, Minimum: 1})
			return r
		}(), []string{"above: sns 2.00 > 1.00 | NOT met |", "(s3 batch-amortized)"}, []string{"s3 0.20"}},
		{"every section skipped says why", skipped, []string{
			"## 1. Binary size", "## 6. Cost per million", "not measured: no moto here",
			"| 5b. p99 ≤ 2 s at concurrency 20 | no moto here | not measured |",
		}, []string{"| met |", "NOT met"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.report.WriteMarkdown(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("report lacks %q\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("report contains %q", w)
				}
			}
			if n := strings.Count(out, "not measured: "); tt.report == skipped && n != 8 {
				t.Errorf("%d sections say not measured, want 8", n)
			}
		})
	}
}

func TestParseLoad(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    LoadSection
		wantErr bool
	}{
		{"summary", "orders      100 in 27.2s (3.7 orders/s)\nlatency     p50 5.52s  p95 6.72s  p99 7.24s  (min 2.83s, mean 5.2s, max 7.31s, n=100)\n",
			LoadSection{Orders: 100, Rate: 3.7, P50: 5520 * time.Millisecond, P95: 6720 * time.Millisecond, P99: 7240 * time.Millisecond}, false},
		{"sub-second latencies", "orders      10 in 1s (10.0 orders/s)\nlatency     p50 450ms  p95 900ms  p99 1.2s  (n=10)\n",
			LoadSection{Orders: 10, Rate: 10, P50: 450 * time.Millisecond, P95: 900 * time.Millisecond, P99: 1200 * time.Millisecond}, false},
		{"no terminal orders", "orders      10 in 1s (10.0 orders/s)\nlatency     no orders reached a terminal status\n", LoadSection{}, true},
		{"empty", "", LoadSection{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLoad(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("ParseLoad = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkHotpathNotify-2   	   19527	     12000 ns/op	    4197 B/op	      66 allocs/op
BenchmarkHotpathNotify-2   	   19527	     14000 ns/op	    4199 B/op	      66 allocs/op
BenchmarkHotpathNotify-2   	   19527	     13000 ns/op	    4198 B/op	      66 allocs/op
BenchmarkDecodeNotify      	   30050	      8090 ns/op	    1887 B/op	      32 allocs/op
PASS
`
	got := ParseBench(out)
	tests := []struct {
		name string
		want BenchStat
	}{
		{"BenchmarkHotpathNotify", BenchStat{NsPerOp: 13000, BytesPerOp: 4198, AllocsPerOp: 66}},
		{"BenchmarkDecodeNotify", BenchStat{NsPerOp: 8090, BytesPerOp: 1887, AllocsPerOp: 32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got[tt.name] != tt.want {
				t.Errorf("%s = %+v, want %+v (median of the runs)", tt.name, got[tt.name], tt.want)
			}
		})
	}
}

func TestUnitsAndIdentify(t *testing.T) {
	tests := []struct {
		name, service, op, body string
		want                    CallStat
	}{
		{"consistent GetItem", "dynamodb", "GetItem", `{"ConsistentRead":true}`, CallStat{N: 1, RRU: 1}},
		{"eventual GetItem", "dynamodb", "GetItem", `{}`, CallStat{N: 1, RRU: 0.5}},
		{"transaction of 3", "dynamodb", "TransactWriteItems", `{"TransactItems":[{},{},{}]}`, CallStat{N: 1, WRU: 6}},
		{"batch get of 2 consistent", "dynamodb", "BatchGetItem", `{"RequestItems":{"t":{"Keys":[{},{}],"ConsistentRead":true}}}`, CallStat{N: 1, RRU: 2}},
		{"put events of 2", "events", "PutEvents", `{"Entries":[{},{}]}`, CallStat{N: 1, Entries: 2}},
		{"kinesis put record", "kinesis", "PutRecord", `{}`, CallStat{N: 1, Entries: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Units(tt.service, tt.op, []byte(tt.body)); got != tt.want {
				t.Errorf("Units = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Section 8 is the plan of each scale rate, written by capacity's own writers, and says
// how section 4's measured calls compare with the minimum the plan assumes.
func TestScaleSection(t *testing.T) {
	calls := CallSection{Calls: []CallRow{{Call: "dynamodb:GetItem (functions)", PerOrder: 12}}, Minimum: []MinRow{{Service: "dynamodb", Measured: 12, Minimum: 11}}}
	r := &Report{Scale: scaleSection("../..", calls)}
	if r.Scale.Skip != "" {
		t.Fatal(r.Scale.Skip)
	}
	if len(r.Scale.Plans) != len(capacity.ScaleRates) {
		t.Fatalf("%d plans, want one per rate %v", len(r.Scale.Plans), capacity.ScaleRates)
	}
	var b strings.Builder
	r.writeScale(&b)
	var summary strings.Builder
	if err := capacity.WriteSummary(&summary, r.Scale.Plans); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{scaleHeading, summary.String(), "### 10000 orders/s", "section 4 measured 12.00", "minimum of 11.00"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("section 8 lacks %q:\n%s", want, b.String())
		}
	}
	if r := (&Report{Scale: scaleSection("nowhere", calls)}); r.Scale.Skip == "" {
		t.Error("no template, yet a plan")
	}
}

// The bench names calls as the edge does, and counts an unsigned call to a function's
// path as the state machine's Invoke.
func TestIdentify(t *testing.T) {
	tests := []struct {
		name, path, auth, target string
		service, op              string
	}{
		{"unsigned invoke", "/2015-03-31/functions/f/invocations", "", "", "lambda", "Invoke"},
		{"signed json call", "/", "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x",
			"DynamoDB_20120810.GetItem", "dynamodb", "GetItem"},
		{"unsigned other", "/", "", "", "unknown", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tt.path, nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if tt.target != "" {
				r.Header.Set("X-Amz-Target", tt.target)
			}
			if service, op := Identify(r); service != tt.service || op != tt.op {
				t.Errorf("Identify = %s, %s; want %s, %s", service, op, tt.service, tt.op)
			}
		})
	}
}

func TestParseInitTrace(t *testing.T) {
	out := "init internal/bytealg @0 ms, 0 ms clock, 0 bytes, 0 allocs\n" +
		"init runtime @0.31 ms, 0.16 ms clock, 0 bytes, 0 allocs\n" +
		"some log line\n" +
		"init github.com/aws/aws-sdk-go-v2/service/dynamodb/internal/endpoints @5.1 ms, 0.947 ms clock, 82752 bytes, 610 allocs\n" +
		"init main @6 ms, 0.004 ms clock, 16 bytes, 1 allocs\n"
	got, ok := ParseInitTrace(out)
	want := InitTrace{Clock: 1111 * time.Microsecond, Bytes: 82768, Allocs: 611}
	if !ok || got != want {
		t.Fatalf("ParseInitTrace = %+v, %v; want %+v, true", got, ok, want)
	}
	if _, ok := ParseInitTrace("expected AWS Lambda environment variables\n"); ok {
		t.Fatal("ParseInitTrace of output without a trace = ok")
	}
}

func TestWriteEmulatorProfile(t *testing.T) {
	var b strings.Builder
	writeEmulatorProfile(&b, &emulator.Profile{ProcessCPU: 20, RequestCPU: 15, Ops: []emulator.ProfileOp{
		{Op: "dynamodb:TransactWriteItems", Count: 200, WallS: 4, CPUS: 1},
		{Op: "sqs:ReceiveMessage", Count: 50, WallS: 30, CPUS: 0.5}}}, 100)
	out := b.String()
	for _, want := range []string{"20.0 s of CPU, **200 ms per order**; 75% serving requests, 25% outside",
		"| dynamodb:TransactWriteItems | 2.00 | 5.0 | 20.0 | 5.0% |", "| sqs:ReceiveMessage | 0.50 | 10.0 | 600.0 | 2.5% |",
		"| outside requests | | | | 25.0% |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	writeEmulatorProfile(&b, nil, 100)
	if b.Len() != 0 {
		t.Errorf("no profile wrote %q", b.String())
	}
}
