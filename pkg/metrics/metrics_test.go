package metrics_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/pkg/metrics"
)

var ts = time.Date(2026, 3, 1, 12, 30, 0, 123_000_000, time.UTC)

type directive struct {
	Namespace  string
	Dimensions [][]string
	Metrics    []struct{ Name, Unit string }
}

type record struct {
	raw     map[string]any
	ts      int64
	metrics directive
}

var validUnits = map[string]bool{}

func init() {
	for _, u := range []metrics.Unit{metrics.Seconds, metrics.Microseconds, metrics.Milliseconds, metrics.Bytes,
		metrics.Kilobytes, metrics.Megabytes, metrics.Gigabytes, metrics.Terabytes, metrics.Bits, metrics.Kilobits,
		metrics.Megabits, metrics.Gigabits, metrics.Terabits, metrics.Percent, metrics.Count, metrics.BytesPerSecond,
		metrics.KilobytesPerSecond, metrics.MegabytesPerSecond, metrics.GigabytesPerSecond, metrics.TerabytesPerSecond,
		metrics.BitsPerSecond, metrics.KilobitsPerSecond, metrics.MegabitsPerSecond, metrics.GigabitsPerSecond,
		metrics.TerabitsPerSecond, metrics.CountPerSecond, metrics.None} {
		validUnits[string(u)] = true
	}
}

// decode splits the output into lines, decodes each and checks it against the EMF
// specification's rules.
func decode(t *testing.T, out string) []record {
	t.Helper()
	if out == "" {
		return nil
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end with a newline: %q", out)
	}
	var recs []record
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("line is not a JSON object: %v\n%s", err, line)
		}
		var meta struct {
			AWS struct {
				Timestamp         *int64
				CloudWatchMetrics []directive
			} `json:"_aws"`
		}
		if err := json.Unmarshal([]byte(line), &meta); err != nil {
			t.Fatalf("_aws does not decode: %v\n%s", err, line)
		}
		if meta.AWS.Timestamp == nil {
			t.Fatalf("_aws.Timestamp missing: %s", line)
		}
		if len(meta.AWS.CloudWatchMetrics) != 1 {
			t.Fatalf("want exactly one metric directive, got %d: %s", len(meta.AWS.CloudWatchMetrics), line)
		}
		d := meta.AWS.CloudWatchMetrics[0]
		checkDirective(t, raw, d)
		recs = append(recs, record{raw: raw, ts: *meta.AWS.Timestamp, metrics: d})
	}
	return recs
}

func checkDirective(t *testing.T, raw map[string]any, d directive) {
	t.Helper()
	if d.Namespace == "" || len(d.Namespace) > 255 {
		t.Errorf("Namespace %q must be 1 to 255 characters", d.Namespace)
	}
	if len(d.Dimensions) == 0 {
		t.Error("Dimensions must hold at least one DimensionSet")
	}
	for _, set := range d.Dimensions {
		if len(set) > metrics.MaxDimensions {
			t.Errorf("DimensionSet has %d keys, at most %d", len(set), metrics.MaxDimensions)
		}
		for _, k := range set {
			if v, ok := raw[k].(string); !ok || v == "" {
				t.Errorf("dimension %q has no non-empty string member at the root (%v)", k, raw[k])
			}
		}
	}
	if len(d.Metrics) == 0 || len(d.Metrics) > metrics.MaxMetrics {
		t.Errorf("directive has %d metrics, want 1 to %d", len(d.Metrics), metrics.MaxMetrics)
	}
	seen := map[string]bool{}
	for _, m := range d.Metrics {
		if seen[m.Name] {
			t.Errorf("metric %q defined twice", m.Name)
		}
		seen[m.Name] = true
		if !validUnits[m.Unit] {
			t.Errorf("metric %q has unit %q, not a CloudWatch unit", m.Name, m.Unit)
		}
		switch v := raw[m.Name].(type) {
		case float64:
		case []any:
			if len(v) == 0 || len(v) > metrics.MaxValues {
				t.Errorf("metric %q has %d values, want 1 to %d", m.Name, len(v), metrics.MaxValues)
			}
			for _, x := range v {
				if _, ok := x.(float64); !ok {
					t.Errorf("metric %q has non-numeric value %v", m.Name, x)
				}
			}
		default:
			t.Errorf("metric %q member is %T (%v), want a number or an array of numbers", m.Name, raw[m.Name], raw[m.Name])
		}
	}
}

