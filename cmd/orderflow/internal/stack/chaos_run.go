package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/internal/loadgen"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/audit"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/buscapture"
	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
)

// ChaosOptions configure RunChaos.
type ChaosOptions struct {
	// Orders is how many orders are sent (default 300); Concurrency how many at once
	// (default 8); Seed fixes the mix.
	Orders      int
	Concurrency int
	Seed        uint64
	// Timeout bounds the wait for the stack to settle; past it the audit runs on what is
	// there. The default is 2 min plus one and a half times as long as the orders took to
	// send: the stack must work off what arrived while they were sent at two thirds of the
	// rate they arrived at, on any machine, at any size of run (a fixed time per order
	// fails a slower machine, or a larger run, whose pipeline lags its front door).
	// Timeout is fixed when set.
	Timeout time.Duration
	// InFlight bounds the state machine's running executions while orders are sent:
	// sending pauses while more are running (default 128; negative: no bound). The front
	// door takes orders faster than the pipeline works them off under faults, and every
	// execution waiting in the emulator is a thread that slows the rest (AWS has no such
	// cost), so an unpaced large run spends its time on the backlog, not on the faults.
	InFlight int
	// Progress receives a line every few seconds (nil: none).
	Progress io.Writer
}

// ChaosResult is what a chaos run did and what the audit found.
type ChaosResult struct {
	// Seed and Orders replay the run: the same orders, the same fault decisions.
	Seed                                   uint64
	Orders                                 int
	Sent, Accepted, Refused4xx, Unanswered int
	// PoisonCommands and PoisonEvents are malformed inputs put straight on the inventory
	// queue and the bus.
	PoisonCommands, PoisonEvents int
	// ClientRetries counts the HTTP retries (5xx answers) with the same Idempotency-Key.
	ClientRetries int64
	Faults        chaos.Stats
	Audit         *audit.Report
	Duration      time.Duration
	// Errors are client-side problems (a valid order refused, an invalid one accepted).
	Errors []string
	// FailedExecutions counts failed state-machine executions by error.
	FailedExecutions map[string]int
	// NotSettled says what was still under way when the wait to settle timed out.
	NotSettled string
	// Latencies are the POSTs' times to their final answer (retries included); Sending
	// is how long the orders took to send, Settling how long the stack then took to
	// settle.
	Latencies         []time.Duration
	Sending, Settling time.Duration
	// Paused is how long sending waited for running executions to fall to InFlight.
	Paused time.Duration
	// FaultList is the file the run's fault decisions are written to ("": none).
	FaultList string
}

