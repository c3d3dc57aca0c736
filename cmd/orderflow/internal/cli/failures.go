package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The publisher's stream mapping keeps what it discards in an S3 on-failure destination:
// one object per discarded batch, Lambda's invocation record with the batch itself in its
// "payload" member (a DynamoDB stream record outlives the stream's 24 hours only there).
// `dlq list` shows these buckets beside the queues; `dlq redrive s3://BUCKET` invokes the
// function again with each payload and deletes the objects whose records it took.

// failureBucketMark is in the name of every stream-failures bucket of the template.
const failureBucketMark = "stream-failures"

// failuresAPI is what the commands need of S3.
type failuresAPI interface {
	ListBuckets(ctx context.Context, in *s3.ListBucketsInput, optFns ...func(*s3.Options)) (*s3.ListBucketsOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// keptBatch is one object of a failure bucket.
type keptBatch struct {
	Key      string
	Modified time.Time
	Record   streamFailure
}

// streamFailure is the part of a stream mapping's on-failure record the commands use.
type streamFailure struct {
	RequestContext struct {
		FunctionArn            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponseContext struct {
		FunctionError string `json:"functionError"`
	} `json:"responseContext"`
	Batch *struct {
		ShardID             string `json:"shardId"`
		StartSequenceNumber string `json:"startSequenceNumber"`
		EndSequenceNumber   string `json:"endSequenceNumber"`
		BatchSize           int    `json:"batchSize"`
	} `json:"DDBStreamBatchInfo"`
	Payload string `json:"payload"`
}

// reason says why the batch was discarded and which records it holds.
func (f streamFailure) reason() string {
	s := fmt.Sprintf("%s after %d invokes", f.RequestContext.Condition, f.RequestContext.ApproximateInvokeCount)
	if f.ResponseContext.FunctionError != "" {
		s += " (" + f.ResponseContext.FunctionError + ")"
	}
	if b := f.Batch; b != nil {
		s += fmt.Sprintf(": %s seq %s..%s (%d records)", b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber, b.BatchSize)
	}
	return s
}

// function returns the name of the function the batch was for.
func (f streamFailure) function() string {
	arn := strings.TrimSuffix(f.RequestContext.FunctionArn, ":$LATEST")
	return arn[strings.LastIndex(arn, ":")+1:]
}

// failureBuckets returns the stage's stream-failures buckets (every one with all).
func failureBuckets(ctx context.Context, c failuresAPI, stage string, all bool) ([]string, error) {
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

// keptBatches reads up to max objects of bucket (all with max <= 0), oldest first.
func keptBatches(ctx context.Context, c failuresAPI, bucket string, max int) ([]keptBatch, int, error) {
	var all []keptBatch
	var token *string
	for {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), ContinuationToken: token})
		if err != nil {
			return nil, 0, fmt.Errorf("list %s: %w", bucket, err)
		}
		for _, o := range out.Contents {
			all = append(all, keptBatch{Key: aws.ToString(o.Key), Modified: aws.ToTime(o.LastModified)})
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		token = out.NextContinuationToken
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Modified.Before(all[j].Modified) })
	n := len(all)
	if max > 0 && len(all) > max {
		all = all[:max]
	}
	for i := range all {
		got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(all[i].Key)})
		if err != nil {
			return nil, 0, fmt.Errorf("get %s/%s: %w", bucket, all[i].Key, err)
		}
		body, err := io.ReadAll(got.Body)
		got.Body.Close()
		if err != nil {
			return nil, 0, err
		}
		if err := json.Unmarshal(body, &all[i].Record); err != nil {
			return nil, 0, fmt.Errorf("%s/%s is not an on-failure record: %w", bucket, all[i].Key, err)
		}
	}
	return all, n, nil
}

// listFailureBuckets prints the stage's stream-failures buckets as `dlq list` prints
// queues: objects (discarded batches), age of the oldest, the function; with peek, the
// first peek batches and why.
func listFailureBuckets(ctx context.Context, c failuresAPI, stage string, o dlqListOptions, out io.Writer, now func() time.Time) (int, error) {
	buckets, err := failureBuckets(ctx, c, stage, o.All)
	if err != nil {
		return 0, err
	}
	if len(buckets) == 0 {
		return 0, nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ON-FAILURE BUCKET\tBATCHES\tOLDEST\tFUNCTION")
	for _, b := range buckets {
		batches, n, err := keptBatches(ctx, c, b, max(o.Peek, 1))
		if err != nil {
			return 0, err
		}
		oldest, fn := "-", "-"
		if len(batches) > 0 {
			oldest, fn = formatAge(now().Sub(batches[0].Modified)), batches[0].Record.function()
		}
		fmt.Fprintf(tw, "s3://%s\t%d\t%s\t%s\n", b, n, oldest, fn)
		for i, k := range batches {
			if i >= o.Peek {
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t\n", k.Key[strings.LastIndex(k.Key, "/")+1:], k.Modified.Format(time.RFC3339), oneLine(k.Record.reason(), 200))
		}
	}
	return len(buckets), tw.Flush()
}

// invoker invokes a function synchronously (the Lambda Invoke API).
type invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (out []byte, functionError string, err error)
}

// redriveFailures invokes each kept batch's function again with the batch and deletes the
// objects whose records the function took (no function error, no batch item failure);
// the others stay, with the count reported.
func redriveFailures(ctx context.Context, c failuresAPI, inv invoker, bucket string, out io.Writer) error {
	batches, _, err := keptBatches(ctx, c, bucket, 0)
	if err != nil {
		return err
	}
	done, kept := 0, 0
	for _, k := range batches {
		if k.Record.Payload == "" {
			kept++
			fmt.Fprintf(out, "kept %s: the record holds no payload (only an S3 destination keeps the batch)\n", k.Key)
			continue
		}
		resp, fnErr, err := inv.Invoke(ctx, k.Record.function(), []byte(k.Record.Payload))
		var partial struct {
			BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
		}
		_ = json.Unmarshal(resp, &partial)
		if err != nil || fnErr != "" || len(partial.BatchItemFailures) > 0 {
			kept++
			fmt.Fprintf(out, "kept %s: %s %s %s\n", k.Key, oneLine(fmt.Sprint(err), 120), fnErr, oneLine(string(resp), 160))
			continue
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k.Key)}); err != nil {
			return fmt.Errorf("delete %s/%s after its redrive: %w", bucket, k.Key, err)
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
