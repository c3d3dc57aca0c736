package console

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/cli"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/logging"
	tpl "github.com/orderflow/orderflow/tools/template"
)

// dlqView is one DLQ as the page shows it.
type dlqView struct {
	Name          string       `json:"name"`
	Depth         int          `json:"depth"`
	InFlight      int          `json:"inFlight"`
	OldestSeconds float64      `json:"oldestSeconds"`
	Sources       []string     `json:"sources"`
	Redrivable    bool         `json:"redrivable"`
	Messages      []dlqMsgView `json:"messages"`
}

type dlqMsgView struct {
	ID       string    `json:"id"`
	SentAt   time.Time `json:"sentAt"`
	Receives int       `json:"receives"`
	Reason   string    `json:"reason"`
	Body     string    `json:"body"`
}

// peekN is how many messages of each DLQ the page shows.
const peekN = 5

func (c *Console) apiDLQs(w http.ResponseWriter, r *http.Request) {
	dlqs, err := cli.ListDLQs(r.Context(), c.sqs, c.admin, cli.DLQOptions{Stage: c.opts.Stage, Peek: peekN})
	if err != nil {
		writeError(w, http.StatusBadGateway, "READ_FAILED", err.Error())
		return
	}
	now := time.Now()
	out := []dlqView{}
	for _, d := range dlqs {
		v := dlqView{Name: d.Name, Depth: d.Depth, InFlight: d.InFlight, Sources: d.Sources, Redrivable: len(d.Sources) == 1,
			Messages: []dlqMsgView{}}
		if v.Sources == nil {
			v.Sources = []string{}
		}
		if !d.Oldest.IsZero() {
			v.OldestSeconds = now.Sub(d.Oldest).Seconds()
		}
		for _, m := range d.Messages {
			v.Messages = append(v.Messages, dlqMsgView{ID: m.ID, SentAt: m.SentAt, Receives: m.ReceiveCount,
				Reason: logging.RedactJSON(m.Reason), Body: oneLine(logging.RedactJSON(m.Body), 400)})
		}
		out = append(out, v)
	}
	// The stream mappings' S3 on-failure destinations, one card per mapping: redriven
	// with `orderflow dlq redrive s3://BUCKET`, which invokes the function again.
	groups, err := cli.ListFailedBatches(r.Context(), c.s3, c.failureBuckets())
	if err != nil {
		writeError(w, http.StatusBadGateway, "READ_FAILED", err.Error())
		return
	}
	for _, g := range groups {
		v := dlqView{Name: g.Where, Depth: len(g.Batches), Sources: []string{}, Messages: []dlqMsgView{}}
		if g.Source != "-" {
			v.Sources = []string{g.Source}
		}
		if len(g.Batches) > 0 {
			v.OldestSeconds = now.Sub(g.Batches[0].LastModified).Seconds()
		}
		for i, b := range g.Batches {
			if i >= peekN {
				break
			}
			payload, _ := b.EventJSON()
			v.Messages = append(v.Messages, dlqMsgView{ID: b.Key, SentAt: b.LastModified, Receives: b.RequestContext.ApproximateInvokeCount,
				Reason: logging.RedactJSON(cli.FailedBatchReason(b.Record)), Body: oneLine(logging.RedactJSON(string(payload)), 400)})
		}
		out = append(out, v)
	}
	writeJSON(w, map[string]any{"dlqs": out, "readOnly": !c.opts.AllowActions})
}