// Write prints the chaos report.
func (r *ChaosResult) Write(w io.Writer) {
	fmt.Fprintf(w, "chaos run: %d orders sent in %s: %d accepted, %d refused (4xx, as planned), %d unanswered; %d client retries\n",
		r.Sent, r.Duration.Round(time.Second), r.Accepted, r.Refused4xx, r.Unanswered, r.ClientRetries)
	listed := ""
	if r.FaultList != "" {
		listed = "; they are listed in " + r.FaultList
	}
	fmt.Fprintf(w, "replay: make chaos CHAOS_SEED=%d CHAOS_ORDERS=%d (the same orders and fault decisions%s)\n", r.Seed, r.Orders, listed)
	fmt.Fprintf(w, "poison inputs: %d malformed inventory commands, %d malformed bus events\n", r.PoisonCommands, r.PoisonEvents)
	if len(r.Latencies) > 0 {
		l := slices.Clone(r.Latencies)
		slices.Sort(l)
		q := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))].Round(time.Millisecond) }
		fmt.Fprintf(w, "timing: sending %s (%.1f orders/s; paused %s for running executions), settling %s; POST to final answer p50 %s, p99 %s, max %s\n",
			r.Sending.Round(time.Second), float64(r.Sent)/max(r.Sending.Seconds(), 0.001), r.Paused.Round(time.Second), r.Settling.Round(time.Second), q(0.5), q(0.99), l[len(l)-1].Round(time.Millisecond))
	}
	if r.NotSettled != "" {
		fmt.Fprintf(w, "did not settle: %s\n", r.NotSettled)
	}
	for _, l := range r.Faults.Summary() {
		fmt.Fprintln(w, l)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "client error: %s\n", e)
	}
	for _, k := range sortedKeys(r.FailedExecutions) {
		fmt.Fprintf(w, "failed executions: %d x %s\n", r.FailedExecutions[k], k)
	}
	if r.Audit != nil {
		fmt.Fprintf(w, "lost orders: %d, oversold units: %d, duplicate effects: %d notifications, %d metric miscounts\n",
			len(r.Audit.Lost), r.Audit.Oversold, r.Audit.DuplicateNotifications, abs(r.Audit.MetricsConfirmed-int64(r.Audit.Confirmed)))
		r.Audit.Write(w)
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// OK reports whether the run found nothing wrong.
func (r *ChaosResult) OK() bool { return len(r.Errors) == 0 && r.Audit != nil && r.Audit.OK() }

// chaos catalog: plenty of stock; one scarce SKU many orders compete for, whose stock is
// exactly what they ask for together (taken to zero under contention, yet no order's
// outcome depends on which one comes first, so a seed replays the same calls); and one
// sold out, which every order that asks for it is refused, whatever the timing.
var chaosSKUs = []struct {
	sku   string
	price int64
}{{"CHAOS-A", 250}, {"CHAOS-B", 1000}, {"CHAOS-C", 4999}}

const (
	chaosScarce  = "CHAOS-SCARCE"
	chaosSoldOut = "CHAOS-SOLDOUT"
)

// RunChaos drives orders through s (which should run with Options.Faults), with poison
// inputs, waits for the system to settle and audits it. Capture queues for the bus events
// and the notifications are created first.
func RunChaos(ctx context.Context, s *Stack, o ChaosOptions) (*ChaosResult, error) {
	o.setDefaults()
	r := &chaosRun{s: s, o: o, began: time.Now(), res: &ChaosResult{Seed: o.Seed, Orders: o.Orders},
		accepted: map[string]bool{}, ddb: dynamodb.NewFromConfig(s.Config), sq: sqs.NewFromConfig(s.Config)}
	executions := sfn.NewFromConfig(s.Config)
	r.running = func(ctx context.Context) (int, error) {
		return runningExecutions(ctx, executions, s.StateMachineARN, o.InFlight+1)
	}
	evCapture, nCapture, err := s.chaosCaptures(ctx)
	if err != nil {
		return nil, err
	}
	bodies := planChaos(o.Orders, o.Seed)
	initial, err := r.stockCatalog(ctx, bodies)
	if err != nil {
		return nil, err
	}
	sending := time.Now()
	sent := r.sendOrders(ctx, bodies)
	if err := r.sendPoison(ctx); err != nil { // while the orders flow
		return nil, err
	}
	<-sent
	r.res.Sending = time.Since(sending)
	r.logf("chaos: %d orders sent, %d accepted (%s); waiting for them to settle", r.res.Sent, r.res.Accepted, r.elapsed())
	settling := time.Now()
	if err := r.settle(ctx); err != nil {
		return nil, err
	}
	r.res.Settling = time.Since(settling)
	return r.audit(ctx, initial, evCapture, nCapture)
}

func (o *ChaosOptions) setDefaults() {
	if o.Orders <= 0 {
		o.Orders = 300
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.InFlight == 0 {
		o.InFlight = 128
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// chaosRun is the state of one RunChaos.
type chaosRun struct {
	s     *Stack
	o     ChaosOptions
	began time.Time
	ddb   *dynamodb.Client
	sq    *sqs.Client

	mu       sync.Mutex // guards res and accepted while the orders are sent
	res      *ChaosResult
	accepted map[string]bool

	// running counts the running executions, up to o.InFlight+1 (room's look).
	running func(context.Context) (int, error)
	gate    sync.Mutex // one sender at a time checks the running executions (room)
	roomAt  time.Time  // when room last found room; guarded by gate
}

func (r *chaosRun) logf(format string, args ...any) { fmt.Fprintf(r.o.Progress, format+"\n", args...) }

func (r *chaosRun) elapsed() time.Duration { return time.Since(r.began).Round(time.Second) }

// stockCatalog puts the chaos SKUs in the inventory table (the scarce one with the stock
// bodies ask for, the sold-out one with none) and returns every SKU's stock before the run.
func (r *chaosRun) stockCatalog(ctx context.Context, bodies []chaosBody) (map[string]int64, error) {
	inv := r.s.Tables["InventoryTable"]
	catalog := dynamo.NewInventoryStore(r.ddb, inv)
	put := func(sku string, price, stock int64) error {
		return catalog.Put(ctx, inventory.Item{SKU: sku, Price: price, Currency: "USD", Stock: stock})
	}
	for _, it := range chaosSKUs {
		if err := put(it.sku, it.price, 1_000_000); err != nil {
			return nil, err
		}
	}
	var scarce int64
	for _, b := range bodies {
		scarce += b.scarce
	}
	if err := put(chaosScarce, 700, scarce); err != nil {
		return nil, err
	}
	if err := put(chaosSoldOut, 900, 0); err != nil {
		return nil, err
	}
	return skuStock(ctx, r.ddb, inv)
}

// sendOrders posts bodies in the background, o.Concurrency at once, and closes the
// returned channel when every order has its final answer.
func (r *chaosRun) sendOrders(ctx context.Context, bodies []chaosBody) <-chan struct{} {
	poster := &loadgen.Poster{Client: &http.Client{Timeout: 30 * time.Second}, API: r.s.HTTPURL, Rule: loadgen.Patient}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		loadgen.Run(ctx, len(bodies), r.o.Concurrency, func(i int) {
			r.room(ctx)
			r.record(i, bodies[i], poster.Post(ctx, fmt.Sprintf("chaos-%d-%d", r.o.Seed, i), bodies[i].body), len(bodies))
		})
	}()
	return sent
}

// maxPause bounds one wait of room: executions that do not end (a stuck order) must not
// stop the run, whose audit then reports them.
const maxPause = 2 * time.Minute

// roomCheckEvery is how long room trusts its last look (one ListExecutions call per
// order would cost the emulator more than the pacing saves), and how often it looks
// while it waits.
const roomCheckEvery = 500 * time.Millisecond

// room returns once at most o.InFlight executions are running, or after maxPause,
// adding the wait to res.Paused.
func (r *chaosRun) room(ctx context.Context) {
	if r.o.InFlight < 0 {
		return
	}
	r.gate.Lock()
	defer r.gate.Unlock()
	began := time.Now()
	if began.Sub(r.roomAt) < roomCheckEvery {
		return
	}
	defer func() { r.roomAt = time.Now() }()
	ok := func() bool {
		n, err := r.running(ctx)
		return err != nil || n <= r.o.InFlight // an error does not stop the run
	}
	if ok() {
		return
	}
	look := time.NewTicker(roomCheckEvery)
	defer look.Stop()
	defer func() {
		r.mu.Lock()
		r.res.Paused += time.Since(began)
		r.mu.Unlock()
	}()
	for time.Since(began) < maxPause {
		select {
		case <-ctx.Done():
			return
		case <-look.C:
			if ok() {
				return
			}
		}
	}
}

// runningExecutions counts the state machine's running executions, up to limit.
func runningExecutions(ctx context.Context, c *sfn.Client, arn string, limit int) (int, error) {
	n := 0
	p := sfn.NewListExecutionsPaginator(c, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arn), StatusFilter: sfntypes.ExecutionStatusRunning})
	for p.HasMorePages() && n < limit {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, err
		}
		n += len(page.Executions)
	}
	return n, nil
}

