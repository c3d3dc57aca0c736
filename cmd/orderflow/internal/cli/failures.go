package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
	"github.com/orderflow/orderflow/pkg/handler/analytics"
)

// The stream mappings keep what they discard in S3 on-failure destinations (the
// publisher's stream-failures bucket, the analytics mapping's data-lake bucket): one
// object per discarded batch, Lambda's invocation record with the batch itself as its
// payload (a stream record outlives the stream's 24 hours only there), as package
// failures writes and reads them. `dlq list` shows these buckets beside the queues;
// `dlq redrive s3://BUCKET` invokes the function again with each payload and deletes the
// objects whose records it took.

// failureBucketMark is in the name of every stream-failures bucket of the template.
const failureBucketMark = "stream-failures"

// failuresAPI is what the commands need of S3.
type failuresAPI interface {
	ListBuckets(ctx context.Context, in *s3.ListBucketsInput, optFns ...func(*s3.Options)) (*s3.ListBucketsOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// StreamFailureBuckets returns the stage's stream-failures buckets (every one with all),
// the publisher's S3 on-failure destinations. It returns the S3 error.
func StreamFailureBuckets(ctx context.Context, c failuresAPI, stage string, all bool) ([]string, error) {
	out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	var names []string
	for _, b := range out.Buckets {
		n := aws.ToString(b.Name)
		if strings.Contains(n, failureBucketMark) && (all || ofStage(n, stage)) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// FailedBatches are the stream batches one mapping discarded to an S3 on-failure
// destination, oldest first.
type FailedBatches struct {
	// Where is s3://<bucket>/aws/lambda/<mapping>/ (s3://<bucket>/aws/lambda/ for a
	// bucket that holds none).
	Where   string
	Records int
	// Source names the stream and the function ("order-stream-dev -> analytics").
	Source  string
	Batches []failures.Stored
}

// ListFailedBatches returns, per bucket and mapping, the stream batches event source
// mappings gave up on and wrote, records included, to buckets (their aws/lambda/), with a
// FailedBatches without batches for a bucket that holds none. It returns the S3 error.
func ListFailedBatches(ctx context.Context, c failures.S3API, buckets []string) ([]FailedBatches, error) {
	var out []FailedBatches
	for _, bucket := range buckets {
		recs, err := failures.List(ctx, c, bucket)
		if err != nil {
			return nil, err
		}
		where := "s3://" + bucket + "/" + failures.Prefix
		if len(recs) == 0 {
			out = append(out, FailedBatches{Where: where, Source: "-"})
			continue
		}
		byMapping := map[string]int{} // index in out
		for _, r := range recs {
			m := failures.Mapping(r.Key)
			i, ok := byMapping[m]
			if !ok {
				i = len(out)
				byMapping[m] = i
				out = append(out, FailedBatches{Where: where + m + "/", Source: "-"})
			}
			g := &out[i]
			g.Batches = append(g.Batches, r)
			if b, _ := r.Batch(); b != nil {
				g.Records += b.BatchSize
				g.Source = streamName(b.StreamArn) + " -> " + r.Function()
			}
		}
	}
	return out, nil
}

// listFailedBatches prints ListFailedBatches as `dlq list` does: per mapping the batches,
// records, the oldest's age and the stream and function, and with peek > 0 the first
// batches with why they failed and what they hold.
func listFailedBatches(ctx context.Context, c failures.S3API, buckets []string, peek int, out io.Writer, now func() time.Time) error {
	if len(buckets) == 0 {
		fmt.Fprintln(out, "stream on-failure records: no stream-failures or data-lake bucket found (give --bucket)")
		return nil
	}
	groups, err := ListFailedBatches(ctx, c, buckets)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM ON-FAILURE RECORDS\tBATCHES\tRECORDS\tOLDEST\tSOURCE")
	for _, g := range groups {
		oldest := "-"
		if len(g.Batches) > 0 {
			oldest = formatAge(now().Sub(g.Batches[0].LastModified))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", g.Where, len(g.Batches), g.Records, oldest, g.Source)
		for i, r := range g.Batches {
			if i >= peek {
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t\t\n", r.Key[strings.LastIndex(r.Key, "/")+1:], r.Timestamp, oneLine(FailedBatchReason(r.Record), 240))
		}
	}
	return tw.Flush()
}

// streamName is the name of the stream of a Kinesis stream ARN, the table's of a
// DynamoDB stream ARN.
func streamName(arn string) string {
	if _, rest, ok := strings.Cut(arn, ":table/"); ok {
		table, _, _ := strings.Cut(rest, "/")
		return table
	}
	return arn[strings.LastIndex(arn, "/")+1:]
}

// FailedBatchReason says why a batch was discarded and what it holds.
func FailedBatchReason(r failures.Record) string {
	return r.Reason() + ": " + batchContents(r)
}

// batchContents names what a failed batch holds: of a Kinesis batch the order events, by
// eventId, and how many records are no order event; of a DynamoDB stream batch the keys
// of the changed items.
func batchContents(r failures.Record) string {
	if _, kind := r.Batch(); kind == "dynamodb" {
		ev, err := r.DynamoDBEvent()
		if err != nil {
			return err.Error()
		}
		keys := make([]string, len(ev.Records))
		for i, dr := range ev.Records {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(dr.Change.Keys)) {
				v := dr.Change.Keys[k]
				switch v.DataType() {
				case events.DataTypeString:
					parts = append(parts, k+"="+v.String())
				case events.DataTypeNumber:
					parts = append(parts, k+"="+v.Number())
				default:
					parts = append(parts, k)
				}
			}
			keys[i] = strings.Join(parts, ",")
		}
		return "items " + strings.Join(keys, " ")
	}
	ev, err := r.KinesisEvent()
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

// invoker invokes a function synchronously (the Lambda Invoke API).
type invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (out []byte, functionError string, err error)
}

// redriveFailures invokes each kept batch's function again with the batch and deletes the
// objects whose records the function took (no function error, no batch item failure);
// the others stay, with the count reported.
func redriveFailures(ctx context.Context, c failuresAPI, inv invoker, bucket string, out io.Writer) error {
	recs, err := failures.List(ctx, c, bucket)
	if err != nil {
		return err
	}
	done, kept := 0, 0
	for _, r := range recs {
		payload, err := r.EventJSON()
		if err != nil {
			kept++
			fmt.Fprintf(out, "kept %s: %v (only an S3 destination keeps the batch)\n", r.Key, err)
			continue
		}
		resp, fnErr, err := inv.Invoke(ctx, r.Function(), payload)
		var partial struct {
			BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
		}
		_ = json.Unmarshal(resp, &partial)
		if err != nil || fnErr != "" || len(partial.BatchItemFailures) > 0 {
			kept++
			fmt.Fprintf(out, "kept %s: %s %s %s\n", r.Key, oneLine(fmt.Sprint(err), 120), fnErr, oneLine(string(resp), 160))
			continue
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(r.Key)}); err != nil {
			return fmt.Errorf("delete %s/%s after its redrive: %w", bucket, r.Key, err)
		}
		done++
	}
	fmt.Fprintf(out, "redrove %d batch(es) from s3://%s, %d kept\n", done, bucket, kept)
	if kept > 0 {
		return fmt.Errorf("dlq redrive: %d batch(es) of s3://%s failed again", kept, bucket)
	}
	return nil
}

// lambdaInvoker calls the Lambda Invoke API with a SigV4-signed request: the local stack's
// edge or AWS.
type lambdaInvoker struct {
	cfg    aws.Config
	client *http.Client
}

// Invoke runs function with payload (InvocationType RequestResponse).
func (l lambdaInvoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, string, error) {
	base := "https://lambda." + l.cfg.Region + ".amazonaws.com"
	if l.cfg.BaseEndpoint != nil {
		base = strings.TrimSuffix(*l.cfg.BaseEndpoint, "/")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/2015-03-31/functions/"+url.PathEscape(function)+"/invocations", bytes.NewReader(payload))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := l.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(payload)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", l.cfg.Region, time.Now()); err != nil {
		return nil, "", err
	}
	c := l.client
	if c == nil {
		c = &http.Client{Timeout: time.Minute}
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return body, "", fmt.Errorf("invoke %s: %s", function, resp.Status)
	}
	return body, resp.Header.Get("X-Amz-Function-Error"), nil
}