// failureBuckets are the physical names of the buckets the template's stream mappings
// discard batches to (their S3 on-failure destinations; the data lake's is a nested
// stack's output).
func (c *Console) failureBuckets() []string {
	var out []string
	t := c.opts.Template
	for _, id := range t.IDs("AWS::Lambda::EventSourceMapping") {
		dest, ok := tpl.Target(dig(t.Resources[id].Properties, "DestinationConfig", "OnFailure", "Destination"))
		if !ok || (t.Resources[dest].Type != "AWS::S3::Bucket" && dest != c.roles.Lake) {
			continue
		}
		if n := c.name(dest); n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// apiRedrive moves a DLQ's messages back to its source queue, as `orderflow dlq redrive`.
func (c *Console) apiRedrive(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Queue string `json:"queue"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil || in.Queue == "" {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", `want {"queue": "<dlq name>"}`)
		return
	}
	moved, from, to, err := cli.RedriveDLQ(r.Context(), c.sqs, c.admin, in.Queue, "")
	res := map[string]any{"moved": moved, "from": nameOf(from), "to": nameOf(to)}
	if err != nil {
		res["error"] = err.Error()
	}
	c.mu.Lock()
	c.snap = nil // the next picture shows the new depths
	c.mu.Unlock()
	writeJSON(w, res)
}

func nameOf(url string) string {
	for i := len(url) - 1; i >= 0; i-- {
		if url[i] == '/' {
			return url[i+1:]
		}
	}
	return url
}

// loadRun is the console's one load run at a time.
type loadRun struct {
	mu       sync.Mutex
	spec     cli.LoadSpec
	started  time.Time
	ended    time.Time
	done     int
	results  map[string]int
	expected int
	lat      []time.Duration
	report   *cli.LoadReport
	err      string
	cancel   context.CancelFunc
	finished chan struct{}
}

// maxLoadOrders bounds a run started from the page: the console is a demo tool, and the
// local emulator's memory grows with every order.
const maxLoadOrders = 2000

func (c *Console) apiLoadStart(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Orders      int    `json:"orders"`
		Concurrency int    `json:"concurrency"`
		Mix         string `json:"mix"`
		Seed        uint64 `json:"seed"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "want {orders, concurrency, mix, seed}")
		return
	}
	if in.Orders < 1 || in.Orders > maxLoadOrders || in.Concurrency < 1 || in.Concurrency > 64 {
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "orders must be 1..2000 and concurrency 1..64")
		return
	}
	if in.Mix == "" {
		in.Mix = "default"
	}
	if in.Seed == 0 {
		in.Seed = uint64(time.Now().UnixNano())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.load != nil && c.load.ended.IsZero() {
		writeError(w, http.StatusConflict, "LOAD_RUNNING", "a load run is in progress")
		return
	}
	run := &loadRun{started: time.Now(), results: map[string]int{}, finished: make(chan struct{})}
	run.spec = cli.LoadSpec{API: c.opts.API, Authorization: c.opts.Authorization, Orders: in.Orders, Concurrency: in.Concurrency,
		Seed: in.Seed, Mix: in.Mix, Timeout: 60 * time.Second, Poll: 100 * time.Millisecond, OnOutcome: run.add}
	if c.roles.Inventory != "" {
		run.spec.Inventory = dynamo.NewInventoryStore(c.ddb, c.name(c.roles.Inventory))
		run.spec.InventoryTable = c.name(c.roles.Inventory)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run.cancel = cancel
	c.load = run
	go func() {
		defer close(run.finished)
		rep, err := cli.RunLoad(ctx, run.spec)
		run.mu.Lock()
		defer run.mu.Unlock()
		run.ended, run.report = time.Now(), rep
		if err != nil {
			run.err = err.Error()
		}
	}()
	writeJSON(w, map[string]any{"started": true, "seed": in.Seed})
}

func (l *loadRun) add(o cli.LoadOutcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done++
	l.results[o.Result]++
	if o.Expected {
		l.expected++
	}
	if o.Terminal {
		l.lat = append(l.lat, o.Latency)
	}
}

// stopLoad cancels a running load run and waits for it.
func (c *Console) stopLoad() {
	c.mu.Lock()
	run := c.load
	c.mu.Unlock()
	if run != nil {
		run.cancel()
		<-run.finished
	}
}

// histBins is the number of bars of the live latency histogram.
const histBins = 24

func (c *Console) apiLoadStatus(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	run := c.load
	c.mu.Unlock()
	if run == nil {
		writeJSON(w, map[string]any{"state": "idle", "readOnly": !c.opts.AllowActions})
		return
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	state := "running"
	end := time.Now()
	if !run.ended.IsZero() {
		state, end = "done", run.ended
	}
	sum := cli.Summarize(run.lat)
	var bins []map[string]any
	if len(run.lat) > 0 {
		h := cli.NewHistogram(run.lat, histBins)
		for i, n := range h.Counts {
			bins = append(bins, map[string]any{"fromMs": (time.Duration(i) * h.Width).Milliseconds(), "toMs": (time.Duration(i+1) * h.Width).Milliseconds(), "count": n})
		}
	}
	elapsed := end.Sub(run.started).Seconds()
	writeJSON(w, map[string]any{"state": state, "readOnly": !c.opts.AllowActions, "total": run.spec.Orders, "done": run.done,
		"expected": run.expected, "results": run.results, "elapsedSeconds": elapsed, "rate": float64(run.done) / max(elapsed, 0.001),
		"p50Ms": sum.P50.Milliseconds(), "p95Ms": sum.P95.Milliseconds(), "p99Ms": sum.P99.Milliseconds(), "histogram": bins, "error": run.err,
		"seed": run.spec.Seed, "mix": run.spec.Mix, "concurrency": run.spec.Concurrency})
}

// apiFaults shows the faults the local stack injects (--faults) and how many so far.
func (c *Console) apiFaults(w http.ResponseWriter, r *http.Request) {
	if c.opts.Faults == nil {
		writeJSON(w, map[string]any{"enabled": false})
		return
	}
	st := c.opts.Faults.Stats()
	writeJSON(w, map[string]any{"enabled": c.opts.Faults.Spec().Enabled(), "spec": c.opts.Faults.Spec(), "stats": st,
		"summary": st.Summary()})
}