func values(v any) []float64 {
	switch x := v.(type) {
	case float64:
		return []float64{x}
	case []any:
		out := make([]float64, len(x))
		for i, e := range x {
			out[i], _ = e.(float64)
		}
		return out
	}
	return nil
}

func TestGolden(t *testing.T) {
	var buf bytes.Buffer
	r := metrics.New(&buf, "orderflow", map[string]string{"service": "ingest", "function": "ingest-fn"})
	r.SetTimestamp(ts)
	r.Put("OrdersAccepted", 1, metrics.Count)
	r.Put("OrderValue", 1999, metrics.None)
	r.Put("OrdersAccepted", 2, metrics.Count)
	r.Property("orderId", "01J0ABC")
	r.Property("correlationId", "c-1")
	if err := r.Flush(); err != nil {
		t.Fatalf("Flush() error = %v", err)
	}

	const want = `{"_aws":{"Timestamp":1772368200123,"CloudWatchMetrics":[{"Namespace":"orderflow",` +
		`"Dimensions":[["function","service"]],"Metrics":[{"Name":"OrdersAccepted","Unit":"Count"},` +
		`{"Name":"OrderValue","Unit":"None"}]}]},"function":"ingest-fn","service":"ingest",` +
		`"OrdersAccepted":[1,2],"OrderValue":1999,"orderId":"01J0ABC","correlationId":"c-1"}` + "\n"
	if buf.String() != want {
		t.Errorf("output\n%s\nwant\n%s", buf.String(), want)
	}

	recs := decode(t, buf.String())
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	rec := recs[0]
	if rec.ts != ts.UnixMilli() {
		t.Errorf("Timestamp = %d, want %d", rec.ts, ts.UnixMilli())
	}
	if rec.metrics.Namespace != "orderflow" {
		t.Errorf("Namespace = %q", rec.metrics.Namespace)
	}
	if got := fmt.Sprint(rec.metrics.Dimensions); got != "[[function service]]" {
		t.Errorf("Dimensions = %s", got)
	}
	checks := map[string]any{"service": "ingest", "function": "ingest-fn", "orderId": "01J0ABC", "correlationId": "c-1",
		"OrderValue": 1999.0}
	for k, want := range checks {
		if rec.raw[k] != want {
			t.Errorf("%s = %v, want %v", k, rec.raw[k], want)
		}
	}
	if got := values(rec.raw["OrdersAccepted"]); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("OrdersAccepted = %v, want [1 2]", got)
	}
	if len(rec.raw) != 7 {
		t.Errorf("record has %d members, want 7: %v", len(rec.raw), rec.raw)
	}
}

