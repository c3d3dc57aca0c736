package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
	"github.com/orderflow/orderflow/pkg/handler/analytics"
	"github.com/orderflow/orderflow/pkg/queue"
)

// dlqAPI is what the dlq commands need of SQS.
type dlqAPI interface {
	queue.AdminAPI
	ListQueues(ctx context.Context, in *sqs.ListQueuesInput, optFns ...func(*sqs.Options)) (*sqs.ListQueuesOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

// queueInfo is one queue as the dlq commands see it.
type queueInfo struct {
	Name, URL, ARN string
	Depth          int
	InFlight       int
	// DLQARN is the deadLetterTargetArn of the queue's redrive policy, if any.
	DLQARN string
	// Sources are the queues whose redrive policy names this one.
	Sources []*queueInfo
}

// isDLQ reports whether q is a dead-letter queue: named by a redrive policy, or with
// "dlq" as a word of its name (EventBridge and Lambda failure destinations are named by
// no policy; the template names every one of them so).
func (q *queueInfo) isDLQ() bool {
	if len(q.Sources) > 0 {
		return true
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(q.Name), func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		if w == "dlq" || w == "deadletter" {
			return true
		}
	}
	return false
}

// listQueues returns every queue whose name starts with prefix, with its depth and
// redrive relations, sorted by name.
func listQueues(ctx context.Context, c dlqAPI, prefix string) ([]*queueInfo, error) {
	var urls []string
	in := &sqs.ListQueuesInput{MaxResults: aws.Int32(1000)}
	if prefix != "" {
		in.QueueNamePrefix = aws.String(prefix)
	}
	for {
		out, err := c.ListQueues(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list queues: %w", err)
		}
		urls = append(urls, out.QueueUrls...)
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	byARN := map[string]*queueInfo{}
	infos := make([]*queueInfo, 0, len(urls))
	for _, u := range urls {
		out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(u),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
		})
		if err != nil {
			var gone *sqstypes.QueueDoesNotExist
			if errors.As(err, &gone) {
				continue // deleted between the list and now
			}
			return nil, fmt.Errorf("attributes of %s: %w", u, err)
		}
		a := out.Attributes
		q := &queueInfo{URL: u, ARN: a[string(sqstypes.QueueAttributeNameQueueArn)], Name: u[strings.LastIndex(u, "/")+1:]}
		q.Depth, _ = strconv.Atoi(a[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
		q.InFlight, _ = strconv.Atoi(a[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
		if p := a[string(sqstypes.QueueAttributeNameRedrivePolicy)]; p != "" {
			var rp struct {
				DeadLetterTargetArn string `json:"deadLetterTargetArn"`
			}
			if json.Unmarshal([]byte(p), &rp) == nil {
				q.DLQARN = rp.DeadLetterTargetArn
			}
		}
		infos = append(infos, q)
		byARN[q.ARN] = q
	}
	for _, q := range infos {
		if d := byARN[q.DLQARN]; d != nil && q.DLQARN != "" {
			d.Sources = append(d.Sources, q)
		}
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, nil
}

// ofStage reports whether name belongs to stage: the template puts the stage in every
// name as a hyphen-separated word (orders-dev-event-targets-dlq, notify-dlq-dev).
func ofStage(name, stage string) bool {
	for _, w := range strings.Split(name, "-") {
		if w == stage {
			return true
		}
	}
	return false
}

type dlqListOptions struct {
	Prefix string
	All    bool
	Peek   int
	// Bucket holds stream mappings' S3 on-failure records (the data lake's aws/lambda/).
	Bucket string
}

func (e *env) parseDLQList(args []string) (*stackFlags, *dlqListOptions, error) {
	sf := &stackFlags{}
	o := &dlqListOptions{}
	fs := e.newFlagSet("dlq list", sf)
	fs.StringVar(&o.Prefix, "prefix", "", "only queues whose name starts with this (default: the stage's queues)")
	fs.BoolVar(&o.All, "all", false, "every dead-letter queue, whatever its stage")
	fs.IntVar(&o.Peek, "peek", 0, "show the first N messages of each non-empty DLQ and why they failed")
	fs.StringVar(&o.Bucket, "bucket", e.getenv("DATA_LAKE_BUCKET"), "bucket of the stream mappings' S3 on-failure records (default: the data-lake bucket)")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if err := wantArgs(fs, pos); err != nil {
		return nil, nil, err
	}
	if o.Peek < 0 {
		return nil, nil, usageError("dlq list: --peek must be >= 0")
	}
	return sf, o, nil
}

func (e *env) sqsClient(sf *stackFlags) (*sqs.Client, error) {
	cfg, err := e.awsConfig(sf)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg), nil
}

func (e *env) dlqList(ctx context.Context, args []string) error {
	sf, o, err := e.parseDLQList(args)
	if err != nil {
		return err
	}
	cfg, err := e.awsConfig(sf)
	if err != nil {
		return err
	}
	c := sqs.NewFromConfig(cfg)
	if err := listDLQs(ctx, c, queue.NewAdmin(c), sf.Stage, *o, e.stdout, time.Now); err != nil {
		return err
	}
	s3c := s3.NewFromConfig(cfg, func(opt *s3.Options) { opt.UsePathStyle = sf.Endpoint != "aws" })
	if o.Bucket == "" {
		if o.Bucket = findLakeBucket(ctx, s3c, sf.Stage); o.Bucket == "" {
			fmt.Fprintln(e.stdout, "stream on-failure records: no data-lake bucket found (give --bucket)")
			return nil
		}
	}
	return listFailedBatches(ctx, s3c, o.Bucket, o.Peek, e.stdout, time.Now)
}

// listFailedBatches prints the stream batches event source mappings gave up on and wrote,
// records included, to their S3 on-failure destination (aws/lambda/<mapping>/ of bucket):
// per mapping the batches, records and the oldest's age, and with peek > 0 the first
// batches with why they failed and which order events they hold.
func listFailedBatches(ctx context.Context, c failures.S3API, bucket string, peek int, out io.Writer, now func() time.Time) error {
	recs, err := failures.List(ctx, c, bucket)
	if err != nil {
		return err
	}
	where := "s3://" + bucket + "/" + failures.Prefix
	if len(recs) == 0 {
		fmt.Fprintf(out, "stream on-failure records: none in %s\n", where)
		return nil
	}
	type group struct {
		batches, records int
		oldest           time.Time
		source           string
		recs             []failures.Stored
	}
	groups := map[string]*group{}
	var order []string
	for _, r := range recs {
		mapping, _, _ := strings.Cut(strings.TrimPrefix(r.Key, failures.Prefix), "/")
		g := groups[mapping]
		if g == nil {
			g = &group{oldest: r.LastModified}
			groups[mapping] = g
			order = append(order, mapping)
		}
		g.batches++
		g.recs = append(g.recs, r)
		if b := r.KinesisBatchInfo; b != nil {
			g.records += b.BatchSize
			fn := r.RequestContext.FunctionArn[strings.LastIndex(r.RequestContext.FunctionArn, ":")+1:]
			g.source = b.StreamArn[strings.LastIndex(b.StreamArn, "/")+1:] + " -> " + fn
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM ON-FAILURE RECORDS\tBATCHES\tRECORDS\tOLDEST\tSOURCE")
	for _, m := range order {
		g := groups[m]
		fmt.Fprintf(tw, "%s%s/\t%d\t%d\t%s\t%s\n", where, m, g.batches, g.records, formatAge(now().Sub(g.oldest)), g.source)
		for i, r := range g.recs {
			if i >= peek {
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t\t\n", r.Key[strings.LastIndex(r.Key, "/")+1:], r.Timestamp, oneLine(r.Reason()+": "+batchContents(r.Record), 240))
		}
	}
	return tw.Flush()
}

// batchContents names what a failed batch holds: the order events, by eventId, and how
// many records are no order event.
func batchContents(r failures.Record) string {
	ev, err := r.Event()
	if err != nil {
		return err.Error()
	}
	var ids []string
	poison := 0
	for _, kr := range ev.Records {
		if d, err := analytics.Decode(kr.Kinesis.Data); err == nil {
			ids = append(ids, d.Key())
		} else {
			poison++
		}
	}
	s := "events " + strings.Join(ids, " ")
	if len(ids) == 0 {
		s = "no order event"
	}
	if poison > 0 {
		s += fmt.Sprintf(", %d records that are no order event", poison)
	}
	return s
}

// peeker reads messages without consuming them; *queue.Admin satisfies it.
type peeker interface {
	Peek(ctx context.Context, queueURL string, max int) ([]queue.Message, error)
}

// listDLQs prints every dead-letter queue with its depth, the age of its oldest message
// (of those sampled: SQS has no queue attribute for it) and where its messages come from.
func listDLQs(ctx context.Context, c dlqAPI, p peeker, stage string, o dlqListOptions, out io.Writer, now func() time.Time) error {
	queues, err := listQueues(ctx, c, o.Prefix)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tDEPTH\tIN-FLIGHT\tOLDEST\tSOURCE")
	n := 0
	for _, q := range queues {
		if !q.isDLQ() || (o.Prefix == "" && !o.All && !ofStage(q.Name, stage)) {
			continue
		}
		n++
		var msgs []queue.Message
		if q.Depth > 0 {
			sample := max(o.Peek, 10)
			if msgs, err = p.Peek(ctx, q.URL, sample); err != nil {
				return err
			}
		}
		oldest := "-"
		if len(msgs) > 0 {
			first := msgs[0].SentAt
			for _, m := range msgs[1:] {
				if !m.SentAt.IsZero() && m.SentAt.Before(first) {
					first = m.SentAt
				}
			}
			if !first.IsZero() {
				oldest = formatAge(now().Sub(first))
			}
		}
		source := "-"
		if len(q.Sources) > 0 {
			names := make([]string, len(q.Sources))
			for i, s := range q.Sources {
				names[i] = s.Name
			}
			source = strings.Join(names, ",")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", q.Name, q.Depth, q.InFlight, oldest, source)
		for i, m := range msgs {
			if i >= o.Peek {
				break
			}
			fmt.Fprintf(tw, "  %s\tsent %s\treceives %d\t%s\t\n", m.ID, m.SentAt.Format(time.RFC3339), m.ReceiveCount, failureReason(m))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(out, "no dead-letter queues found (stage %q; use --prefix or --all)\n", stage)
	}
	return nil
}

// formatAge renders a duration coarsely: 42s, 5m12s, 3h04m, 2d05h.
func formatAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// failureRecord is a Lambda on-failure destination record: a stream mapping's, or an
// async invoke's, which adds the function's answer.
type failureRecord struct {
	failures.Record
	ResponsePayload json.RawMessage `json:"responsePayload"`
}

// failureReason says why a dead-lettered message failed: EventBridge's ERROR_CODE and
// ERROR_MESSAGE attributes, a Lambda failure record's condition and error, or else the
// body (a redrive DLQ holds the original message, whose failure is in the consumer's logs).
func failureReason(m queue.Message) string {
	if code := m.Attributes["ERROR_CODE"]; code != "" {
		return oneLine(fmt.Sprintf("eventbridge %s: %s", code, m.Attributes["ERROR_MESSAGE"]), 200)
	}
	var r failureRecord
	if json.Unmarshal([]byte(m.Body), &r) == nil && r.RequestContext.Condition != "" {
		s := r.Reason()
		if len(r.ResponsePayload) > 0 {
			var p struct {
				ErrorType    string `json:"errorType"`
				ErrorMessage string `json:"errorMessage"`
			}
			if json.Unmarshal(r.ResponsePayload, &p) == nil && p.ErrorMessage != "" {
				s += fmt.Sprintf(": %s: %s", p.ErrorType, p.ErrorMessage)
			} else {
				s += ": " + string(r.ResponsePayload)
			}
		}
		return oneLine(s, 240)
	}
	return oneLine("body "+m.Body, 160)
}

func oneLine(s string, n int) string {
	return truncate(strings.Join(strings.Fields(s), " "), n)
}

type dlqRedriveOptions struct {
	Queue string
	To    string
}

func (e *env) parseDLQRedrive(args []string) (*stackFlags, *dlqRedriveOptions, error) {
	sf := &stackFlags{}
	o := &dlqRedriveOptions{}
	fs := e.newFlagSet("dlq redrive", sf)
	fs.StringVar(&o.To, "to", "", "target queue (name or URL); default: the queue whose redrive policy names QUEUE")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if err := wantArgs(fs, pos, "QUEUE"); err != nil {
		return nil, nil, err
	}
	o.Queue = pos[0]
	return sf, o, nil
}

func (e *env) dlqRedrive(ctx context.Context, args []string) error {
	sf, o, err := e.parseDLQRedrive(args)
	if err != nil {
		return err
	}
	c, err := e.sqsClient(sf)
	if err != nil {
		return err
	}
	return redriveDLQ(ctx, c, queue.NewAdmin(c), *o, e.stdout)
}

// redriver moves messages between queues; *queue.Admin satisfies it.
type redriver interface {
	Redrive(ctx context.Context, fromURL, toURL string) (int, error)
}

// queueURL resolves a queue name or URL to its URL.
func queueURL(ctx context.Context, c dlqAPI, nameOrURL string) (string, error) {
	if strings.HasPrefix(nameOrURL, "http://") || strings.HasPrefix(nameOrURL, "https://") {
		return nameOrURL, nil
	}
	out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(nameOrURL)})
	if err != nil {
		return "", fmt.Errorf("queue %s: %w", nameOrURL, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// redriveDLQ moves every message of the DLQ back to its source queue (or --to) and
// reports how many moved.
func redriveDLQ(ctx context.Context, c dlqAPI, r redriver, o dlqRedriveOptions, out io.Writer) error {
	from, err := queueURL(ctx, c, o.Queue)
	if err != nil {
		return err
	}
	var to string
	if o.To != "" {
		if to, err = queueURL(ctx, c, o.To); err != nil {
			return err
		}
	} else {
		queues, err := listQueues(ctx, c, "")
		if err != nil {
			return err
		}
		var dlq *queueInfo
		for _, q := range queues {
			if q.URL == from {
				dlq = q
			}
		}
		switch {
		case dlq == nil:
			return fmt.Errorf("dlq redrive: queue %s not found", o.Queue)
		case len(dlq.Sources) == 0:
			return fmt.Errorf("dlq redrive: no queue names %s as its dead-letter queue: its messages are "+
				"EventBridge or Lambda failure records, which have no source queue to go back to; "+
				"inspect them with `orderflow dlq list --peek N`, or give a target with --to", dlq.Name)
		case len(dlq.Sources) > 1:
			names := make([]string, len(dlq.Sources))
			for i, s := range dlq.Sources {
				names[i] = s.Name
			}
			return fmt.Errorf("dlq redrive: %s is the DLQ of several queues (%s): choose one with --to", dlq.Name, strings.Join(names, ", "))
		}
		to = dlq.Sources[0].URL
	}
	n, err := r.Redrive(ctx, from, to)
	fmt.Fprintf(out, "moved %d message(s) from %s to %s\n", n, nameOf(from), nameOf(to))
	return err
}

func nameOf(url string) string { return url[strings.LastIndex(url, "/")+1:] }
