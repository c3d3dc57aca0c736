// Package lake writes batches of analytics rows to the S3 data lake as newline-delimited
// JSON under raw/dt=YYYY-MM-DD/, the Hive-style partition Athena and Glue understand.
package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ContentType is the content type of every object written.
const ContentType = "application/x-ndjson"

// Prefix is where every batch lies: Prefix + "dt=YYYY-MM-DD/"; the Glue table reads it.
const Prefix = "raw/"

// API is the part of *s3.Client a Writer uses.
type API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// ErrBadBatchID is returned by Write and Key for a batch id that is empty, too long or
// holds characters other than letters, digits and "-_.=".
var ErrBadBatchID = errors.New("lake: bad batch id")

// Writer writes batches to one bucket.
type Writer struct {
	c      API
	bucket string
}

// NewWriter returns a Writer to bucket. Encryption is the bucket's default encryption.
func NewWriter(c API, bucket string) *Writer {
	return &Writer{c: c, bucket: bucket}
}

// Key returns the object key of a batch: raw/dt=YYYY-MM-DD/<batchID>.json, the day taken
// in UTC. It returns ErrBadBatchID for an unusable batch id.
func Key(day time.Time, batchID string) (string, error) {
	if !validID(batchID) {
		return "", fmt.Errorf("%w: %q", ErrBadBatchID, batchID)
	}
	return Prefix + "dt=" + day.UTC().Format(time.DateOnly) + "/" + batchID + ".json", nil
}

// Write stores rows, one JSON value each, as one object at Key(day, batchID), one compact
// line per row. The key is deterministic so a retried batch overwrites its first attempt
// instead of duplicating it. With no rows it writes nothing and returns "". It returns
// ErrBadBatchID, an error naming a row that is not valid JSON, or the S3 error, wrapped.
func (w *Writer) Write(ctx context.Context, day time.Time, batchID string, rows [][]byte) (string, error) {
	key, err := Key(day, batchID)
	if err != nil {
		return "", err
	}
	if len(rows) == 0 {
		return "", nil
	}
	var body bytes.Buffer
	for i, r := range rows {
		// Compacting puts a pretty-printed row on one line and rejects invalid JSON,
		// which would break every reader of the NDJSON object.
		if err := json.Compact(&body, r); err != nil {
			return "", fmt.Errorf("lake batch %s: row %d: %w", batchID, i, err)
		}
		body.WriteByte('\n')
	}
	_, err = w.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(w.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body.Bytes()),
		ContentLength: aws.Int64(int64(body.Len())),
		ContentType:   aws.String(ContentType),
	})
	if err != nil {
		return "", fmt.Errorf("put s3://%s/%s: %w", w.bucket, key, err)
	}
	return key, nil
}

func validID(id string) bool {
	if id == "" || len(id) > 200 || id == "." || id == ".." {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '=':
		default:
			return false
		}
	}
	return true
}

var _ API = (*s3.Client)(nil)
