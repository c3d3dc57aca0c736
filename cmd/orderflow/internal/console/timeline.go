package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/cli"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/handler/analytics"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
)

// Step is one line of an order's timeline.
type Step struct {
	At time.Time `json:"at"`
	// DurationMs is how long the step took (0: an instant).
	DurationMs float64 `json:"durationMs"`
	// Kind groups steps for the eye: api, event, state, inventory, notify, lake, end, dlq.
	Kind   string `json:"kind"`
	Title  string `json:"title"`
	Detail string `json:"detail,omitempty"`
	// Status is ok, failed, waiting or info.
	Status string `json:"status"`
}

// Timeline is one order's way through the system.
type Timeline struct {
	Order orderRow `json:"order"`
	// Execution is the name of the order's execution ("" when none was found).
	Execution string `json:"execution,omitempty"`
	Steps     []Step `json:"steps"`
	// Stopped says where and why a failed order stopped.
	Stopped string   `json:"stopped,omitempty"`
	Errors  []string `json:"errors,omitempty"`
}

func (c *Console) apiTimeline(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tl, err := c.timeline(r.Context(), id)
	switch {
	case errors.Is(err, order.ErrNotFound):
		writeError(w, http.StatusNotFound, "ORDER_NOT_FOUND", "no order "+id)
	case err != nil:
		writeError(w, http.StatusBadGateway, "READ_FAILED", err.Error())
	default:
		writeJSON(w, tl)
	}
}

// timeline assembles what the AWS APIs say about an order: the order itself (API
// accepted), its execution's history (each state, the inventory command and its answer),
// the data lake's rows of its events (published, then written by analytics), the
// notification marker, the reservation, and DLQ messages that mention it.
func (c *Console) timeline(ctx context.Context, id string) (*Timeline, error) {
	o, err := c.orders.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tl := &Timeline{Order: rowOf(o, now)}
	fail := func(what string, err error) { tl.Errors = append(tl.Errors, what+": "+err.Error()) }
	tl.Steps = append(tl.Steps, Step{At: o.CreatedAt, Kind: "api", Status: "ok", Title: "API accepted the order (PENDING)",
		Detail: fmt.Sprintf("customer %s · %d line(s) · %s", o.CustomerID, len(o.Lines), lineSummary(o.Lines))})

	if arn, err := c.findExecution(ctx, o); err != nil {
		fail("execution", err)
	} else if arn != "" {
		tl.Execution = arn[strings.LastIndex(arn, ":")+1:]
		stopped, err := c.historySteps(ctx, arn, tl)
		if err != nil {
			fail("execution history", err)
		}
		tl.Stopped = stopped
	} else if !o.Status.Terminal() {
		tl.Steps = append(tl.Steps, Step{At: now, Kind: "state", Status: "waiting", Title: "no execution yet",
			Detail: "waiting for Order Created to start the order-processing state machine"})
	}

	events := impliedEvents(o)
	rows, err := c.lake.rows(ctx, c, c.name(c.roles.Lake), o)
	if err != nil {
		fail("data lake", err)
	}
	for _, e := range events {
		c.eventSteps(ctx, tl, e, rows[e.id], o)
	}
	if len(events) > 1 && c.roles.Idempotency != "" {
		outcome := events[len(events)-1]
		st, ok, err := dynamo.LookupMarker(ctx, c.ddb, c.name(c.roles.Idempotency), dynamo.NotifyMarkerPrefix, outcome.id)
		switch {
		case err != nil:
			fail("notification", err)
		case ok && st.Done():
			tl.Steps = append(tl.Steps, Step{At: st.ClaimedAt, Kind: "notify", Status: "ok", Title: "notification sent",
				Detail: outcome.detailType + " on the notifications topic (event " + outcome.id + ")"})
		case ok:
			tl.Steps = append(tl.Steps, Step{At: st.ClaimedAt, Kind: "notify", Status: "waiting", Title: "notification in progress",
				Detail: "claimed, not yet marked done"})
		default:
			tl.Steps = append(tl.Steps, Step{At: now, Kind: "notify", Status: "waiting", Title: "no notification yet"})
		}
	}
	if c.roles.Inventory != "" {
		inv := dynamo.NewInventoryStore(c.ddb, c.name(c.roles.Inventory))
		state, lines, err := inv.Reservation(ctx, o.ID)
		switch {
		case errors.Is(err, inventory.ErrNoReservation):
		case err != nil:
			fail("reservation", err)
		default:
			parts := make([]string, len(lines))
			for i, l := range lines {
				parts[i] = fmt.Sprintf("%s×%d", l.SKU, l.Quantity)
			}
			tl.Steps = append(tl.Steps, Step{At: o.UpdatedAt, Kind: "inventory", Status: "info",
				Title: "stock reservation " + string(state), Detail: strings.Join(parts, ", ")})
		}
	}
	if !o.Status.Terminal() || o.FailureReason == order.ReasonProcessingFailed {
		c.dlqSteps(ctx, tl, o, now)
	}
	if tl.Stopped == "" && o.FailureReason != "" {
		tl.Stopped = string(o.Status) + ": " + string(o.FailureReason)
	}
	sort.SliceStable(tl.Steps, func(i, j int) bool { return tl.Steps[i].At.Before(tl.Steps[j].At) })
	return tl, nil
}

