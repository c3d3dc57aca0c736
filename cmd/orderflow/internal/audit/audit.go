// Package audit checks orderflow's reliability invariants on a running stack (local or
// deployed) from what the stack stores: the orders, inventory and metrics tables, the
// dead-letter queues, the data lake, and, when the caller captured them, the bus events
// and the SNS notifications. Run returns a Report; Report.OK is false on any violation.
package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/handler/analytics"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/lake"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/queue"
)

// DynamoAPI is what the audit reads of DynamoDB.
type DynamoAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// SQSAPI is what the audit needs of SQS: peeking the DLQs and draining the capture queues.
type SQSAPI interface {
	queue.AdminAPI
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	QueueAttributesAPI
}

// QueueAttributesAPI reads a queue's attributes (its depth).
type QueueAttributesAPI interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// S3API is what the audit reads of the data lake.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Config says where the stack's data is. Empty names skip their checks (said in the report).
type Config struct {
	DynamoDB DynamoAPI
	SQS      SQSAPI
	S3       S3API

	OrdersTable, InventoryTable, MetricsTable string
	// Bucket is the data lake, also the analytics mapping's S3 on-failure destination
	// (its aws/lambda/ records are read); "" skips both checks.
	Bucket string
	// DLQs are the dead-letter queue and on-failure destination URLs.
	DLQs []string
	// FailureBuckets are S3 on-failure destinations (the publisher's stream mapping) other
	// than Bucket: each record under failures.Prefix is a discarded batch, its records and
	// its reason.
	FailureBuckets []string
	// EventCapture is a queue receiving every order event of the bus (a rule target);
	// NotificationCapture a queue subscribed (raw delivery or not) to the topic. Both are
	// drained by the audit. "" skips the exactly-once event/notification checks.
	EventCapture, NotificationCapture string
	// Initial is the stock each SKU started with (the catalog); nil checks conservation
	// only against the reservation records.
	Initial map[string]int64
	// Grace: a non-terminal order younger than this is "in flight", not lost.
	Grace time.Duration
	// PendingBound: a PENDING order that no execution has claimed for longer than this
	// is stranded, its Order Created never acted on (default DefaultPendingBound).
	PendingBound time.Duration
	// CaptureTimeout bounds the draining of each capture queue (default 2 min): it is
	// drained until it holds no message, visible or in flight. Audit a settled stack:
	// what arrives after the drain is not seen.
	CaptureTimeout time.Duration
	Now            func() time.Time
}

// DefaultPendingBound is how long an order may stay PENDING without an execution: its
// Order Created is published from the orders table's stream within seconds and starts
// the saga, whose first task claims the order.
const DefaultPendingBound = 2 * time.Minute

// Report is the outcome of an audit.
type Report struct {
	Orders       int              `json:"orders"`
	ByStatus     map[string]int   `json:"byStatus"`
	Confirmed    int              `json:"confirmed"`
	RevenueByCur map[string]int64 `json:"revenue"`
	// Lost are accepted orders neither terminal nor in a DLQ; InDLQ are non-terminal
	// orders whose failure sits in a DLQ; InFlight are younger than Grace.
	Lost     []Stuck `json:"lost"`
	InDLQ    []Stuck `json:"inDlq"`
	InFlight int     `json:"inFlight"`
	// Stranded are PENDING orders that no execution claimed within PendingBound and that
	// are in no DLQ: accepted, never processed.
	Stranded []Stuck `json:"stranded"`
	// Twins are Idempotency-Keys that created more than one order, with the orders.
	Twins map[string][]string `json:"twins"`
	// DLQMessages counts what each DLQ holds (poison inputs included).
	DLQMessages map[string]int `json:"dlqMessages"`
	// Oversold are units confirmed without stock; Stock lists per-SKU problems.
	Oversold int64    `json:"oversold"`
	Stock    []string `json:"stock"`
	// Events: terminal events seen per order (when captured).
	EventsChecked   bool     `json:"eventsChecked"`
	EventCopies     int      `json:"eventCopies"`
	EventDuplicates int      `json:"eventDuplicatesRemovable"`
	EventProblems   []string `json:"eventProblems"`
	// CreatedCopies and CreatedDuplicates count the Order Created events captured and the
	// extra copies of one eventId among them; CreatedProblems say which orders were not
	// announced exactly once, or announced without existing.
	CreatedCopies          int      `json:"createdCopies"`
	CreatedDuplicates      int      `json:"createdDuplicatesRemovable"`
	CreatedProblems        []string `json:"createdProblems"`
	NotificationsChecked   bool     `json:"notificationsChecked"`
	Notifications          int      `json:"notifications"`
	NotificationProblems   []string `json:"notificationProblems"`
	DuplicateNotifications int      `json:"duplicateNotifications"`
	// NotificationsInDLQ are terminal orders whose notification was never seen because
	// its event failed for good and sits in a DLQ (notify's on-failure destination) with
	// the reason: not lost, `orderflow dlq redrive` sends it.
	NotificationsInDLQ []Stuck `json:"notificationsInDlq"`
	// Metrics.
	MetricsConfirmed int64            `json:"metricsConfirmed"`
	MetricsRevenue   map[string]int64 `json:"metricsRevenue"`
	// FailedStreamRecords counts the stream records a mapping gave up on, kept with their
	// batch in the S3 on-failure destination; AnalyticsInDLQ are the order events among
	// them (eventIds): their metrics and data-lake rows are missing until they are
	// replayed, which is not a violation: they are not lost.
	FailedStreamRecords int      `json:"failedStreamRecords"`
	AnalyticsInDLQ      []string `json:"analyticsInDlq"`
	// Data lake.
	LakeChecked          bool     `json:"lakeChecked"`
	LakeRows             int      `json:"lakeRows"`
	LakeDuplicates       int      `json:"lakeDuplicatesRemovable"`
	LakeMissingEventID   int      `json:"lakeRowsWithoutEventId"`
	LakeMissingConfirmed []string `json:"lakeMissingConfirmed"`
	// Violations says, one line each, what broke an invariant; Skipped what was not checked.
	Violations []string `json:"violations"`
	Skipped    []string `json:"skipped"`

	dlq []dlqMessage // what the DLQs hold, read once by checkOrders
	// failed are the order events in the S3 on-failure destination, by eventId.
	failed map[string]analytics.Record
}

