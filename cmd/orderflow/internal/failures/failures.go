// Package failures is the record a Lambda event source mapping writes to its on-failure
// destination when it discards a stream batch, as AWS writes it. To an SQS queue or an
// SNS topic it sends the record alone: a pointer (shard, sequence numbers) into a stream
// that keeps records 24 hours. To an S3 bucket it writes the record with the batch
// itself as payload, at aws/lambda/<ESM UUID>/<shard>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<UUID>
// (the naming of AWS's "Retain discarded batch records" documentation), so the records
// outlive the stream. The local stack's Kinesis mapping writes them; `orderflow dlq list`
// and the audit read them.
package failures

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Prefix is where Lambda puts the records in an S3 destination.
const Prefix = "aws/lambda/"

// Record is an on-failure record of a stream event source mapping.
type Record struct {
	RequestContext   RequestContext  `json:"requestContext"`
	ResponseContext  ResponseContext `json:"responseContext"`
	Version          string          `json:"version"`
	Timestamp        string          `json:"timestamp"`
	KinesisBatchInfo *BatchInfo      `json:"KinesisBatchInfo,omitempty"`
	// Payload is the discarded batch, the event the function was invoked with; S3
	// destinations only. AWS writes it as a string holding the event's JSON; Event also
	// accepts the event itself.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// RequestContext says which function gave up on the batch and why.
type RequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"` // RetryAttemptsExhausted, RecordAgeExceeded, ...
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// ResponseContext is the last invoke's outcome.
type ResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError"`
}

// BatchInfo names the discarded records in the stream.
type BatchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamArn                       string `json:"streamArn"`
}

// Key returns the object key of a record: Prefix + <esmUUID>/<shardID>/YYYY/MM/DD/
// YYYY-MM-DDTHH.MM.SS-<id>, at in UTC.
func Key(esmUUID, shardID string, at time.Time, id string) string {
	at = at.UTC()
	return Prefix + esmUUID + "/" + shardID + "/" + at.Format("2006/01/02") + "/" + at.Format("2006-01-02T15.04.05") + "-" + id
}

// SetPayload stores ev as the record's payload, a JSON string as AWS writes it.
func (r *Record) SetPayload(ev events.KinesisEvent) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	p, err := json.Marshal(string(b))
	r.Payload = p
	return err
}

// ErrNoPayload is returned by Event for a record without the batch (an SQS or SNS
// destination's).
var ErrNoPayload = errors.New("failure record carries no payload")

// Event returns the discarded batch. It returns ErrNoPayload, or the decoding error.
func (r Record) Event() (events.KinesisEvent, error) {
	var ev events.KinesisEvent
	p := []byte(strings.TrimSpace(string(r.Payload)))
	if len(p) == 0 || string(p) == "null" {
		return ev, ErrNoPayload
	}
	if p[0] == '"' {
		var s string
		if err := json.Unmarshal(p, &s); err != nil {
			return ev, fmt.Errorf("payload: %w", err)
		}
		p = []byte(s)
	}
	if err := json.Unmarshal(p, &ev); err != nil {
		return ev, fmt.Errorf("payload: %w", err)
	}
	return ev, nil
}

// Reason says in one line which function discarded what and why.
func (r Record) Reason() string {
	fn := r.RequestContext.FunctionArn[strings.LastIndex(r.RequestContext.FunctionArn, ":")+1:]
	s := fmt.Sprintf("lambda %s %s after %d invokes", fn, r.RequestContext.Condition, r.RequestContext.ApproximateInvokeCount)
	if e := r.ResponseContext.FunctionError; e != "" {
		s += " (" + e + ")"
	}
	if b := r.KinesisBatchInfo; b != nil {
		s += fmt.Sprintf(": kinesis %s seq %s..%s (%d records)", b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber, b.BatchSize)
	}
	return s
}

// S3API is what List reads of S3.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Stored is a record read from a bucket.
type Stored struct {
	Record
	Key          string
	LastModified time.Time
}

// List returns every record under Prefix of bucket, oldest first. An object that is not a
// record is returned with an empty Record (its Key says where). It returns the S3 error.
func List(ctx context.Context, c S3API, bucket string) ([]Stored, error) {
	var out []Stored
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(Prefix)}
	for {
		page, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			return out, fmt.Errorf("list s3://%s/%s: %w", bucket, Prefix, err)
		}
		for _, o := range page.Contents {
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				return out, fmt.Errorf("get s3://%s/%s: %w", bucket, aws.ToString(o.Key), err)
			}
			body, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				return out, fmt.Errorf("get s3://%s/%s: %w", bucket, aws.ToString(o.Key), err)
			}
			s := Stored{Key: aws.ToString(o.Key), LastModified: aws.ToTime(o.LastModified)}
			_ = json.Unmarshal(body, &s.Record)
			out = append(out, s)
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.ContinuationToken = page.NextContinuationToken
	}
	slices.SortStableFunc(out, func(a, b Stored) int { return a.LastModified.Compare(b.LastModified) })
	return out, nil
}