func lineSummary(lines []order.Line) string {
	parts := make([]string, 0, len(lines))
	for _, l := range lines {
		parts = append(parts, fmt.Sprintf("%s×%d", l.SKU, l.Quantity))
	}
	return strings.Join(parts, ", ")
}

// findExecution returns the ARN of the order's execution: the one that claimed the
// order (stored on it), else one of the executions started after the order whose input
// names it.
func (c *Console) findExecution(ctx context.Context, o *order.Order) (string, error) {
	if o.ExecutionID != "" {
		return o.ExecutionID, nil
	}
	c.mu.Lock()
	arn, err := c.stateMachine(ctx)
	c.mu.Unlock()
	if err != nil {
		return "", err
	}
	p := sfn.NewListExecutionsPaginator(c.sfn, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arn)})
	described := 0
	for p.HasMorePages() && described < 200 {
		out, err := p.NextPage(ctx)
		if err != nil {
			return "", err
		}
		for _, e := range out.Executions {
			if e.StartDate != nil && e.StartDate.Before(o.CreatedAt.Add(-time.Minute)) {
				return "", nil // newest first: the rest started before the order
			}
			described++
			d, err := c.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
			if err != nil {
				return "", err
			}
			if strings.Contains(aws.ToString(d.Input), `"orderId":"`+o.ID+`"`) {
				return aws.ToString(e.ExecutionArn), nil
			}
		}
	}
	return "", nil
}

// openState is a state entered and not yet left.
type openState struct {
	name     string
	entered  time.Time
	attempts int
	command  string
	result   string
	failure  string
}