// record counts order i's answer against what was planned for it.
func (r *chaosRun) record(i int, b chaosBody, post loadgen.Result, total int) {
	status, id := post.Status, post.OrderID
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.Sent++
	res.ClientRetries += int64(post.Retries)
	res.Latencies = append(res.Latencies, post.Latency)
	switch {
	case status == http.StatusAccepted && !b.invalid:
		res.Accepted++
		r.accepted[id] = true
	case status == http.StatusAccepted:
		res.Accepted++
		r.accepted[id] = true
		res.Errors = append(res.Errors, fmt.Sprintf("invalid order %d accepted as %s", i, id))
	case status >= 400 && status < 500 && b.invalid:
		res.Refused4xx++
	case status >= 400 && status < 500:
		res.Errors = append(res.Errors, fmt.Sprintf("valid order %d refused with %d", i, status))
	default:
		res.Unanswered++
	}
	if res.Sent%500 == 0 {
		r.logf("chaos: sent %d/%d orders (%s)", res.Sent, total, r.elapsed())
	}
}

// sendPoison puts malformed inventory commands on the queue and malformed events on the
// bus, one per 100 orders (at least 2 of each).
func (r *chaosRun) sendPoison(ctx context.Context) error {
	poison := max(2, r.o.Orders/100)
	for i := range poison {
		body := `{"command":"reserve","orderId":` // truncated JSON
		if i%2 == 1 {
			body = `{"command":"explode","orderId":"chaos-poison-` + strconv.Itoa(i) + `","lines":[]}`
		}
		if _, err := r.sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(r.s.Queues["InventoryCommandQueue"]), MessageBody: aws.String(body)}); err != nil {
			return fmt.Errorf("poison command: %w", err)
		}
		r.mu.Lock()
		r.res.PoisonCommands++
		r.mu.Unlock()
	}
	eb := eventbridge.NewFromConfig(r.s.Config)
	for i := range poison {
		detail := `{"metadata":{"eventId":"chaos-poison-` + strconv.Itoa(i) + `"},"data":{"status":"CONFIRMED","total":"lots"}}`
		if _, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			EventBusName: aws.String(r.s.Bus), Source: aws.String("myapp.orders"), DetailType: aws.String("Order Confirmed"),
			Detail: aws.String(detail)}}}); err != nil {
			return fmt.Errorf("poison event: %w", err)
		}
		r.mu.Lock()
		r.res.PoisonEvents++
		r.mu.Unlock()
	}
	return nil
}

