package console

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/order"
	tpl "github.com/orderflow/orderflow/tools/template"
)

// roles are the logical IDs of the resources the console reads, found through the
// environment variables the functions are configured with (the contract between the
// template and the code), so a renamed resource is still found.
type roles struct {
	Orders, Inventory, Idempotency, Metrics, Lake, Bus, StateMachine, Stream string
}

func findRoles(t *tpl.Template) roles {
	var r roles
	vars := map[string]*string{"ORDERS_TABLE": &r.Orders, "INVENTORY_TABLE": &r.Inventory,
		"IDEMPOTENCY_TABLE": &r.Idempotency, "METRICS_TABLE": &r.Metrics, "DATA_LAKE_BUCKET": &r.Lake,
		"EVENT_BUS_NAME": &r.Bus}
	for _, id := range t.IDs("AWS::Serverless::Function", "AWS::Lambda::Function") {
		env, _ := dig(t.Resources[id].Properties, "Environment", "Variables").(map[string]any)
		for name, dst := range vars {
			if target, ok := tpl.Target(env[name]); ok && *dst == "" {
				*dst = target
			}
		}
	}
	if ids := t.IDs("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"); len(ids) > 0 {
		r.StateMachine = ids[0]
	}
	if ids := t.IDs("AWS::Kinesis::Stream"); len(ids) > 0 {
		r.Stream = ids[0]
	}
	return r
}

// maxScan bounds the orders one refresh reads: the console is for watching a flow, not
// for counting a production table (that is what the metrics table and Athena are for).
const maxScan = 20000

// Snapshot is what the flow picture shows, refreshed at most once a second whoever asks.
type Snapshot struct {
	At time.Time `json:"at"`
	// Counters are one line per node of the picture, by logical ID.
	Counters map[string]string `json:"counters"`
	// Alert marks nodes that need a look (a non-empty DLQ, failed executions).
	Alert map[string]bool `json:"alert"`
	// Orders counts the orders by status; Events the business events they imply.
	Orders     map[string]int `json:"orders"`
	OrderTotal int            `json:"orderTotal"`
	Events     map[string]int `json:"events"`
	// Executions counts the state machine's executions by status (capped at 1000 each).
	Executions map[string]int `json:"executions"`
	// Lag is the age of the oldest business event of the last ten minutes that
	// analytics (the stream's consumer) has not applied yet; Behind how many there are.
	LagSeconds float64 `json:"lagSeconds"`
	Behind     int     `json:"behind"`
	// DLQTotal is the depth of every DLQ of the picture added up.
	DLQTotal int `json:"dlqTotal"`
	// Errors are the reads that failed (the rest of the snapshot is still shown).
	Errors []string `json:"errors,omitempty"`
	// latest are the newest orders, for the orders view.
	latest []*order.Order
}

func (c *Console) apiCounters(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, c.snapshot(r.Context()))
}

// snapshot returns the current snapshot, taking a new one when the last is over a second
// old.
func (c *Console) snapshot(ctx context.Context) *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != nil && time.Since(c.snapAt) < time.Second {
		return c.snap
	}
	s := c.take(ctx)
	c.snap, c.snapAt = s, time.Now()
	return s
}

// take reads everything the picture shows. Called with c.mu held.
func (c *Console) take(ctx context.Context) *Snapshot {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s := &Snapshot{At: time.Now().UTC(), Counters: map[string]string{}, Alert: map[string]bool{},
		Orders: map[string]int{}, Events: map[string]int{}, Executions: map[string]int{}}
	fail := func(what string, err error) { s.Errors = append(s.Errors, what+": "+err.Error()) }

	// Orders and the events their statuses imply.
	err := dynamo.ScanOrders(ctx, c.ddb, c.name(c.roles.Orders), maxScan, func(o *order.Order) error {
		s.Orders[string(o.Status)]++
		s.OrderTotal++
		for _, e := range impliedEvents(o) {
			s.Events[e.detailType]++
		}
		s.latest = append(s.latest, o)
		return nil
	})
	if err != nil {
		fail("orders", err)
	}
	sort.Slice(s.latest, func(i, j int) bool { return s.latest[i].CreatedAt.After(s.latest[j].CreatedAt) })
	c.streamLag(ctx, s)

	for _, n := range c.flow.Nodes {
		switch n.Kind {
		case KindAPI:
			s.Counters[n.ID] = plural(s.OrderTotal, "order") + " accepted"
		case KindTable:
			if n.ID == c.roles.Orders {
				s.Counters[n.ID] = plural(s.OrderTotal, "order") + " · " + strconv.Itoa(s.OrderTotal-terminal(s.Orders)) + " in flight"
			}
		case KindBus:
			total := 0
			for _, v := range s.Events {
				total += v
			}
			s.Counters[n.ID] = plural(total, "event")
		case KindRule:
			dts := ruleDetailTypes(c.opts.Template, n.ID)
			matched := 0
			for dt, v := range s.Events {
				if len(dts) == 0 || contains(dts, dt) {
					matched += v
				}
			}
			s.Counters[n.ID] = plural(matched, "event") + " matched"
		case KindStream:
			if s.Behind == 0 {
				s.Counters[n.ID] = "lag 0s · all applied"
			} else {
				s.Counters[n.ID] = "lag " + formatSeconds(s.LagSeconds) + " · " + strconv.Itoa(s.Behind) + " behind"
				s.Alert[n.ID] = s.LagSeconds > 60
			}
		case KindQueue, KindDLQ:
			depth, inflight, err := c.depth(ctx, n.ID)
			if err != nil {
				fail(n.ID, err)
				s.Counters[n.ID] = "depth ?"
				continue
			}
			s.Counters[n.ID] = "depth " + strconv.Itoa(depth) + " · in flight " + strconv.Itoa(inflight)
			if n.Kind == KindDLQ {
				s.Counters[n.ID] = "depth " + strconv.Itoa(depth)
				s.Alert[n.ID] = depth > 0
				s.DLQTotal += depth
			}
		}
	}
	if sm := c.flow.Node(c.roles.StateMachine); sm != nil {
		if err := c.executions(ctx, s); err != nil {
			fail("executions", err)
		}
		failed := s.Executions["FAILED"] + s.Executions["TIMED_OUT"] + s.Executions["ABORTED"]
		s.Counters[sm.ID] = strconv.Itoa(s.Executions["RUNNING"]) + " running · " + strconv.Itoa(s.Executions["SUCCEEDED"]) +
			" ok · " + strconv.Itoa(failed) + " failed"
		s.Alert[sm.ID] = failed > 0
	}
	return s
}