// historySteps adds a step per state of the execution, in order, with its duration, the
// task's input (tokens redacted) and answer, retries and failures. It returns where and
// why a failed execution stopped.
func (c *Console) historySteps(ctx context.Context, arn string, tl *Timeline) (string, error) {
	p := sfn.NewGetExecutionHistoryPaginator(c.sfn, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
	var open *openState
	var lastFailure, stopped string
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return stopped, err
		}
		for _, e := range out.Events {
			at := aws.ToTime(e.Timestamp)
			typ := string(e.Type)
			switch {
			case e.Type == sfntypes.HistoryEventTypeExecutionStarted:
				var in struct {
					DetailType string       `json:"detail-type"`
					Time       time.Time    `json:"time"`
					Detail     event.Detail `json:"detail"`
				}
				if d := e.ExecutionStartedEventDetails; d != nil && json.Unmarshal([]byte(aws.ToString(d.Input)), &in) == nil && in.DetailType != "" {
					tl.Steps = append(tl.Steps, Step{At: at, Kind: "state", Status: "ok", Title: "execution started by " + in.DetailType,
						Detail: "event " + in.Detail.Metadata.EventID + " · execution " + tl.Execution})
				} else {
					tl.Steps = append(tl.Steps, Step{At: at, Kind: "state", Status: "ok", Title: "execution started"})
				}
			case e.StateEnteredEventDetails != nil:
				open = &openState{name: aws.ToString(e.StateEnteredEventDetails.Name), entered: at}
			case e.TaskScheduledEventDetails != nil && open != nil:
				open.attempts++
				open.command = summarize(aws.ToString(e.TaskScheduledEventDetails.Parameters))
			case e.TaskSucceededEventDetails != nil && open != nil:
				open.result = summarize(aws.ToString(e.TaskSucceededEventDetails.Output))
			case e.TaskFailedEventDetails != nil && open != nil:
				open.failure = aws.ToString(e.TaskFailedEventDetails.Error) + ": " + oneLine(aws.ToString(e.TaskFailedEventDetails.Cause), 200)
				lastFailure = open.name + " — " + open.failure
			case e.TaskTimedOutEventDetails != nil && open != nil:
				open.failure = aws.ToString(e.TaskTimedOutEventDetails.Error) + ": " + oneLine(aws.ToString(e.TaskTimedOutEventDetails.Cause), 200)
				lastFailure = open.name + " — " + open.failure
			case e.StateExitedEventDetails != nil:
				if open == nil {
					continue
				}
				s := Step{At: open.entered, DurationMs: float64(at.Sub(open.entered).Microseconds()) / 1000, Kind: "state", Status: "ok", Title: open.name}
				if task, ok := c.flow.Tasks[open.name]; ok {
					s.Title += " → " + label(task)
					if task == c.inventoryQueue() {
						s.Kind = "inventory"
					}
				}
				var parts []string
				if open.command != "" {
					parts = append(parts, "sent "+open.command)
				}
				if open.attempts > 1 {
					parts = append(parts, fmt.Sprintf("%d attempts", open.attempts))
				}
				if open.failure != "" {
					parts = append(parts, "failed "+open.failure)
					s.Status = "failed"
				}
				if open.result != "" {
					parts = append(parts, "answer "+open.result)
					s.Status = "ok"
				}
				s.Detail = strings.Join(parts, " · ")
				tl.Steps = append(tl.Steps, s)
				open = nil
			case e.ExecutionSucceededEventDetails != nil || e.Type == sfntypes.HistoryEventTypeExecutionSucceeded:
				tl.Steps = append(tl.Steps, Step{At: at, Kind: "end", Status: "ok", Title: "execution succeeded"})
			case strings.HasPrefix(typ, "Execution") && (strings.HasSuffix(typ, "Failed") || strings.HasSuffix(typ, "TimedOut") || strings.HasSuffix(typ, "Aborted")):
				why := typ
				if d := e.ExecutionFailedEventDetails; d != nil {
					why = aws.ToString(d.Error) + ": " + oneLine(aws.ToString(d.Cause), 200)
				}
				tl.Steps = append(tl.Steps, Step{At: at, Kind: "end", Status: "failed", Title: "execution " + strings.ToLower(strings.TrimPrefix(typ, "Execution")), Detail: why})
				stopped = why
				if lastFailure != "" {
					stopped = lastFailure
				}
			}
		}
	}
	if open != nil {
		tl.Steps = append(tl.Steps, Step{At: open.entered, DurationMs: float64(time.Since(open.entered).Microseconds()) / 1000,
			Kind: "state", Status: "waiting", Title: open.name + " (running)", Detail: open.command})
	}
	if stopped == "" && lastFailure != "" && tl.Order.Reason != "" {
		stopped = lastFailure
	}
	return stopped, nil
}

// inventoryQueue is the queue the state machine sends inventory commands to.
func (c *Console) inventoryQueue() string {
	for _, e := range c.flow.Edges {
		if e.From == c.roles.StateMachine && c.flow.Node(e.To).Kind == KindQueue {
			return e.To
		}
	}
	return ""
}