// dlqMessage is a message of a DLQ: the queue's name, the body and why it is there;
// stream is the kind of stream ("kinesis", "dynamodb") of an on-failure record in S3.
type dlqMessage struct {
	queue, body, reason, stream string
}

// Stuck is a non-terminal order.
type Stuck struct {
	OrderID string        `json:"orderId"`
	Status  string        `json:"status"`
	Age     time.Duration `json:"age"`
	Reason  string        `json:"reason,omitempty"`
}

// OK reports whether no invariant was violated.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

func (r *Report) violate(format string, args ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}

type orderRow struct {
	id, status, currency, reason string
	total                        int64
	lines                        map[string]int64
	created                      time.Time
	key                          string // the Idempotency-Key that created it
	executed                     bool   // an execution claimed it
}

func terminal(s string) bool { return order.Status(s).Terminal() }

// Run audits the stack. It returns an error only when the data could not be read.
func Run(ctx context.Context, c Config) (*Report, error) {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CaptureTimeout <= 0 {
		c.CaptureTimeout = 2 * time.Minute
	}
	if c.PendingBound <= 0 {
		c.PendingBound = DefaultPendingBound
	}
	r := &Report{ByStatus: map[string]int{}, RevenueByCur: map[string]int64{}, DLQMessages: map[string]int{},
		MetricsRevenue: map[string]int64{}, Twins: map[string][]string{}}
	orders, err := scanOrders(ctx, c)
	if err != nil {
		return nil, err
	}
	r.Orders = len(orders)
	confirmed := map[string]*orderRow{}
	for _, o := range orders {
		r.ByStatus[o.status]++
		if o.status == string(order.StatusConfirmed) {
			confirmed[o.id] = o
			r.Confirmed++
			r.RevenueByCur[o.currency] += o.total
		}
	}
	if err := r.checkOrders(ctx, c, orders); err != nil {
		return nil, err
	}
	r.checkTwins(orders)
	if err := r.checkStock(ctx, c, orders); err != nil {
		return nil, err
	}
	if err := r.checkMetrics(ctx, c, confirmed); err != nil {
		return nil, err
	}
	if err := r.checkLake(ctx, c, confirmed); err != nil {
		return nil, err
	}
	if err := r.checkCaptures(ctx, c, orders); err != nil {
		return nil, err
	}
	return r, nil
}

