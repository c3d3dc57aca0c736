package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/internal/capacity"
	"github.com/orderflow/orderflow/cmd/internal/loadgen"
	"github.com/orderflow/orderflow/pkg/bus"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/tools/emulator"
)

// stackResult is what the local-stack run measured for sections 4, 5 and 6.
type stackResult struct {
	skip  string
	calls CallSection
	load  LoadSection
	// counts are section 4's raw counts over calls.Orders orders.
	counts map[CallKey]CallStat
	// ingestMs is the mean POST /orders latency of section 4's orders.
	ingestMs float64
}

// readyInfo is the part of `orderflow local up --ready-file` the benchmark reads.
type readyInfo struct {
	HTTPURL     string            `json:"httpUrl"`
	EdgeURL     string            `json:"edgeUrl"`
	EmulatorURL string            `json:"emulatorUrl"`
	Tables      map[string]string `json:"tables"`
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func serve(ln net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv
}

// measureStack brings the local stack up behind the counting proxies, counts the calls of
// a few confirmed orders, measures the emulator's raw rate and runs the CLI's load test.
func measureStack(ctx context.Context, o options, tmp string, log *slog.Logger) (res stackResult) {
	fail := func(format string, args ...any) stackResult {
		return stackResult{skip: fmt.Sprintf(format, args...)}
	}
	cli := filepath.Join(tmp, "orderflow")
	if err := buildCLI(ctx, o.Root, cli); err != nil {
		return fail("%v", err)
	}
	edgePort, err := freePort()
	if err != nil {
		return fail("%v", err)
	}
	httpPort, err := freePort()
	if err != nil {
		return fail("%v", err)
	}
	counter := NewCounter()

	// moto's Step Functions → sfnProxy → the edge.
	sfnLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("%v", err)
	}
	edgeURL := &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", edgePort)}
	sfnSrv := serve(sfnLn, countingProxy(edgeURL, counter, SourceStateMachine, true))
	defer sfnSrv.Close()

	emu, err := emulator.Start(ctx, emulator.Options{LambdaEndpointPort: sfnLn.Addr().(*net.TCPAddr).Port, Env: []string{emulator.ProfileEnv}})
	if err != nil {
		if errors.Is(err, emulator.ErrNotInstalled) {
			return fail("moto server is not installed (%s)", emulator.InstallHint)
		}
		return fail("start moto: %v", err)
	}
	defer emu.Stop()
	motoURL, _ := url.Parse(emu.Endpoint)

	// The edge → fnProxy → moto.
	fnLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("%v", err)
	}
	fnSrv := serve(fnLn, countingProxy(motoURL, counter, SourceFunctions, false))
	defer fnSrv.Close()

	ready := filepath.Join(tmp, "ready.json")
	up := exec.Command(cli, "local", "up", "--quiet",
		"--aws-endpoint", "http://"+fnLn.Addr().String(),
		"--edge-port", strconv.Itoa(edgePort), "--http-port", strconv.Itoa(httpPort),
		"--build-dir", filepath.Join(tmp, "host"), "--ready-file", ready)
	up.Dir = o.Root
	var upOut bytes.Buffer
	up.Stdout, up.Stderr = &upOut, &upOut
	up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := up.Start(); err != nil {
		return fail("orderflow local up: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	defer stopStack(up, exited, log)

	var info readyInfo
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if b, err := os.ReadFile(ready); err == nil && json.Unmarshal(b, &info) == nil && info.HTTPURL != "" {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			return fail("orderflow local up exited (%v): %s", err, lastLines(upOut.String(), 4))
		case <-ctx.Done():
			return fail("%v", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail("orderflow local up not ready after 3 minutes: %s", lastLines(upOut.String(), 4))
		}
	}
	log.Info("local stack up", "http", info.HTTPURL, "edge", info.EdgeURL)
	direct := emulator.Config(emu.Endpoint)
	ordersTable := info.Tables["OrdersTable"]
	if ordersTable == "" {
		return fail("ready file names no OrdersTable")
	}

	// Section 4: calls per confirmed order.
	res.calls, res.counts, res.ingestMs, err = countCalls(ctx, info.HTTPURL, direct, ordersTable, counter, o.CallOrders, log)
	if err != nil {
		return fail("counting calls per order: %v", err)
	}

	// Section 5: the emulator's raw rate, then the CLI's load run.
	log.Info("emulator raw rate", "seconds", o.RawSeconds)
	raw, err := rawRate(ctx, direct, ordersTable, o.RawSeconds)
	if err != nil {
		return fail("raw emulator rate: %v", err)
	}
	log.Info("load run", "orders", o.LoadOrders, "concurrency", o.Concurrency)
	svg := at(o.Root, o.SVG)
	args := []string{"load", "--orders", strconv.Itoa(o.LoadOrders), "--concurrency", strconv.Itoa(o.Concurrency),
		"--mix", "valid", "--histogram", svg, "--api", info.HTTPURL, "--aws-endpoint", emu.Endpoint}
	counter.Reset()
	profBefore, profErr := emulator.ReadProfile(ctx, emu.Endpoint)
	load := exec.CommandContext(ctx, cli, args...)
	load.Dir = o.Root
	var loadOut, loadErr bytes.Buffer
	load.Stdout, load.Stderr = &loadOut, &loadErr
	runErr := load.Run()
	during := counter.Snapshot()
	var profile *emulator.Profile
	if profErr == nil {
		if after, err := emulator.ReadProfile(ctx, emu.Endpoint); err == nil {
			d := after.Since(profBefore)
			profile = &d
		}
	}
	ls, perr := ParseLoad(loadOut.String())
	if perr != nil {
		return fail("orderflow load (%v): %v: %s", runErr, perr, lastLines(loadOut.String()+loadErr.String(), 4))
	}
	ls.Command = "orderflow " + strings.Join(args[:7], " ") + " --histogram " + o.SVG
	ls.Output = strings.ReplaceAll(loadOut.String(), svg, o.SVG)
	if runErr != nil {
		ls.Output += "\n(exit: " + runErr.Error() + ")"
	}
	ls.Concurrency = o.Concurrency
	for k, v := range during {
		per := float64(v.N) / float64(max(1, ls.Orders))
		if k.Source == SourcePlumbing {
			ls.LoadPlumbing += per
			continue
		}
		ls.LoadCalls += per
		if k.Source == SourceFunctions && k.Service == "dynamodb" && k.Operation == "GetItem" {
			ls.LoadGetItem += per
		}
	}
	ls.SVG = filepath.Base(o.SVG)
	ls.Emulator = profile
	ls.Raw = raw
	ls.CallsPerOrder = res.calls.CallsPerOrder()
	var fnCalls int64
	var fnTime time.Duration
	for k, v := range res.counts {
		if k.Source == SourceFunctions {
			fnCalls += v.N
			fnTime += v.Elapsed
		}
	}
	if fnCalls > 0 {
		ls.CallLatency = fnTime / time.Duration(fnCalls)
	}
	res.load = ls
	return res
}

func buildCLI(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/orderflow")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the orderflow CLI: %w\n%s", err, b)
	}
	return nil
}

