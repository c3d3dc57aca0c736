package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// hotPaths pairs each Hotpath benchmark with its decode-only twin (pkg/handler/*/hotpath_bench_test.go).
var hotPaths = []struct{ Name, Bench, Input string }{
	{"ingest POST /orders", "IngestPOST", "API Gateway v2 event, 1 line, Idempotency-Key"},
	{"process validate-and-price", "ValidateAndPrice", "task payload; PENDING order, 2 lines"},
	{"inventory reserve", "InventoryReserve10", "SQS batch of 10 reserve commands"},
	{"notify", "Notify", "EventBridge Order Confirmed"},
	{"analytics", "Analytics100", "Kinesis batch of 100 order events"},
	{"publisher", "Publisher100", "DynamoDB stream batch of 100 order changes"},
}

// hotArgs are the `go test` arguments of the hot-path run.
func hotArgs(count int, benchtime string) []string {
	return []string{"test", "-run", "^$", "-bench", "^Benchmark(Hotpath|Decode)", "-benchmem",
		"-count", strconv.Itoa(count), "-benchtime", benchtime, "./pkg/handler/..."}
}

// measureHot runs the hot-path benchmarks, copies their raw output to raw, and pairs them.
func measureHot(ctx context.Context, root string, count int, benchtime string, raw io.Writer) HotSection {
	args := hotArgs(count, benchtime)
	h := HotSection{Command: "go " + strings.Join(args, " ")}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var out, errb bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, raw)
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return HotSection{Skip: fmt.Sprintf("go test -bench: %v: %s", err, lastLines(out.String()+errb.String(), 5))}
	}
	stats := ParseBench(out.String())
	for _, p := range hotPaths {
		hot, ok1 := stats["BenchmarkHotpath"+p.Bench]
		dec, ok2 := stats["BenchmarkDecode"+p.Bench]
		if !ok1 || !ok2 {
			return HotSection{Skip: "benchmark output lacks BenchmarkHotpath/Decode" + p.Bench}
		}
		h.Rows = append(h.Rows, HotRow{Name: p.Name, Input: p.Input, Hot: hot, Decode: dec})
	}
	return h
}

// ParseBench reads `go test -bench -benchmem` output and returns, per benchmark name
// (without the -GOMAXPROCS suffix), the median of each figure over its runs.
func ParseBench(out string) map[string]BenchStat {
	runs := map[string][][3]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		var v [3]float64
		for i := 2; i+1 < len(f); i += 2 {
			x, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				v[0] = x
			case "B/op":
				v[1] = x
			case "allocs/op":
				v[2] = x
			}
		}
		runs[name] = append(runs[name], v)
	}
	out2 := map[string]BenchStat{}
	for name, rs := range runs {
		med := func(k int) float64 {
			xs := make([]float64, len(rs))
			for i, r := range rs {
				xs[i] = r[k]
			}
			slices.Sort(xs)
			if len(xs)%2 == 1 {
				return xs[len(xs)/2]
			}
			return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
		}
		out2[name] = BenchStat{NsPerOp: med(0), BytesPerOp: med(1), AllocsPerOp: med(2)}
	}
	return out2
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