// settleDeadline is the default bound of the wait to settle after orders took sending
// to send (ChaosOptions.Timeout).
func settleDeadline(sending time.Duration) time.Duration {
	return 2*time.Minute + sending*3/2
}

// settle waits until the stack holds no work in progress (the orders that can end have
// ended, the deliveries, retries and duplicates are done), reporting progress. Past
// o.Timeout it records what was not settled and returns nil: the audit runs on what is
// there. It returns an error only when ctx ends.
func (r *chaosRun) settle(ctx context.Context) error {
	timeout := r.o.Timeout
	if timeout <= 0 {
		timeout = settleDeadline(r.res.Sending)
	}
	settleCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lastDone, lastScan, scanTook := -1, time.Time{}, time.Duration(0)
	err := r.s.WaitSettled(settleCtx, func(ctx context.Context) (bool, string, error) {
		// Progress only. A count scans every order, so it waits 20 times as long as the
		// last one took (at least 5 s): the emulator spends under 5% of its time on it at
		// any size of run.
		if time.Since(lastScan) < max(5*time.Second, 20*scanTook) {
			return true, "", nil
		}
		lastScan = time.Now()
		done, err := terminalOrders(ctx, r.ddb, r.s.Tables["OrdersTable"])
		scanTook = time.Since(lastScan)
		if err == nil && done != lastDone {
			lastDone = done
			r.logf("chaos: %d/%d orders terminal (%s)", done, len(r.accepted), r.elapsed())
		}
		return true, "", err
	})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		r.res.NotSettled = err.Error()
		r.logf("chaos: %v; auditing what is there", err)
	} else {
		r.logf("chaos: settled (%s); auditing", r.elapsed())
	}
	return nil
}