func TestFlush(t *testing.T) {
	service := map[string]string{"service": "orderflow"}
	tests := []struct {
		name    string
		dims    map[string]string
		w       io.Writer // nil: a buffer
		record  func(r *metrics.Recorder)
		wantErr []error
		check   func(t *testing.T, recs []record)
	}{
		{
			name:   "no metrics writes nothing",
			dims:   service,
			record: func(r *metrics.Recorder) { r.Property("orderId", "o-1") },
			check:  wantRecords(0),
		},
		{
			name: "no dimensions gives one empty DimensionSet",
			record: func(r *metrics.Recorder) {
				r.Put("Processed", 1, metrics.Count)
			},
			check: func(t *testing.T, recs []record) {
				wantRecords(1)(t, recs)
				if got := fmt.Sprint(recs[0].metrics.Dimensions); got != "[[]]" {
					t.Errorf("Dimensions = %s, want [[]]", got)
				}
			},
		},
		{
			name: "150 metrics split into 100 and 50",
			dims: service,
			record: func(r *metrics.Recorder) {
				r.Property("orderId", "o-1")
				for i := range 150 {
					r.Put(fmt.Sprintf("m%03d", i), float64(i), metrics.Count)
				}
			},
			check: func(t *testing.T, recs []record) {
				wantRecords(2)(t, recs)
				if len(recs[0].metrics.Metrics) != 100 || len(recs[1].metrics.Metrics) != 50 {
					t.Errorf("metrics per record = %d, %d; want 100, 50", len(recs[0].metrics.Metrics), len(recs[1].metrics.Metrics))
				}
				seen := map[string]bool{}
				for _, rec := range recs {
					if rec.raw["service"] != "orderflow" || rec.raw["orderId"] != "o-1" {
						t.Errorf("record lacks dimension or property: %v %v", rec.raw["service"], rec.raw["orderId"])
					}
					for _, m := range rec.metrics.Metrics {
						seen[m.Name] = true
					}
					// A record must not carry values of metrics another record defines.
					for k := range rec.raw {
						if strings.HasPrefix(k, "m") && !defines(rec, k) {
							t.Errorf("record carries member %q it does not define", k)
						}
					}
				}
				if len(seen) != 150 {
					t.Errorf("%d distinct metrics written, want 150", len(seen))
				}
				if got := values(recs[1].raw["m149"]); fmt.Sprint(got) != "[149]" {
					t.Errorf("m149 = %v", got)
				}
			},
		},
		{
			name: "250 values of one metric split 100/100/50 in order",
			dims: service,
			record: func(r *metrics.Recorder) {
				for i := range 250 {
					r.Put("Latency", float64(i), metrics.Milliseconds)
				}
				r.Put("Other", 7, metrics.Count)
			},
			check: func(t *testing.T, recs []record) {
				wantRecords(3)(t, recs)
				var all []float64
				for i, rec := range recs {
					all = append(all, values(rec.raw["Latency"])...)
					_, hasOther := rec.raw["Other"]
					if hasOther != (i == 0) || defines(rec, "Other") != (i == 0) {
						t.Errorf("record %d: Other present = %v, want only in the first", i, hasOther)
					}
				}
				if len(all) != 250 {
					t.Fatalf("%d values written, want 250", len(all))
				}
				for i, v := range all {
					if v != float64(i) {
						t.Fatalf("value %d = %v, want %d", i, v, i)
					}
				}
			},
		},
		{
			name: "30 dimensions are allowed",
			dims: nDims(30),
			record: func(r *metrics.Recorder) {
				r.Put("Processed", 1, metrics.Count)
			},
			check: wantRecords(1),
		},
		{
			name: "31 dimensions are rejected and nothing is written",
			dims: nDims(31),
			record: func(r *metrics.Recorder) {
				r.Put("Processed", 1, metrics.Count)
			},
			wantErr: []error{metrics.ErrInvalidConfig},
			check:   wantRecords(0),
		},
		{
			name:    "empty dimension value is rejected",
			dims:    map[string]string{"service": ""},
			record:  func(r *metrics.Recorder) { r.Put("Processed", 1, metrics.Count) },
			wantErr: []error{metrics.ErrInvalidConfig},
			check:   wantRecords(0),
		},
		{
			name: "NaN and Inf are dropped, the rest written",
			dims: service,
			record: func(r *metrics.Recorder) {
				r.Put("Bad", math.NaN(), metrics.Count)
				r.Put("Worse", math.Inf(1), metrics.Count)
				r.Put("Good", 1, metrics.Count)
			},
			wantErr: []error{metrics.ErrInvalidValue},
			check: func(t *testing.T, recs []record) {
				wantRecords(1)(t, recs)
				if len(recs[0].metrics.Metrics) != 1 || recs[0].metrics.Metrics[0].Name != "Good" {
					t.Errorf("metrics = %v, want only Good", recs[0].metrics.Metrics)
				}
			},
		},
		{
			name: "second unit for a name is rejected",
			dims: service,
			record: func(r *metrics.Recorder) {
				r.Put("Latency", 12, metrics.Milliseconds)
				r.Put("Latency", 1, metrics.Seconds)
			},
			wantErr: []error{metrics.ErrUnitMismatch},
			check: func(t *testing.T, recs []record) {
				wantRecords(1)(t, recs)
				if got := values(recs[0].raw["Latency"]); fmt.Sprint(got) != "[12]" {
					t.Errorf("Latency = %v, want [12]", got)
				}
			},
		},
		{
			name: "names clashing with dimensions, metrics or _aws are dropped",
			dims: service,
			record: func(r *metrics.Recorder) {
				r.Put("service", 1, metrics.Count)
				r.Put("Orders", 1, metrics.Count)
				r.Property("Orders", "x")
				r.Property("_aws", "x")
				r.Property("orderId", "o-1")
				r.Put("orderId", 1, metrics.Count)
			},
			wantErr: []error{metrics.ErrNameClash},
			check: func(t *testing.T, recs []record) {
				wantRecords(1)(t, recs)
				rec := recs[0]
				if rec.raw["service"] != "orderflow" || rec.raw["Orders"] != 1.0 || rec.raw["orderId"] != "o-1" {
					t.Errorf("first user of each name must win: %v", rec.raw)
				}
				if len(rec.metrics.Metrics) != 1 {
					t.Errorf("metrics = %v, want only Orders", rec.metrics.Metrics)
				}
			},
		},
		{
			name: "property set twice keeps the last value",
			dims: service,
			record: func(r *metrics.Recorder) {
				r.Put("Orders", 1, metrics.Count)
				r.Property("status", "PENDING")
				r.Property("status", "CONFIRMED")
			},
			check: func(t *testing.T, recs []record) {
				wantRecords(1)(t, recs)
				if recs[0].raw["status"] != "CONFIRMED" {
					t.Errorf("status = %v", recs[0].raw["status"])
				}
			},
		},
		{
			name: "property values of every kind encode as JSON",
			dims: service,
			record: func(r *metrics.Recorder) {
				r.Put("Orders", 1, metrics.Count)
				r.Property("quote", "a \"b\" \\ c\n\t\x01 é \xff")
				r.Property("int", 42)
				r.Property("int64", int64(-7))
				r.Property("float", 1.5)
				r.Property("bool", true)
				r.Property("nil", nil)
				r.Property("struct", struct {
					SKU string `json:"sku"`
				}{"A-1"})
			},
			check: func(t *testing.T, recs []record) {
				wantRecords(1)(t, recs)
				want := map[string]any{"quote": "a \"b\" \\ c\n\t\x01 é \uFFFD", "int": 42.0, "int64": -7.0, "float": 1.5,
					"bool": true, "nil": nil}
				for k, v := range want {
					if recs[0].raw[k] != v {
						t.Errorf("%s = %#v, want %#v", k, recs[0].raw[k], v)
					}
				}
				if s, _ := recs[0].raw["struct"].(map[string]any); s["sku"] != "A-1" {
					t.Errorf("struct = %v", recs[0].raw["struct"])
				}
			},
		},
		{
			name: "unencodable property is dropped, record stays valid",
			dims: service,
			record: func(r *metrics.Recorder) {
				r.Put("Orders", 1, metrics.Count)
				r.Property("ch", make(chan int))
				r.Property("nan", math.NaN())
				r.Property("orderId", "o-1")
			},
			wantErr: []error{metrics.ErrInvalidValue},
			check: func(t *testing.T, recs []record) {
				wantRecords(1)(t, recs)
				if _, ok := recs[0].raw["ch"]; ok {
					t.Error("ch written")
				}
				if recs[0].raw["orderId"] != "o-1" {
					t.Errorf("orderId = %v", recs[0].raw["orderId"])
				}
			},
		},
		{
			name:    "writer error is returned",
			dims:    service,
			w:       failWriter{},
			record:  func(r *metrics.Recorder) { r.Put("Orders", 1, metrics.Count) },
			wantErr: []error{errWrite},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := tt.w
			if w == nil {
				w = &buf
			}
			r := metrics.New(w, "orderflow", tt.dims)
			r.SetTimestamp(ts)
			tt.record(r)
			err := r.Flush()
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("Flush() error = %v", err)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("Flush() error = %v, want it to wrap %v", err, want)
				}
			}
			if tt.check != nil {
				tt.check(t, decode(t, buf.String()))
			}
		})
	}
}