// summarize renders a task's parameters or answer on one line, tokens redacted: the
// message or payload a task sends without its envelope (queue URL, function name) and
// without the ids every step repeats.
func summarize(js string) string {
	var v map[string]any
	if json.Unmarshal([]byte(js), &v) == nil {
		for _, inner := range []string{"MessageBody", "Payload"} {
			if m, ok := v[inner].(map[string]any); ok {
				v = m
			}
		}
		delete(v, "correlationId")
		delete(v, "executionId")
		if b, err := json.Marshal(v); err == nil {
			js = string(b)
		}
	}
	return oneLine(logging.RedactJSON(js), 400)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// eventSteps adds an event's publication and its data-lake row (or that it is missing).
func (c *Console) eventSteps(ctx context.Context, tl *Timeline, e impliedEvent, rows []lakeRow, o *order.Order) {
	if len(rows) == 0 {
		status := "waiting"
		if time.Since(e.at) > lagWindow {
			status = "failed"
		}
		tl.Steps = append(tl.Steps, Step{At: e.at, Kind: "event", Status: status, Title: e.detailType + ": not in the data lake yet",
			Detail: "event " + e.id})
		return
	}
	r := rows[0]
	tl.Steps = append(tl.Steps, Step{At: r.Time, Kind: "event", Status: "ok", Title: e.detailType + " published on the bus",
		Detail: "event " + e.id})
	detail := fmt.Sprintf("s3://%s/%s", c.name(c.roles.Lake), r.Key)
	if len(rows) > 1 {
		detail += fmt.Sprintf(" (%d rows: a retried batch; queries deduplicate on eventId)", len(rows))
	}
	tl.Steps = append(tl.Steps, Step{At: r.Written, DurationMs: float64(r.Written.Sub(r.Time).Milliseconds()), Kind: "lake", Status: "ok",
		Title: "data-lake row for " + e.detailType, Detail: detail})
}

// dlqSteps adds the dead-lettered messages that mention the order.
func (c *Console) dlqSteps(ctx context.Context, tl *Timeline, o *order.Order, now time.Time) {
	dlqs, err := cli.ListDLQs(ctx, c.sqs, c.admin, cli.DLQOptions{Stage: c.opts.Stage, Peek: 100})
	if err != nil {
		tl.Errors = append(tl.Errors, "dlqs: "+err.Error())
		return
	}
	for _, d := range dlqs {
		for _, m := range d.Messages {
			if strings.Contains(m.Body, o.ID) {
				tl.Steps = append(tl.Steps, Step{At: m.SentAt, Kind: "dlq", Status: "failed", Title: "dead-lettered in " + d.Name, Detail: m.Reason})
				if tl.Stopped == "" {
					tl.Stopped = "in " + d.Name + ": " + m.Reason
				}
			}
		}
	}
}

// lakeRow is one data-lake row of an order: its event and when the object was written.
type lakeRow struct {
	EventID, DetailType, OrderID, Key string
	Time, Written                     time.Time
}

// lakeCache remembers the rows of the data-lake objects read so far (objects are written
// once per batch; a retried batch writes a new one), by order id.
type lakeCache struct {
	mu      sync.Mutex
	read    map[string]bool
	byOrder map[string][]lakeRow
}

func newLakeCache() *lakeCache {
	return &lakeCache{read: map[string]bool{}, byOrder: map[string][]lakeRow{}}
}

// lakeObjects bounds the objects one lookup reads and the cache holds.
const (
	lakeReads  = 300
	lakeMaxKey = 20000
)

// rows returns the data-lake rows of o's events by event id: it reads the objects of the
// days o lived in (raw/dt=YYYY-MM-DD/) written since o was created, that it has not read yet.
func (lc *lakeCache) rows(ctx context.Context, c *Console, bucket string, o *order.Order) (map[string][]lakeRow, error) {
	if bucket == "" {
		return nil, nil
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if len(lc.read) > lakeMaxKey {
		lc.read, lc.byOrder = map[string]bool{}, map[string][]lakeRow{}
	}
	reads := 0
	days := []time.Time{o.CreatedAt}
	if o.UpdatedAt.UTC().Format(time.DateOnly) != o.CreatedAt.UTC().Format(time.DateOnly) {
		days = append(days, o.UpdatedAt)
	}
	for _, day := range days {
		prefix := "raw/dt=" + day.UTC().Format(time.DateOnly) + "/"
		p := s3.NewListObjectsV2Paginator(c.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, obj := range out.Contents {
				key := aws.ToString(obj.Key)
				written := aws.ToTime(obj.LastModified)
				if lc.read[key] || written.Before(o.CreatedAt.Add(-time.Minute)) || reads >= lakeReads {
					continue
				}
				reads++
				if err := lc.readObject(ctx, c, bucket, key, written); err != nil {
					return nil, err
				}
			}
		}
	}
	out := map[string][]lakeRow{}
	for _, r := range lc.byOrder[o.ID] {
		out[r.EventID] = append(out[r.EventID], r)
	}
	return out, nil
}

func (lc *lakeCache) readObject(ctx context.Context, c *Console, bucket, key string, written time.Time) error {
	obj, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	defer obj.Body.Close()
	sc := bufio.NewScanner(obj.Body)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		var row analytics.Row
		if json.Unmarshal(sc.Bytes(), &row) != nil || row.OrderID == "" || seen[row.EventID] {
			continue
		}
		seen[row.EventID] = true
		lc.byOrder[row.OrderID] = append(lc.byOrder[row.OrderID], lakeRow{EventID: row.EventID,
			DetailType: row.DetailType, OrderID: row.OrderID, Key: key, Time: row.OccurredAt, Written: written})
	}
	lc.read[key] = true
	return sc.Err()
}
