package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
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
	"github.com/orderflow/orderflow/pkg/queue"
)

// DLQAPI is what the dlq commands (and the console) need of SQS; *sqs.Client satisfies it.
type DLQAPI interface {
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
func listQueues(ctx context.Context, c DLQAPI, prefix string) ([]*queueInfo, error) {
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
	// Bucket holds stream mappings' S3 on-failure records (the data lake's aws/lambda/),
	// listed besides the stage's stream-failures buckets.
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
	// With --prefix only the queues, and the bucket given with --bucket.
	var buckets []string
	if o.Prefix == "" {
		if buckets, err = StreamFailureBuckets(ctx, s3c, sf.Stage, o.All); err != nil {
			return err
		}
		if o.Bucket == "" {
			o.Bucket = findLakeBucket(ctx, s3c, sf.Stage)
		}
	}
	if o.Bucket != "" && !slices.Contains(buckets, o.Bucket) {
		buckets = append(buckets, o.Bucket)
	}
	return listFailedBatches(ctx, s3c, buckets, o.Peek, e.stdout, time.Now)
}

func (e *env) s3Client(sf *stackFlags) (*s3.Client, error) {
	cfg, err := e.awsConfig(sf)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = sf.Endpoint != "aws" }), nil
}

// Peeker reads messages without consuming them; *queue.Admin satisfies it.
type Peeker interface {
	Peek(ctx context.Context, queueURL string, max int) ([]queue.Message, error)
}

// DLQ is one dead-letter queue as `dlq list` and the console show it.
type DLQ struct {
	Name, URL       string
	Depth, InFlight int
	// Oldest is when the oldest sampled message was first sent (zero: unknown or empty):
	// SQS has no queue attribute for it.
	Oldest time.Time
	// Sources are the queues whose redrive policy names this one: a redrive goes back
	// to its only source.
	Sources []string
	// Messages are the first messages peeked (as many as asked for), with why they failed.
	Messages []DLQMessage
}

// DLQMessage is one peeked dead-lettered message.
type DLQMessage struct {
	ID           string
	SentAt       time.Time
	ReceiveCount int
	Reason       string
	Body         string
}

// DLQOptions say which dead-letter queues ListDLQs returns: those of Stage by default,
// those whose name starts with Prefix, or All; and how many messages of each to Peek.
type DLQOptions struct {
	Stage  string
	Prefix string
	All    bool
	Peek   int
}

// ListDLQs returns every dead-letter queue o selects, sorted by name, with its depth, the
// first send time of its oldest message (of at least ten sampled) and up to o.Peek
// messages with their failure reasons. It returns the SQS error, wrapped.
func ListDLQs(ctx context.Context, c DLQAPI, p Peeker, o DLQOptions) ([]DLQ, error) {
	queues, err := listQueues(ctx, c, o.Prefix)
	if err != nil {
		return nil, err
	}
	var out []DLQ
	for _, q := range queues {
		if !q.isDLQ() || (o.Prefix == "" && !o.All && !ofStage(q.Name, o.Stage)) {
			continue
		}
		d := DLQ{Name: q.Name, URL: q.URL, Depth: q.Depth, InFlight: q.InFlight}
		for _, s := range q.Sources {
			d.Sources = append(d.Sources, s.Name)
		}
		var msgs []queue.Message
		if q.Depth > 0 {
			if msgs, err = p.Peek(ctx, q.URL, max(o.Peek, 10)); err != nil {
				return nil, err
			}
		}
		for i, m := range msgs {
			if !m.SentAt.IsZero() && (d.Oldest.IsZero() || m.SentAt.Before(d.Oldest)) {
				d.Oldest = m.SentAt
			}
			if i < o.Peek {
				d.Messages = append(d.Messages, DLQMessage{ID: m.ID, SentAt: m.SentAt, ReceiveCount: m.ReceiveCount, Reason: failureReason(m), Body: m.Body})
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// listDLQs prints every dead-letter queue with its depth, the age of its oldest message
// (of those sampled: SQS has no queue attribute for it) and where its messages come from.
func listDLQs(ctx context.Context, c DLQAPI, p Peeker, stage string, o dlqListOptions, out io.Writer, now func() time.Time) error {
	dlqs, err := ListDLQs(ctx, c, p, DLQOptions{Stage: stage, Prefix: o.Prefix, All: o.All, Peek: o.Peek})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tDEPTH\tIN-FLIGHT\tOLDEST\tSOURCE")
	for _, d := range dlqs {
		oldest, source := "-", "-"
		if !d.Oldest.IsZero() {
			oldest = formatAge(now().Sub(d.Oldest))
		}
		if len(d.Sources) > 0 {
			source = strings.Join(d.Sources, ",")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", d.Name, d.Depth, d.InFlight, oldest, source)
		for _, m := range d.Messages {
			fmt.Fprintf(tw, "  %s\tsent %s\treceives %d\t%s\t\n", m.ID, m.SentAt.Format(time.RFC3339), m.ReceiveCount, m.Reason)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(dlqs) == 0 {
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
	fs.StringVar(&o.To, "to", "", "target queue (name or URL); default: the queue whose redrive policy names QUEUE (not for s3://BUCKET)")
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
	if bucket, ok := strings.CutPrefix(o.Queue, "s3://"); ok {
		// A stream mapping's S3 on-failure destination: the batches go back to the
		// function they were for.
		cfg, err := e.awsConfig(sf)
		if err != nil {
			return err
		}
		s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = sf.Endpoint != "aws" })
		return redriveFailures(ctx, s3c, lambdaInvoker{cfg: cfg}, bucket, e.stdout)
	}
	c, err := e.sqsClient(sf)
	if err != nil {
		return err
	}
	return redriveDLQ(ctx, c, queue.NewAdmin(c), *o, e.stdout)
}

// Redriver moves messages between queues; *queue.Admin satisfies it.
type Redriver interface {
	Redrive(ctx context.Context, fromURL, toURL string) (int, error)
}

// queueURL resolves a queue name or URL to its URL.
func queueURL(ctx context.Context, c DLQAPI, nameOrURL string) (string, error) {
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
func redriveDLQ(ctx context.Context, c DLQAPI, r Redriver, o dlqRedriveOptions, out io.Writer) error {
	n, from, to, err := RedriveDLQ(ctx, c, r, o.Queue, o.To)
	if from != "" && to != "" {
		fmt.Fprintf(out, "moved %d message(s) from %s to %s\n", n, nameOf(from), nameOf(to))
	}
	return err
}

// RedriveDLQ moves every message of the DLQ named (or at the URL) dlq back to target, or,
// when target is empty, to the only queue whose redrive policy names the DLQ. It returns
// how many moved and the two queue URLs (empty when they could not be resolved), with an
// error when the DLQ has no single source queue (EventBridge and Lambda failure records
// have none) or a message could not be moved.
func RedriveDLQ(ctx context.Context, c DLQAPI, r Redriver, dlq, target string) (moved int, from, to string, err error) {
	if from, err = queueURL(ctx, c, dlq); err != nil {
		return 0, "", "", err
	}
	if target != "" {
		if to, err = queueURL(ctx, c, target); err != nil {
			return 0, from, "", err
		}
	} else {
		queues, err := listQueues(ctx, c, "")
		if err != nil {
			return 0, from, "", err
		}
		var q *queueInfo
		for _, x := range queues {
			if x.URL == from {
				q = x
			}
		}
		switch {
		case q == nil:
			return 0, from, "", fmt.Errorf("dlq redrive: queue %s not found", dlq)
		case len(q.Sources) == 0:
			return 0, from, "", fmt.Errorf("dlq redrive: no queue names %s as its dead-letter queue: its messages are "+
				"EventBridge or Lambda failure records, which have no source queue to go back to; "+
				"inspect them with `orderflow dlq list --peek N`, or give a target with --to", q.Name)
		case len(q.Sources) > 1:
			names := make([]string, len(q.Sources))
			for i, s := range q.Sources {
				names[i] = s.Name
			}
			return 0, from, "", fmt.Errorf("dlq redrive: %s is the DLQ of several queues (%s): choose one with --to", q.Name, strings.Join(names, ", "))
		}
		to = q.Sources[0].URL
	}
	moved, err = r.Redrive(ctx, from, to)
	return moved, from, to, err
}

func nameOf(url string) string { return url[strings.LastIndex(url, "/")+1:] }