// audit runs the audit over the tables, the DLQs, the failure buckets and the captures,
// and checks that every accepted order is in the orders table.
func (r *chaosRun) audit(ctx context.Context, initial map[string]int64, evCapture, nCapture string) (*ChaosResult, error) {
	s, res := r.s, r.res
	var dlqs []string
	for id, url := range s.Queues {
		if isDLQ(id) {
			dlqs = append(dlqs, url)
		}
	}
	res.Faults = s.Faults.Stats()
	res.FailedExecutions = failedExecutions(ctx, s)
	var err error
	res.Audit, err = audit.Run(ctx, audit.Config{DynamoDB: r.ddb, SQS: r.sq,
		S3:          s3.NewFromConfig(s.Config, func(o *s3.Options) { o.UsePathStyle = true }),
		OrdersTable: s.Tables["OrdersTable"], InventoryTable: s.Tables["InventoryTable"], MetricsTable: s.Tables["MetricsTable"], Bucket: s.Bucket,
		DLQs: dlqs, FailureBuckets: s.failureBuckets(), EventCapture: evCapture, NotificationCapture: nCapture, Initial: initial})
	res.Duration = time.Since(r.began)
	if err != nil {
		return res, err
	}
	if seen := res.Audit.Orders; seen < len(r.accepted) {
		res.Errors = append(res.Errors, fmt.Sprintf("%d orders accepted, %d in the orders table", len(r.accepted), seen))
	}
	return res, nil
}

// failureBuckets are the stack's S3 on-failure destinations: every root-template bucket
// other than the data lake.
func (s *Stack) failureBuckets() []string {
	var out []string
	for _, id := range sortedKeys(s.Buckets) {
		if b := s.Buckets[id]; b != s.Bucket {
			out = append(out, b)
		}
	}
	return out
}

type chaosBody struct {
	body    []byte
	invalid bool
	scarce  int64 // units of the scarce SKU asked for
}

// planChaos draws the orders: mostly valid orders of 1-3 SKUs, a share on the scarce SKU
// (contention), a share on the sold-out SKU (out of stock), declined payments, unknown
// SKUs and invalid requests.
func planChaos(n int, seed uint64) []chaosBody {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	out := make([]chaosBody, n)
	for i := range out {
		type line struct {
			SKU      string `json:"sku"`
			Quantity int    `json:"quantity"`
		}
		req := struct {
			CustomerID   string `json:"customerId"`
			Currency     string `json:"currency"`
			Lines        []line `json:"lines"`
			PaymentToken string `json:"paymentToken"`
		}{CustomerID: fmt.Sprintf("chaos-c%03d", rng.IntN(100)), Currency: "USD", PaymentToken: "tok_visa"}
		for _, p := range rng.Perm(len(chaosSKUs))[:1+rng.IntN(len(chaosSKUs))] {
			req.Lines = append(req.Lines, line{SKU: chaosSKUs[p].sku, Quantity: 1 + rng.IntN(3)})
		}
		k := rng.IntN(100)
		switch {
		case k < 5: // invalid: a client error, never accepted
			req.Lines[0].Quantity = 0
			out[i].invalid = true
		case k < 15:
			q := 1 + rng.IntN(2)
			req.Lines = append(req.Lines, line{SKU: chaosScarce, Quantity: q})
			out[i].scarce = int64(q)
		case k < 25:
			req.Lines = append(req.Lines, line{SKU: chaosSoldOut, Quantity: 1})
		case k < 30:
			req.PaymentToken = "tok_decline"
		case k < 33:
			req.Lines = append(req.Lines, line{SKU: fmt.Sprintf("CHAOS-NOSUCH-%d", rng.IntN(50)), Quantity: 1})
		}
		out[i].body, _ = json.Marshal(req)
	}
	return out
}