// stopStack interrupts `orderflow local up` (which closes the stack and its children) and
// kills its process group if it does not exit in time.
func stopStack(up *exec.Cmd, exited chan error, log *slog.Logger) {
	_ = up.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		log.Warn("orderflow local up did not stop in 30 s; killing its process group", "pid", up.Process.Pid)
		_ = syscall.Kill(-up.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// benchOrder is one order of section 4: a single in-stock line with a card that pays.
const benchOrder = `{"customerId":"bench-calls","currency":"USD","lines":[{"sku":"SKU-STK-003","quantity":1}],"paymentToken":"tok_visa"}`

// countCalls submits n orders, waits until all are CONFIRMED (reading the orders table
// straight from moto, uncounted) and the downstream work has settled, and returns the
// counts per order.
func countCalls(ctx context.Context, api string, direct aws.Config, table string, c *Counter, n int, log *slog.Logger) (CallSection, map[CallKey]CallStat, float64, error) {
	sec := CallSection{Orders: n}
	db := dynamodb.NewFromConfig(direct)
	// Let the stack's start-up traffic finish before counting.
	time.Sleep(2 * time.Second)
	c.Reset()
	ids := make([]string, n)
	var postNs atomic.Int64
	errs := make([]error, n)
	poster := &loadgen.Poster{API: api, Rule: loadgen.Brief}
	loadgen.Run(ctx, n, 4, func(i int) {
		r := poster.Post(ctx, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i), []byte(benchOrder))
		if r.Err != nil {
			errs[i] = r.Err
			return
		}
		postNs.Add(int64(r.Latency))
		loc := r.Header.Get("Location")
		if r.Status != http.StatusAccepted || loc == "" {
			errs[i] = fmt.Errorf("POST /orders: %d %s", r.Status, r.Body)
			return
		}
		ids[i] = loc[strings.LastIndexByte(loc, '/')+1:]
	})
	if err := errors.Join(errs...); err != nil {
		return sec, nil, 0, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	pending := map[string]bool{}
	for _, id := range ids {
		pending[id] = true
	}
	orders := dynamo.NewOrderStore(db, table)
	for len(pending) > 0 {
		for id := range pending {
			o, err := orders.Get(ctx, id)
			if errors.Is(err, order.ErrNotFound) {
				continue
			}
			if err != nil {
				return sec, nil, 0, err
			}
			switch {
			case o.Status == order.StatusConfirmed:
				delete(pending, id)
			case o.Status.Terminal():
				return sec, nil, 0, fmt.Errorf("order %s ended %s", id, o.Status)
			}
		}
		if time.Now().After(deadline) {
			return sec, nil, 0, fmt.Errorf("%d of %d orders not CONFIRMED after 2 minutes", len(pending), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// notify and analytics run after CONFIRMED; analytics waits for its 5 s batch window.
	log.Info("all orders confirmed; waiting for the calls to settle")
	last, stable := c.Total(), time.Now()
	settle := time.Now().Add(90 * time.Second)
	for time.Since(stable) < 8*time.Second && time.Now().Before(settle) {
		time.Sleep(500 * time.Millisecond)
		if t := c.Total(); t != last {
			last, stable = t, time.Now()
		}
	}
	counts := c.Snapshot()
	perService := map[string]float64{}
	for _, k := range sortedKeys(counts) {
		v := counts[k]
		row := CallRow{Call: fmt.Sprintf("%s:%s (%s)", k.Service, k.Operation, k.Source), PerOrder: float64(v.N) / float64(n)}
		if k.Source == SourcePlumbing {
			sec.Plumbing = append(sec.Plumbing, row)
			continue
		}
		sec.Calls = append(sec.Calls, row)
		perService[k.Service] += row.PerOrder
	}
	sec.Minimum = minimum(perService, n)
	return sec, counts, float64(postNs.Load()) / float64(n) / 1e6, nil
}

// shards is the order-stream's ShardCount in template.yaml; records is the analytics
// mapping's BatchSize.
const (
	shards       = 2
	analyticsMax = capacity.AnalyticsBatch
)

// minimum is the fewest calls per confirmed order the design allows, by service.
func minimum(measured map[string]float64, n int) []MinRow {
	// Two records per order (Created, Confirmed) spread over the shards; one lake object per
	// shard batch of up to 100 records.
	perShard := math.Ceil(float64(2*n) / shards)
	s3 := float64(min(shards, 2*n)) * math.Ceil(perShard/analyticsMax) / float64(n)
	design := capacity.Mix{Steps: capacity.DesignSteps()}.CallsByService()
	rows := []MinRow{
		{Service: "dynamodb", Minimum: design["dynamodb"], Why: "ingest 1 (one TransactWriteItems: the order and its Idempotency-Key record with the answer); validate 3 (one read of the order, " +
			"BatchGetItem of the prices, conditional write); authorize 2 (read, one conditional write VALIDATED→RESERVED→PAID→CONFIRMED); inventory 1 " +
			"TransactWriteItems (all lines and the reservation record at once); notify 2 (claim the marker lease, mark it DONE after the publish: one " +
			"conditional write cannot tell a delivery that crashed before publishing from one that published, and telling them apart is what keeps a crash " +
			"from losing the notification or sending it twice); analytics 2 (one transaction per event: Created, Confirmed)"},
		{Service: "events", Minimum: design["events"], Amortized: true, Why: fmt.Sprintf("Order Created and Order Confirmed, both put by the publisher "+
			"from the orders table's stream: two entries per order, up to %d per PutEvents, so %.2f per order with full batches. Batch-amortized, so not part "+
			"of the goal check: a batch holds the events of the stream records one poll finds (one call per event on a quiet table, 2.00 per order)",
			bus.MaxEntries, 2.0/bus.MaxEntries)},
		{Service: "lambda", Minimum: design["lambda"], Why: "the state machine's two Lambda tasks, ValidateAndPrice and AuthorizePayment"},
		{Service: "sqs", Minimum: design["sqs"], Why: "ReserveInventory's SendMessage (waitForTaskToken)"},
		{Service: "states", Minimum: design["states"], Why: "inventory's SendTaskSuccess"},
		{Service: "sns", Minimum: design["sns"], Why: "one notification per state change"},
		{Service: "s3", Minimum: design["s3"], Amortized: true, Why: fmt.Sprintf("one data-lake object per analytics batch (up to %d records, 5 s window): 0.02 per order "+
			"with full batches. Batch-amortized, so not part of the goal check: %d orders in one burst fill at best %.0f objects (%.2f per order), and their Created and "+
			"Confirmed records usually arrive in different 5 s windows", analyticsMax, n, s3*float64(n), s3)},
	}
	seen := map[string]bool{}
	for i := range rows {
		rows[i].Measured = measured[rows[i].Service]
		seen[rows[i].Service] = true
	}
	for svc, v := range measured {
		if !seen[svc] {
			rows = append(rows, MinRow{Service: svc, Measured: v, Why: "not part of the design's happy path"})
		}
	}
	return rows
}

// rawRate measures the emulator's own rate: workers goroutines in a tight loop of
// DynamoDB GetItem, then of SQS SendMessage, straight against moto.
func rawRate(ctx context.Context, cfg aws.Config, table string, seconds float64) (RawRate, error) {
	r := RawRate{Workers: 8, Seconds: seconds}
	db := dynamodb.NewFromConfig(cfg)
	q := sqs.NewFromConfig(cfg)
	cq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bench-raw-rate")})
	if err != nil {
		return r, err
	}
	defer q.DeleteQueue(context.WithoutCancel(ctx), &sqs.DeleteQueueInput{QueueUrl: cq.QueueUrl})
	loop := func(call func(context.Context) error) (float64, error) {
		var n atomic.Int64
		var firstErr atomic.Value
		dctx, cancel := context.WithTimeout(ctx, time.Duration(seconds*float64(time.Second)))
		defer cancel()
		began := time.Now()
		var wg sync.WaitGroup
		for range r.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for dctx.Err() == nil {
					if err := call(dctx); err != nil {
						if dctx.Err() == nil {
							firstErr.CompareAndSwap(nil, err)
						}
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		if e, ok := firstErr.Load().(error); ok {
			return 0, e
		}
		return float64(n.Load()) / time.Since(began).Seconds(), nil
	}
	orders := dynamo.NewOrderStore(db, table)
	if r.GetItem, err = loop(func(ctx context.Context) error {
		// One consistent GetItem of an order that does not exist.
		if _, err := orders.Get(ctx, "bench-raw-rate"); err != nil && !errors.Is(err, order.ErrNotFound) {
			return err
		}
		return nil
	}); err != nil {
		return r, fmt.Errorf("GetItem: %w", err)
	}
	if r.SendMessage, err = loop(func(ctx context.Context) error {
		_, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: cq.QueueUrl, MessageBody: aws.String(`{"bench":true}`)})
		return err
	}); err != nil {
		return r, fmt.Errorf("SendMessage: %w", err)
	}
	return r, nil
}

var (
	loadRate    = regexp.MustCompile(`orders\s+(\d+) in \S+ \(([0-9.]+) orders/s\)`)
	loadLatency = regexp.MustCompile(`p50 (\S+)\s+p95 (\S+)\s+p99 (\S+)`)
)

// ParseLoad reads the summary `orderflow load` prints.
func ParseLoad(out string) (LoadSection, error) {
	var l LoadSection
	m := loadRate.FindStringSubmatch(out)
	if m == nil {
		return l, errors.New("no orders/s line in the load output")
	}
	l.Orders, _ = strconv.Atoi(m[1])
	l.Rate, _ = strconv.ParseFloat(m[2], 64)
	p := loadLatency.FindStringSubmatch(out)
	if p == nil {
		return l, errors.New("no p50/p95/p99 line in the load output")
	}
	var err error
	for i, dst := range []*time.Duration{&l.P50, &l.P95, &l.P99} {
		if *dst, err = time.ParseDuration(p[i+1]); err != nil {
			return l, fmt.Errorf("latency %q: %w", p[i+1], err)
		}
	}
	return l, nil
}