// Scan calls each for every item of table, read consistently, page by page; it stops at
// the first error each returns.
func Scan(ctx context.Context, c DynamoAPI, table string, each func(map[string]ddbtypes.AttributeValue) error) error {
	var start map[string]ddbtypes.AttributeValue
	for {
		out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("scan %s: %w", table, err)
		}
		for _, it := range out.Items {
			if err := each(it); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}

// scanOrders reads the orders table through its codec (pkg/dynamo), the one owner of its
// layout.
func scanOrders(ctx context.Context, c Config) ([]*orderRow, error) {
	var out []*orderRow
	err := Scan(ctx, c.DynamoDB, c.OrdersTable, func(it map[string]ddbtypes.AttributeValue) error {
		o, err := dynamo.DecodeOrder(it)
		if err != nil {
			// Not an order (written by hand, or by a bug): listed as it is, never terminal.
			out = append(out, &orderRow{id: dynamo.OrderID(it), status: "UNREADABLE", lines: map[string]int64{}, reason: err.Error()})
			return nil
		}
		row := &orderRow{id: o.ID, status: string(o.Status), currency: o.Currency, reason: string(o.FailureReason),
			total: o.Total, lines: map[string]int64{}, created: o.CreatedAt, key: o.IdempotencyKey, executed: o.ExecutionID != ""}
		for _, l := range o.Lines {
			row.lines[l.SKU] += l.Quantity
		}
		out = append(out, row)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, err
}

// checkOrders: every accepted order is terminal, or its failure sits in a DLQ.
func (r *Report) checkOrders(ctx context.Context, c Config, orders []*orderRow) error {
	inDLQ := map[string]string{} // orderId -> reason
	if err := r.readFailedRecords(ctx, c); err != nil {
		return err
	}
	for _, m := range r.dlq {
		if m.stream == "kinesis" { // analytics of the order, not the order's processing
			continue
		}
		for _, o := range orders {
			if strings.Contains(m.body, o.id) {
				inDLQ[o.id] = m.queue + ": " + m.reason
			}
		}
	}
	if c.SQS != nil {
		admin := queue.NewAdmin(c.SQS)
		admin.Hold = 5 * time.Second
		for _, url := range c.DLQs {
			msgs, err := admin.Peek(ctx, url, 10000)
			if err != nil {
				return fmt.Errorf("peek %s: %w", url, err)
			}
			name := url[strings.LastIndex(url, "/")+1:]
			r.DLQMessages[name] = len(msgs)
			for _, m := range msgs {
				r.dlq = append(r.dlq, dlqMessage{queue: name, body: m.Body, reason: reason(m)})
				for _, o := range orders {
					if strings.Contains(m.Body, o.id) {
						inDLQ[o.id] = name + ": " + reason(m)
					}
				}
			}
		}
	}
	now := c.Now()
	for _, o := range orders {
		if terminal(o.status) {
			continue
		}
		st := Stuck{OrderID: o.id, Status: o.status, Age: now.Sub(o.created).Round(time.Second)}
		switch why, ok := inDLQ[o.id]; {
		case ok:
			st.Reason = why
			r.InDLQ = append(r.InDLQ, st)
		case o.status == string(order.StatusPending) && !o.executed && st.Age > c.PendingBound:
			r.Stranded = append(r.Stranded, st)
			r.violate("order %s is PENDING with no execution after %s (bound %s) and in no DLQ: accepted, never processed", o.id, st.Age, c.PendingBound)
		case c.Grace > 0 && st.Age < c.Grace:
			r.InFlight++
		default:
			r.Lost = append(r.Lost, st)
			r.violate("order %s is %s after %s and not in any DLQ", o.id, o.status, st.Age)
		}
	}
	return nil
}

// checkTwins: one Idempotency-Key creates at most one order.
func (r *Report) checkTwins(orders []*orderRow) {
	byKey := map[string][]string{}
	for _, o := range orders {
		if o.key != "" {
			byKey[o.key] = append(byKey[o.key], o.id)
		}
	}
	for _, k := range sortedKeys(byKey) {
		if ids := byKey[k]; len(ids) > 1 {
			r.Twins[k] = ids
			r.violate("Idempotency-Key %q created %d orders: %s", k, len(ids), strings.Join(ids, ", "))
		}
	}
}

func reason(m queue.Message) string {
	if code := m.Attributes["ERROR_CODE"]; code != "" {
		return code + " " + m.Attributes["ERROR_MESSAGE"]
	}
	var rec struct {
		RequestContext struct {
			Condition string `json:"condition"`
		} `json:"requestContext"`
	}
	if json.Unmarshal([]byte(m.Body), &rec) == nil && rec.RequestContext.Condition != "" {
		return rec.RequestContext.Condition
	}
	return fmt.Sprintf("dead-lettered after %d receives", m.ReceiveCount)
}

// checkStock: stock never negative; current + RESERVED reservations == initial per SKU;
// a confirmed order holds a RESERVED reservation of its lines, and no other order does.
func (r *Report) checkStock(ctx context.Context, c Config, orders []*orderRow) error {
	if c.InventoryTable == "" {
		r.Skipped = append(r.Skipped, "stock: no inventory table")
		return nil
	}
	stock := map[string]int64{}
	reserved := map[string]int64{}
	resByOrder := map[string]map[string]int64{}
	err := Scan(ctx, c.DynamoDB, c.InventoryTable, func(it map[string]ddbtypes.AttributeValue) error {
		rec, err := dynamo.DecodeInventory(it)
		switch {
		case err != nil:
			r.violate("unreadable inventory item: %v", err)
		case rec.Item != nil:
			stock[rec.Item.SKU] = rec.Item.Stock
		case rec.Reservation != nil && (rec.Reservation.State == inventory.Pending || rec.Reservation.State == inventory.Releasing):
			r.violate("reservation of order %s left %s (a reserve or release that never finished)", rec.Reservation.OrderID, rec.Reservation.State)
		case rec.Reservation != nil && rec.Reservation.State == inventory.Reserved:
			l := map[string]int64{}
			for _, ln := range rec.Reservation.Lines {
				l[ln.SKU] += ln.Quantity
				reserved[ln.SKU] += ln.Quantity
			}
			resByOrder[rec.Reservation.OrderID] = l
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, sku := range sortedKeys(stock) {
		cur := stock[sku]
		if cur < 0 {
			r.Oversold += -cur
			r.violate("stock of %s is %d (negative)", sku, cur)
		}
		if init, ok := c.Initial[sku]; ok && cur+reserved[sku] != init {
			msg := fmt.Sprintf("%s: current %d + reserved %d = %d, initial %d", sku, cur, reserved[sku], cur+reserved[sku], init)
			r.Stock = append(r.Stock, msg)
			r.violate("stock not conserved: %s", msg)
		}
	}
	if c.Initial == nil {
		r.Skipped = append(r.Skipped, "stock conservation against the initial stock: no catalog given (checked against reservations only)")
	}
	byID := map[string]*orderRow{}
	for _, o := range orders {
		byID[o.id] = o
		if o.status != string(order.StatusConfirmed) {
			continue
		}
		res, ok := resByOrder[o.id]
		if !ok {
			var units int64
			for _, q := range o.lines {
				units += q
			}
			r.Oversold += units
			r.violate("confirmed order %s holds no RESERVED reservation (%d units unaccounted)", o.id, units)
			continue
		}
		for sku, q := range o.lines {
			if res[sku] != q {
				r.violate("confirmed order %s reserved %d of %s, ordered %d", o.id, res[sku], sku, q)
			}
		}
	}
	for _, id := range sortedKeys(resByOrder) {
		o := byID[id]
		switch {
		case o == nil:
			r.violate("the reservation of order %s is RESERVED but no such order exists", id)
		case o.status == string(order.StatusCancelled) || o.status == string(order.StatusRejected):
			r.violate("order %s is %s but its reservation is still RESERVED (stock leaked)", id, o.status)
		}
	}
	return nil
}

// readFailedRecords reads the stream batches the mappings discarded to their S3 on-failure
// destinations (failures.Prefix of the lake bucket and of every failure bucket): a
// publisher batch names its orders in its payload; an analytics batch's order events are
// decoded, by eventId.
func (r *Report) readFailedRecords(ctx context.Context, c Config) error {
	r.failed = map[string]analytics.Record{}
	var buckets []string
	for _, b := range append([]string{c.Bucket}, c.FailureBuckets...) {
		if b != "" && !slices.Contains(buckets, b) {
			buckets = append(buckets, b)
		}
	}
	if len(buckets) == 0 || c.S3 == nil {
		r.Skipped = append(r.Skipped, "failed stream records: no bucket")
		return nil
	}
	for _, b := range buckets {
		recs, err := failures.List(ctx, c.S3, b)
		if err != nil {
			return err
		}
		where := "s3://" + b + "/" + failures.Prefix
		r.DLQMessages[where] = len(recs)
		for _, rec := range recs {
			_, kind := rec.Batch()
			m := dlqMessage{queue: where, body: rec.Key, reason: rec.Reason(), stream: kind}
			p, err := rec.EventJSON()
			if err != nil {
				m.reason += ": " + err.Error()
				r.dlq = append(r.dlq, m)
				continue
			}
			m.body = string(p)
			if kind == "kinesis" {
				ev, err := rec.KinesisEvent()
				if err != nil {
					m.reason += ": " + err.Error()
				}
				var ids []string
				for _, kr := range ev.Records {
					r.FailedStreamRecords++
					if d, err := analytics.Decode(kr.Kinesis.Data); err == nil {
						r.failed[d.Key()] = d
						ids = append(ids, d.Key())
					}
				}
				m.body = strings.Join(ids, " ")
			} else if b, _ := rec.Batch(); b != nil {
				r.FailedStreamRecords += b.BatchSize
			}
			r.dlq = append(r.dlq, m)
		}
	}
	r.AnalyticsInDLQ = sortedKeys(r.failed)
	return nil
}

// failedConfirmed returns the confirmed orders whose Order Confirmed event sits in the S3
// on-failure destination, and their revenue per currency.
func (r *Report) failedConfirmed(confirmed map[string]*orderRow) (int64, map[string]int64) {
	n, rev := int64(0), map[string]int64{}
	for id, o := range confirmed {
		if _, ok := r.failed[id+":CONFIRMED"]; ok {
			n++
			rev[o.currency] += o.total
		}
	}
	return n, rev
}

// checkMetrics: the per-minute CONFIRMED counts and revenue add up to the confirmed
// orders, less at most those whose Order Confirmed event sits in the on-failure
// destination (counted once it is replayed).
func (r *Report) checkMetrics(ctx context.Context, c Config, confirmed map[string]*orderRow) error {
	if c.MetricsTable == "" {
		r.Skipped = append(r.Skipped, "metrics: no metrics table")
		return nil
	}
	err := Scan(ctx, c.DynamoDB, c.MetricsTable, func(it map[string]ddbtypes.AttributeValue) error {
		m, ok, err := dynamo.DecodeMinute(it)
		switch {
		case err != nil:
			r.violate("unreadable metrics item: %v", err)
		case ok:
			r.MetricsConfirmed += m.Count[string(order.StatusConfirmed)]
			for cur, rev := range m.Revenue {
				r.MetricsRevenue[cur] += rev
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	held, heldRev := r.failedConfirmed(confirmed)
	if r.MetricsConfirmed > int64(r.Confirmed) || r.MetricsConfirmed < int64(r.Confirmed)-held {
		r.violate("metrics count %d confirmed orders, the orders table %d (%d in the on-failure destination)", r.MetricsConfirmed, r.Confirmed, held)
	}
	for _, cur := range sortedKeys(union(r.MetricsRevenue, r.RevenueByCur)) {
		if r.MetricsRevenue[cur] > r.RevenueByCur[cur] || r.MetricsRevenue[cur] < r.RevenueByCur[cur]-heldRev[cur] {
			r.violate("metrics revenue %s %d, confirmed orders' total %d (%d in the on-failure destination)", cur, r.MetricsRevenue[cur], r.RevenueByCur[cur], heldRev[cur])
		}
	}
	return nil
}

func union(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k := range a {
		out[k] = 0
	}
	for k := range b {
		out[k] = 0
	}
	return out
}

// busEvent is what the audit reads of an order event captured from the bus.
type busEvent struct {
	DetailType string `json:"detail-type"`
	Detail     struct {
		Metadata struct {
			EventID string `json:"eventId"`
		} `json:"metadata"`
		Data struct {
			OrderID string `json:"orderId"`
			Status  string `json:"status"`
		} `json:"data"`
	} `json:"detail"`
}

// checkLake: every row carries its eventId; duplicates are removable; the distinct
// CONFIRMED eventIds cover the confirmed orders.
func (r *Report) checkLake(ctx context.Context, c Config, confirmed map[string]*orderRow) error {
	if c.Bucket == "" || c.S3 == nil {
		r.Skipped = append(r.Skipped, "data lake: no bucket")
		return nil
	}
	r.LakeChecked = true
	seen := map[string]int{}
	var token *string
	for {
		out, err := c.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(c.Bucket), Prefix: aws.String(lake.Prefix), ContinuationToken: token})
		if err != nil {
			return fmt.Errorf("list %s: %w", c.Bucket, err)
		}
		for _, obj := range out.Contents {
			got, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.Bucket), Key: obj.Key})
			if err != nil {
				return fmt.Errorf("get %s: %w", aws.ToString(obj.Key), err)
			}
			body, err := io.ReadAll(got.Body)
			got.Body.Close()
			if err != nil {
				return err
			}
			sc := bufio.NewScanner(bytes.NewReader(body))
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				line := bytes.TrimSpace(sc.Bytes())
				if len(line) == 0 {
					continue
				}
				r.LakeRows++
				var row analytics.Row
				if json.Unmarshal(line, &row) != nil || row.EventID == "" {
					r.LakeMissingEventID++
					continue
				}
				seen[row.EventID]++
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		token = out.NextContinuationToken
	}
	for _, k := range seen {
		r.LakeDuplicates += k - 1
	}
	if r.LakeMissingEventID > 0 {
		r.violate("%d data-lake rows carry no eventId", r.LakeMissingEventID)
	}
	for _, id := range sortedKeys(confirmed) {
		_, held := r.failed[id+":CONFIRMED"]
		if seen[id+":CONFIRMED"] == 0 && !held {
			r.LakeMissingConfirmed = append(r.LakeMissingConfirmed, id)
		}
	}
	if len(r.LakeMissingConfirmed) > 0 {
		r.violate("%d confirmed orders have no row in the data lake (first: %s)", len(r.LakeMissingConfirmed), r.LakeMissingConfirmed[0])
	}
	return nil
}

// captured is an event or notification read from a capture queue.
type captured struct {
	EventID string
	OrderID string
	Status  string
}

// checkCaptures: exactly one terminal event (distinct eventId, copies removable) and one
// notification per terminal order.
func (r *Report) checkCaptures(ctx context.Context, c Config, orders []*orderRow) error {
	if c.EventCapture == "" {
		r.Skipped = append(r.Skipped, "exactly one terminal event per order: no --event-capture queue")
	} else {
		evs, err := drain(ctx, c, c.EventCapture, decodeEvent)
		if err != nil {
			return err
		}
		r.EventsChecked = true
		r.EventCopies = len(evs)
		r.checkCreated(evs, orders)
		unkept := orders[:0:0]
		for _, o := range orders {
			if !r.keptRecord(o.id) { // a change kept in an on-failure bucket is announced on redrive
				unkept = append(unkept, o)
			}
		}
		r.EventDuplicates, r.EventProblems = perOrder(evs, unkept, "terminal event")
		for _, p := range r.EventProblems {
			r.violate("%s", p)
		}
	}
	if c.NotificationCapture == "" {
		r.Skipped = append(r.Skipped, "exactly one notification per order: no --notification-capture queue")
		return nil
	}
	ns, err := drain(ctx, c, c.NotificationCapture, decodeNotification)
	if err != nil {
		return err
	}
	r.NotificationsChecked = true
	r.Notifications = len(ns)
	orders = r.notificationsInDLQ(orders, ns, c.Now())
	r.DuplicateNotifications, r.NotificationProblems = perOrder(ns, orders, "notification")
	for _, p := range r.NotificationProblems {
		r.violate("%s", p)
	}
	// Copies with the same eventId are not a violation: SNS delivers at least once, and a
	// notify crash after SNS accepted the message but before its marker was marked done
	// sends it again under the same eventId, which subscribers deduplicate on. A second
	// notification of a different state change is a violation (perOrder reports it).
	return nil
}

// notificationsInDLQ drops the terminal orders whose notification was not captured but
// whose terminal event (its eventId, <orderId>:<STATUS>) sits in a DLQ: the notify
// function failed for good on it (Lambda's async invoke sends the event to the
// on-failure destination with the condition), so the notification is not lost but
// waiting for a redrive. They are listed in the report.
func (r *Report) notificationsInDLQ(orders []*orderRow, ns []captured, now time.Time) []*orderRow {
	notified := map[string]bool{}
	for _, n := range ns {
		notified[n.OrderID] = true
	}
	out := orders[:0:0]
	for _, o := range orders {
		if terminal(o.status) && !notified[o.id] {
			if m, ok := r.dlqHolding(o.id + ":" + o.status); ok {
				r.NotificationsInDLQ = append(r.NotificationsInDLQ, Stuck{OrderID: o.id, Status: o.status,
					Age: now.Sub(o.created).Round(time.Second), Reason: m.queue + ": " + m.reason})
				continue
			}
		}
		out = append(out, o)
	}
	return out
}

// keptRecord reports whether an S3 on-failure destination holds a stream record of
// order id: its change was discarded by the publisher's mapping, with the reason, and is
// published when the record is redriven.
func (r *Report) keptRecord(id string) bool {
	for _, m := range r.dlq {
		if m.stream == "dynamodb" && strings.Contains(m.body, id) {
			return true
		}
	}
	return false
}

// dlqHolding returns the first DLQ message that names s (an eventId, or an order id in
// a kept stream record).
func (r *Report) dlqHolding(s string) (dlqMessage, bool) {
	for _, m := range r.dlq {
		if strings.Contains(m.body, s) {
			return m, true
		}
	}
	return dlqMessage{}, false
}

// checkCreated: every order of the table was announced by exactly one Order Created
// (one distinct eventId, <orderId>:PENDING; copies of it are counted, not violations),
// unless its stream record sits in an on-failure destination; and no Order Created
// announced an order that does not exist (a write that never committed).
func (r *Report) checkCreated(evs []captured, orders []*orderRow) {
	copies := map[string]int{}
	byOrder := map[string]map[string]bool{}
	for _, e := range evs {
		if e.Status != string(order.StatusPending) {
			continue
		}
		r.CreatedCopies++
		copies[e.EventID]++
		if byOrder[e.OrderID] == nil {
			byOrder[e.OrderID] = map[string]bool{}
		}
		byOrder[e.OrderID][e.EventID] = true
	}
	for _, k := range copies {
		r.CreatedDuplicates += k - 1
	}
	exists := map[string]bool{}
	for _, o := range orders {
		exists[o.id] = true
		switch got := byOrder[o.id]; {
		case len(got) == 1:
		case len(got) == 0:
			if r.keptRecord(o.id) {
				continue // its record is kept with the reason; redrive publishes it
			}
			r.CreatedProblems = append(r.CreatedProblems, fmt.Sprintf("order %s (%s) was never announced by an Order Created", o.id, o.status))
		default:
			r.CreatedProblems = append(r.CreatedProblems, fmt.Sprintf("order %s was announced by %d different Order Created events %v", o.id, len(got), keys(got)))
		}
	}
	for _, id := range sortedKeys(byOrder) {
		if !exists[id] {
			r.CreatedProblems = append(r.CreatedProblems, fmt.Sprintf("an Order Created announced order %s, which does not exist", id))
		}
	}
	for _, p := range r.CreatedProblems {
		r.violate("%s", p)
	}
}

// perOrder checks one terminal item per terminal order, of the order's status; it
// returns the extra copies of the same eventId and the problems.
func perOrder(items []captured, orders []*orderRow, what string) (int, []string) {
	copies := map[string]int{}
	byOrder := map[string]map[string]bool{}
	for _, it := range items {
		if !terminal(it.Status) {
			continue
		}
		copies[it.EventID]++
		if byOrder[it.OrderID] == nil {
			byOrder[it.OrderID] = map[string]bool{}
		}
		byOrder[it.OrderID][it.Status] = true
	}
	dups := 0
	for _, k := range copies {
		dups += k - 1
	}
	var problems []string
	for _, o := range orders {
		got := byOrder[o.id]
		switch {
		case !terminal(o.status) && len(got) > 0:
			problems = append(problems, fmt.Sprintf("order %s is %s but a %s %v was published", o.id, o.status, what, keys(got)))
		case !terminal(o.status):
		case len(got) == 0:
			problems = append(problems, fmt.Sprintf("order %s is %s but no %s was seen", o.id, o.status, what))
		case len(got) > 1 || !got[o.status]:
			problems = append(problems, fmt.Sprintf("order %s is %s but %ss %v were seen", o.id, o.status, what, keys(got)))
		}
	}
	return dups, problems
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func decodeEvent(body string) (captured, bool) {
	var row busEvent
	if json.Unmarshal([]byte(body), &row) != nil || row.Detail.Data.OrderID == "" {
		return captured{}, false
	}
	return captured{EventID: row.Detail.Metadata.EventID, OrderID: row.Detail.Data.OrderID, Status: row.Detail.Data.Status}, true
}

func decodeNotification(body string) (captured, bool) {
	// An SNS envelope (no raw delivery) wraps the message in "Message".
	var env struct {
		Type    string `json:"Type"`
		Message string `json:"Message"`
	}
	if json.Unmarshal([]byte(body), &env) == nil && env.Type == "Notification" {
		body = env.Message
	}
	var m struct {
		EventID string `json:"eventId"`
		OrderID string `json:"orderId"`
		Status  string `json:"status"`
	}
	if json.Unmarshal([]byte(body), &m) != nil || m.OrderID == "" {
		return captured{}, false
	}
	return captured{EventID: m.EventID, OrderID: m.OrderID, Status: m.Status}, true
}

// drain receives and deletes every message of a capture queue until the queue says it
// holds none (visible, in flight or delayed), within CaptureTimeout.
func drain(ctx context.Context, c Config, url string, decode func(string) (captured, bool)) ([]captured, error) {
	ctx, cancel := context.WithTimeout(ctx, c.CaptureTimeout)
	defer cancel()
	var out []captured
	for {
		got, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			WaitTimeSeconds: 1, VisibilityTimeout: 60})
		if err != nil {
			return nil, fmt.Errorf("drain %s: %w", url, err)
		}
		if len(got.Messages) == 0 {
			left, err := QueueDepth(ctx, c.SQS, url)
			if err != nil {
				return nil, fmt.Errorf("drain %s: %w", url, err)
			}
			if left == 0 {
				return out, nil
			}
			continue
		}
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range got.Messages {
			if cap, ok := decode(aws.ToString(m.Body)); ok {
				out = append(out, cap)
			}
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if _, err := c.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del}); err != nil {
			return nil, fmt.Errorf("drain %s: %w", url, err)
		}
	}
}

// QueueDepth returns how many messages a queue holds: visible, in flight and delayed.
func QueueDepth(ctx context.Context, c QueueAttributesAPI, url string) (int, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range out.Attributes {
		k, _ := strconv.Atoi(v)
		n += k
	}
	return n, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Write prints the report for people.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "orders: %d", r.Orders)
	for _, st := range sortedKeys(r.ByStatus) {
		fmt.Fprintf(w, "  %s %d", st, r.ByStatus[st])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "lost (not terminal, not in a DLQ): %d; stranded (PENDING, no execution): %d; in a DLQ: %d; in flight: %d\n",
		len(r.Lost), len(r.Stranded), len(r.InDLQ), r.InFlight)
	for _, st := range r.Lost {
		fmt.Fprintf(w, "  lost %s %s age %s\n", st.OrderID, st.Status, st.Age)
	}
	for _, st := range r.Stranded {
		fmt.Fprintf(w, "  stranded %s %s age %s\n", st.OrderID, st.Status, st.Age)
	}
	fmt.Fprintf(w, "orders created twice for one Idempotency-Key: %d\n", len(r.Twins))
	for _, k := range sortedKeys(r.Twins) {
		fmt.Fprintf(w, "  key %q: %s\n", k, strings.Join(r.Twins[k], ", "))
	}
	for _, st := range r.InDLQ {
		fmt.Fprintf(w, "  dlq  %s %s age %s: %s\n", st.OrderID, st.Status, st.Age, st.Reason)
	}
	for _, q := range sortedKeys(r.DLQMessages) {
		fmt.Fprintf(w, "dlq %s: %d messages\n", q, r.DLQMessages[q])
	}
	fmt.Fprintf(w, "oversold units: %d\n", r.Oversold)
	if r.EventsChecked {
		fmt.Fprintf(w, "Order Created: %d captured, %d duplicate copies (removable by eventId), %d problems\n",
			r.CreatedCopies, r.CreatedDuplicates, len(r.CreatedProblems))
		fmt.Fprintf(w, "terminal events: %d copies captured, %d duplicate copies (removable by eventId), %d problems\n",
			r.EventCopies-r.CreatedCopies, r.EventDuplicates, len(r.EventProblems))
	}
	if r.NotificationsChecked {
		fmt.Fprintf(w, "notifications: %d captured, %d copies of an eventId (deduplicated by subscribers), %d problems, %d failed for good and in a DLQ\n",
			r.Notifications, r.DuplicateNotifications, len(r.NotificationProblems), len(r.NotificationsInDLQ))
		for _, st := range r.NotificationsInDLQ {
			fmt.Fprintf(w, "  dlq  notification of %s %s age %s: %s\n", st.OrderID, st.Status, st.Age, st.Reason)
		}
	}
	fmt.Fprintf(w, "metrics: %d confirmed (orders table %d), revenue %v (orders %v)\n", r.MetricsConfirmed, r.Confirmed, r.MetricsRevenue, r.RevenueByCur)
	if r.LakeChecked {
		fmt.Fprintf(w, "data lake: %d rows, %d duplicates (removable by eventId), %d without eventId, %d confirmed orders missing\n",
			r.LakeRows, r.LakeDuplicates, r.LakeMissingEventID, len(r.LakeMissingConfirmed))
	}
	if r.FailedStreamRecords > 0 {
		fmt.Fprintf(w, "failed stream records (S3 on-failure destination, not lost): %d, order events among them: %d\n", r.FailedStreamRecords, len(r.AnalyticsInDLQ))
		for _, id := range r.AnalyticsInDLQ {
			fmt.Fprintf(w, "  dlq  analytics of %s\n", id)
		}
	}
	for _, sk := range r.Skipped {
		fmt.Fprintf(w, "not checked: %s\n", sk)
	}
	if r.OK() {
		fmt.Fprintln(w, "audit: PASS")
		return
	}
	fmt.Fprintf(w, "audit: FAIL (%d violations)\n", len(r.Violations))
	for i, v := range r.Violations {
		if i == 50 {
			fmt.Fprintf(w, "  ... %d more\n", len(r.Violations)-50)
			break
		}
		fmt.Fprintf(w, "  %s\n", v)
	}
}