func skuStock(ctx context.Context, c *dynamodb.Client, table string) (map[string]int64, error) {
	out := map[string]int64{}
	err := audit.Scan(ctx, c, table, func(it map[string]ddbtypes.AttributeValue) error {
		rec, err := dynamo.DecodeInventory(it)
		if err != nil {
			return err
		}
		if rec.Item != nil {
			out[rec.Item.SKU] = rec.Item.Stock
		}
		return nil
	})
	return out, err
}

// terminalOrders counts the orders in a terminal status.
func terminalOrders(ctx context.Context, c *dynamodb.Client, table string) (done int, err error) {
	return dynamo.CountOrders(ctx, c, table, order.TerminalStatuses()...)
}

// chaosCaptures creates a queue with every order event of the bus and one subscribed to
// the topic (raw delivery), for the audit's exactly-once checks.
func (s *Stack) chaosCaptures(ctx context.Context) (events, notifications string, err error) {
	sq := sqs.NewFromConfig(s.Config)
	const nName = "chaos-notification-capture"
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(nName)})
	if err != nil {
		return "", "", fmt.Errorf("capture queue %s: %w", nName, err)
	}
	nURL, nARN := aws.ToString(q.QueueUrl), "arn:aws:sqs:"+Region+":"+AccountID+":"+nName
	ev, err := buscapture.New(ctx, sq, eventbridge.NewFromConfig(s.Config), s.Bus, "chaos-bus-capture", `{"source":["myapp.orders"]}`, buscapture.Options{})
	if err != nil {
		return "", "", fmt.Errorf("capture: %w", err)
	}
	if _, err := sns.NewFromConfig(s.Config).Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(s.Topic),
		Protocol: aws.String("sqs"), Endpoint: aws.String(nARN),
		Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		return "", "", fmt.Errorf("capture subscription: %w", err)
	}
	return ev.QueueURL, nURL, nil
}

// failedExecutions counts the state machine's failed executions by error and cause.
func failedExecutions(ctx context.Context, s *Stack) map[string]int {
	out := map[string]int{}
	c := sfn.NewFromConfig(s.Config)
	p := sfn.NewListExecutionsPaginator(c, &sfn.ListExecutionsInput{StateMachineArn: aws.String(s.StateMachineARN), StatusFilter: sfntypes.ExecutionStatusFailed})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			out["(list executions: "+err.Error()+")"]++
			return out
		}
		for _, e := range page.Executions {
			d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
			if err != nil {
				continue
			}
			cause := aws.ToString(d.Cause)
			if len(cause) > 200 {
				cause = cause[:200]
			}
			out[aws.ToString(d.Error)+": "+cause+taskFailure(ctx, c, e.ExecutionArn)]++
		}
	}
	return out
}

// taskFailure returns the first failed task's error and cause in an execution's history.
func taskFailure(ctx context.Context, c *sfn.Client, arn *string) string {
	h, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: arn, MaxResults: 1000})
	if err != nil {
		return ""
	}
	for _, ev := range h.Events {
		if d := ev.TaskFailedEventDetails; d != nil {
			cause := aws.ToString(d.Cause)
			if len(cause) > 300 {
				cause = cause[:300]
			}
			return " [task " + aws.ToString(d.Resource) + " failed: " + aws.ToString(d.Error) + ": " + cause + "]"
		}
		if d := ev.LambdaFunctionFailedEventDetails; d != nil {
			return " [lambda failed: " + aws.ToString(d.Error) + ": " + aws.ToString(d.Cause) + "]"
		}
	}
	return ""
}