func terminal(byStatus map[string]int) int {
	n := 0
	for st, c := range byStatus {
		if order.Status(st).Terminal() {
			n += c
		}
	}
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func formatSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < 10*time.Second:
		return strconv.FormatFloat(s, 'f', 1, 64) + "s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

// impliedEvent is a business event an order's status says was published: Order Created
// for every stored order, and the event of its terminal status.
type impliedEvent struct {
	id, detailType string
	at             time.Time
}

func impliedEvents(o *order.Order) []impliedEvent {
	out := []impliedEvent{{id: event.ID(o.ID, order.StatusPending), detailType: event.OrderCreated, at: o.CreatedAt}}
	if o.Status.Terminal() {
		if dt, ok := event.ForStatus(o.Status); ok {
			out = append(out, impliedEvent{id: event.ID(o.ID, o.Status), detailType: dt, at: o.UpdatedAt})
		}
	}
	return out
}

// lagWindow is how far back stream lag looks; lagChecks bounds the lookups per refresh.
const (
	lagWindow = 10 * time.Minute
	lagChecks = 100
)

// streamLag finds the recent events analytics (the stream's consumer) has not applied:
// each is looked up in the metrics table until it is, then remembered.
func (c *Console) streamLag(ctx context.Context, s *Snapshot) {
	if c.roles.Metrics == "" {
		return
	}
	checks := 0
	for _, o := range s.latest {
		for _, e := range impliedEvents(o) {
			if c.applied[e.id] || s.At.Sub(e.at) > lagWindow {
				continue
			}
			if checks < lagChecks {
				checks++
				ok, err := c.metrics.Applied(ctx, e.id)
				if err != nil {
					s.Errors = append(s.Errors, "stream lag: "+err.Error())
					return
				}
				if ok {
					c.applied[e.id] = true
					continue
				}
			}
			s.Behind++
			s.LagSeconds = max(s.LagSeconds, s.At.Sub(e.at).Seconds())
		}
	}
}

// queueURL resolves a queue's URL from its name, once.
func (c *Console) queueURL(ctx context.Context, id string) (string, error) {
	if u := c.queueURLs[id]; u != "" {
		return u, nil
	}
	out, err := c.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(c.name(id))})
	if err != nil {
		return "", err
	}
	c.queueURLs[id] = aws.ToString(out.QueueUrl)
	return c.queueURLs[id], nil
}

func (c *Console) depth(ctx context.Context, id string) (depth, inflight int, err error) {
	u, err := c.queueURL(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	out, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return 0, 0, err
	}
	depth, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	inflight, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return depth, inflight, nil
}

// stateMachine returns the state machine's ARN, found by its name when not given.
func (c *Console) stateMachine(ctx context.Context) (string, error) {
	if c.smARN != "" {
		return c.smARN, nil
	}
	name := c.name(c.roles.StateMachine)
	p := sfn.NewListStateMachinesPaginator(c.sfn, &sfn.ListStateMachinesInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return "", err
		}
		for _, m := range out.StateMachines {
			if aws.ToString(m.Name) == name {
				c.smARN = aws.ToString(m.StateMachineArn)
				return c.smARN, nil
			}
		}
	}
	return "", &notFound{what: "state machine " + name}
}

type notFound struct{ what string }

func (e *notFound) Error() string { return e.what + " not found" }

// executions counts executions by status: one page (up to 1000) each.
func (c *Console) executions(ctx context.Context, s *Snapshot) error {
	arn, err := c.stateMachine(ctx)
	if err != nil {
		return err
	}
	for _, st := range []sfntypes.ExecutionStatus{sfntypes.ExecutionStatusRunning, sfntypes.ExecutionStatusSucceeded,
		sfntypes.ExecutionStatusFailed, sfntypes.ExecutionStatusTimedOut, sfntypes.ExecutionStatusAborted} {
		out, err := c.sfn.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arn), StatusFilter: st, MaxResults: 1000})
		if err != nil {
			return err
		}
		s.Executions[strings.ToUpper(string(st))] = len(out.Executions)
	}
	return nil
}