func TestFlushResets(t *testing.T) {
	var buf bytes.Buffer
	r := metrics.New(&buf, "orderflow", map[string]string{"service": "analytics"})
	r.SetTimestamp(ts)
	r.Put("A", 1, metrics.Count)
	r.Property("orderId", "o-1")
	r.Put("A", 1, metrics.Seconds) // an error that must not survive the Flush
	if err := r.Flush(); !errors.Is(err, metrics.ErrUnitMismatch) {
		t.Fatalf("first Flush() error = %v", err)
	}
	buf.Reset()
	r.Put("B", 2, metrics.Count)
	if err := r.Flush(); err != nil {
		t.Fatalf("second Flush() error = %v", err)
	}
	recs := decode(t, buf.String())
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	rec := recs[0]
	if _, ok := rec.raw["A"]; ok {
		t.Error("metric A survived the Flush")
	}
	if _, ok := rec.raw["orderId"]; ok {
		t.Error("property orderId survived the Flush")
	}
	if rec.raw["service"] != "analytics" || rec.raw["B"] != 2.0 {
		t.Errorf("record = %v", rec.raw)
	}
	if rec.ts == ts.UnixMilli() {
		t.Error("SetTimestamp survived the Flush")
	}
}

func TestConcurrentPut(t *testing.T) {
	var buf bytes.Buffer
	r := metrics.New(&buf, "orderflow", map[string]string{"service": "analytics"})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				r.Put("Events", 1, metrics.Count)
				r.Property(fmt.Sprintf("g%d", g), g)
			}
		}()
	}
	wg.Wait()
	if err := r.Flush(); err != nil {
		t.Fatalf("Flush() error = %v", err)
	}
	var n int
	for _, rec := range decode(t, buf.String()) {
		n += len(values(rec.raw["Events"]))
	}
	if n != 400 {
		t.Errorf("%d values written, want 400", n)
	}
}

func TestServiceName(t *testing.T) {
	tests := []struct{ name, powertools, service, want string }{
		{name: "default", want: metrics.DefaultService},
		{name: "SERVICE_NAME", service: "ingest", want: "ingest"},
		{name: "POWERTOOLS_SERVICE_NAME wins", powertools: "pt", service: "ingest", want: "pt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("POWERTOOLS_SERVICE_NAME", tt.powertools)
			t.Setenv("SERVICE_NAME", tt.service)
			if got := metrics.ServiceName(); got != tt.want {
				t.Errorf("ServiceName() = %q, want %q", got, tt.want)
			}
		})
	}
}

func defines(rec record, name string) bool {
	for _, m := range rec.metrics.Metrics {
		if m.Name == name {
			return true
		}
	}
	return false
}

func wantRecords(n int) func(t *testing.T, recs []record) {
	return func(t *testing.T, recs []record) {
		t.Helper()
		if len(recs) != n {
			t.Fatalf("got %d records, want %d", len(recs), n)
		}
	}
}

func nDims(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("d%02d", i)] = "v"
	}
	return m
}

var errWrite = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }
