// Package failures is the record a Lambda event source mapping writes to its on-failure
// destination when it discards a stream batch (Kinesis or DynamoDB Streams), as AWS
// writes it, and the one owner of its layout in S3. To an SQS queue or an SNS topic AWS
// sends the record alone: a pointer (shard, sequence numbers) into a stream that keeps
// records 24 hours. To an S3 bucket it writes the record with the batch itself as
// payload, at aws/lambda/<ESM UUID>/<shard>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<UUID> (the
// naming of AWS's "Retain discarded batch records" documentation), so the records
// outlive the stream. The local stack's stream mappings write them (Put); `orderflow dlq
// list`, `orderflow dlq redrive s3://` and the audit read them (List).
package failures

import (
	"bytes"
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

// Record is an on-failure record of a stream event source mapping. Exactly one of
// KinesisBatchInfo and DDBStreamBatchInfo is set, by the kind of stream.
type Record struct {
	RequestContext     RequestContext  `json:"requestContext"`
	ResponseContext    ResponseContext `json:"responseContext"`
	Version            string          `json:"version"`
	Timestamp          string          `json:"timestamp"`
	KinesisBatchInfo   *BatchInfo      `json:"KinesisBatchInfo,omitempty"`
	DDBStreamBatchInfo *BatchInfo      `json:"DDBStreamBatchInfo,omitempty"`
	// Payload is the discarded batch, the event the function was invoked with
	// (events.KinesisEvent, events.DynamoDBEvent); S3 destinations only. AWS writes it as
	// a string holding the event's JSON; EventJSON also accepts the event itself.
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

// BatchInfo names the discarded records in the stream (KinesisBatchInfo and
// DDBStreamBatchInfo have this one shape).
type BatchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamArn                       string `json:"streamArn"`
}

// Batch returns the record's batch description and the kind of stream ("kinesis",
// "dynamodb"); nil and "" for a record with neither.
func (r Record) Batch() (*BatchInfo, string) {
	switch {
	case r.KinesisBatchInfo != nil:
		return r.KinesisBatchInfo, "kinesis"
	case r.DDBStreamBatchInfo != nil:
		return r.DDBStreamBatchInfo, "dynamodb"
	}
	return nil, ""
}

// Function returns the name of the function that discarded the batch (the ARN's name,
// without a qualifier).
func (r Record) Function() string {
	parts := strings.Split(r.RequestContext.FunctionArn, ":")
	for i, p := range parts {
		if p == "function" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	return r.RequestContext.FunctionArn
}

// Key returns the object key of a record: Prefix + <esmUUID>/<shardID>/YYYY/MM/DD/
// YYYY-MM-DDTHH.MM.SS-<id>, at in UTC.
func Key(esmUUID, shardID string, at time.Time, id string) string {
	at = at.UTC()
	return Prefix + esmUUID + "/" + shardID + "/" + at.Format("2006/01/02") + "/" + at.Format("2006-01-02T15.04.05") + "-" + id
}

// Mapping returns the mapping's UUID in key, a key Key made ("" for another key).
func Mapping(key string) string {
	rest, ok := strings.CutPrefix(key, Prefix)
	if !ok {
		return ""
	}
	m, _, _ := strings.Cut(rest, "/")
	return m
}

// SetPayload stores ev, the invocation event of the batch, as the record's payload: a
// JSON string, as AWS writes it.
func (r *Record) SetPayload(ev any) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	p, err := json.Marshal(string(b))
	r.Payload = p
	return err
}

// ErrNoPayload is returned for a record without the batch (an SQS or SNS destination's).
var ErrNoPayload = errors.New("failure record carries no payload")

// EventJSON returns the discarded batch's invocation event as JSON, what the function is
// invoked with again. It returns ErrNoPayload, or the decoding error.
func (r Record) EventJSON() ([]byte, error) {
	p := bytes.TrimSpace(r.Payload)
	if len(p) == 0 || string(p) == "null" || string(p) == `""` {
		return nil, ErrNoPayload
	}
	if p[0] == '"' {
		var s string
		if err := json.Unmarshal(p, &s); err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		p = []byte(s)
	}
	if !json.Valid(p) {
		return nil, errors.New("payload: not JSON")
	}
	return p, nil
}

// KinesisEvent returns the discarded batch of a Kinesis mapping. It returns
// ErrNoPayload, or the decoding error.
func (r Record) KinesisEvent() (events.KinesisEvent, error) {
	var ev events.KinesisEvent
	return ev, r.decode(&ev)
}

// DynamoDBEvent returns the discarded batch of a DynamoDB Streams mapping. It returns
// ErrNoPayload, or the decoding error.
func (r Record) DynamoDBEvent() (events.DynamoDBEvent, error) {
	var ev events.DynamoDBEvent
	return ev, r.decode(&ev)
}

func (r Record) decode(ev any) error {
	p, err := r.EventJSON()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(p, ev); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	return nil
}

// Reason says in one line which function discarded what and why.
func (r Record) Reason() string {
	s := fmt.Sprintf("lambda %s %s after %d invokes", r.Function(), r.RequestContext.Condition, r.RequestContext.ApproximateInvokeCount)
	if e := r.ResponseContext.FunctionError; e != "" {
		s += " (" + e + ")"
	}
	if b, kind := r.Batch(); b != nil {
		s += fmt.Sprintf(": %s %s seq %s..%s (%d records)", kind, b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber, b.BatchSize)
	}
	return s
}

// S3Putter is what Put needs of S3.
type S3Putter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Put writes rec to bucket under Key(esmUUID, shardID, at, id), as AWS does. It returns
// the key and the S3 error.
func Put(ctx context.Context, c S3Putter, bucket, esmUUID, shardID string, at time.Time, id string, rec Record) (string, error) {
	key := Key(esmUUID, shardID, at, id)
	body, err := json.Marshal(rec)
	if err != nil {
		return key, err
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json")})
	if err != nil {
		return key, fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return key, nil
}

// S3API is what List reads of S3.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Stored is a record read from a bucket.
type Stored struct {
	Record
	Bucket, Key  string
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
			s := Stored{Bucket: bucket, Key: aws.ToString(o.Key), LastModified: aws.ToTime(o.LastModified)}
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
