package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/audit"
	"github.com/orderflow/orderflow/pkg/inventory"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// auditOptions are the flags of `orderflow audit`.
type auditOptions struct {
	OrdersTable, MetricsTable, Bucket string
	DLQs                              listFlag
	FailureBuckets                    listFlag
	EventCapture, NotifyCapture       string
	Catalog                           string
	Grace                             time.Duration
	JSON                              bool
}

// auditCmd runs `orderflow audit`: the invariants on the stack the flags name; an error
// (exit 1) when one is violated.
func (e *env) auditCmd(ctx context.Context, args []string) error {
	var sf stackFlags
	var o auditOptions
	fs := e.newFlagSet("audit", &sf)
	fs.StringVar(&o.OrdersTable, "orders-table", e.getenv("ORDERS_TABLE"), "orders table (default orders-<stage>)")
	fs.StringVar(&o.MetricsTable, "metrics-table", e.getenv("METRICS_TABLE"), "metrics table (default metrics-<stage>)")
	fs.StringVar(&o.Bucket, "bucket", e.getenv("DATA_LAKE_BUCKET"), "data-lake bucket, also the analytics stream's S3 on-failure destination (default: the bucket whose name has data-lake/datalake)")
	fs.Var(&o.DLQs, "dlq", "DLQ or on-failure queue name or URL (repeatable; default the template's three)")
	fs.Var(&o.FailureBuckets, "failure-bucket", "S3 on-failure destination of a stream mapping (repeatable; default the stage's buckets whose name has stream-failures)")
	fs.StringVar(&o.EventCapture, "event-capture", "", "queue URL receiving every order event of the bus (drained): checks one terminal event per order")
	fs.StringVar(&o.NotifyCapture, "notification-capture", "", "queue URL subscribed to the topic (drained): checks one notification per order")
	fs.StringVar(&o.Catalog, "catalog", "", `initial stock per SKU: a catalog file ({"items":[{"sku":..,"stock":..}]})`)
	fs.DurationVar(&o.Grace, "grace", 0, "a non-terminal order younger than this is in flight, not lost")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := e.awsConfig(&sf)
	if err != nil {
		return err
	}
	sq := sqs.NewFromConfig(cfg)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = sf.Endpoint != "aws" })
	c := audit.Config{DynamoDB: dynamodb.NewFromConfig(cfg), SQS: sq, S3: s3c,
		OrdersTable: or(o.OrdersTable, "orders-"+sf.Stage), InventoryTable: sf.inventoryTable(),
		MetricsTable: or(o.MetricsTable, "metrics-"+sf.Stage), Bucket: o.Bucket,
		EventCapture: o.EventCapture, NotificationCapture: o.NotifyCapture, Grace: o.Grace}
	if c.Bucket == "" {
		c.Bucket = findLakeBucket(ctx, s3c, sf.Stage)
	}
	c.FailureBuckets = o.FailureBuckets
	if len(c.FailureBuckets) == 0 {
		if c.FailureBuckets, err = StreamFailureBuckets(ctx, s3c, sf.Stage, false); err != nil {
			return err
		}
	}
	dlqs := []string(o.DLQs)
	if len(dlqs) == 0 {
		// The analytics mapping's on-failure destination is the data-lake bucket (S3),
		// read with the lake.
		dlqs = []string{"inventory-commands-dlq-" + sf.Stage, "notify-dlq-" + sf.Stage, "orders-" + sf.Stage + "-event-targets-dlq"}
	}
	for _, q := range dlqs {
		url, err := queueURL(ctx, sq, q)
		if err != nil {
			fmt.Fprintf(e.stderr, "audit: DLQ %s not found, skipped: %v\n", q, err)
			continue
		}
		c.DLQs = append(c.DLQs, url)
	}
	if o.Catalog != "" {
		initial, err := readInitial(o.Catalog)
		if err != nil {
			return err
		}
		c.Initial = initial
	}
	r, err := audit.Run(ctx, c)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if o.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		r.Write(e.stdout)
	}
	if !r.OK() {
		return fmt.Errorf("audit failed: %d violations", len(r.Violations))
	}
	return nil
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// readInitial reads the initial stock per SKU from a catalog file (inventory.ParseCatalog).
func readInitial(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	items, err := inventory.ParseCatalog(b)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	out := map[string]int64{}
	for _, it := range items {
		out[it.SKU] = it.Stock
	}
	return out, nil
}

// findLakeBucket returns the one bucket whose name mentions the data lake (and the stage,
// when several do); "" when none.
func findLakeBucket(ctx context.Context, c *s3.Client, stage string) string {
	return findBucket(ctx, c, stage, "data-lake", "datalake")
}

// findBucket returns the one bucket whose name contains one of marks (and the stage, when
// several do); "" when none.
func findBucket(ctx context.Context, c *s3.Client, stage string, marks ...string) string {
	out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return ""
	}
	var found []string
	for _, b := range out.Buckets {
		n := strings.ToLower(aws.ToString(b.Name))
		for _, m := range marks {
			if strings.Contains(n, m) {
				found = append(found, aws.ToString(b.Name))
				break
			}
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	for _, f := range found {
		if strings.Contains(f, stage) {
			return f
		}
	}
	return ""
}
