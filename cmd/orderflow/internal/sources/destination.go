package sources

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// FailureDestination keeps the record of a batch a stream mapping discarded: its
// invocation context and its position in the stream (record), and, where the
// destination keeps it, the batch itself (payload, the invocation event).
type FailureDestination interface {
	Keep(ctx context.Context, shardID string, record map[string]any, payload []byte) error
	// String names the destination for logs.
	String() string
}

// Sender sends one message to an SQS queue.
type Sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQSDestination is an SQS on-failure destination: AWS sends the record only, so the
// batch must be read from the stream before the stream expires it.
type SQSDestination struct {
	Client   Sender
	QueueURL string
}

// Keep sends record as one message; the payload is not kept.
func (d SQSDestination) Keep(ctx context.Context, _ string, record map[string]any, _ []byte) error {
	body, err := json.Marshal(record)
	if err != nil {
		return err
	}
	_, err = d.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(d.QueueURL), MessageBody: aws.String(string(body))})
	return err
}

func (d SQSDestination) String() string { return d.QueueURL }

// S3Putter writes one object.
type S3Putter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// S3Destination is an S3 on-failure destination: AWS writes the record with the whole
// invocation event in its "payload" member, one object per discarded batch, under
// aws/lambda/<mapping>/<shardId>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random>. The records can
// be published again from it long after the stream has forgotten them.
type S3Destination struct {
	Client  S3Putter
	Bucket  string
	Mapping string // the mapping's id (AWS: its UUID)
	Now     func() time.Time
}

// FailureKeyPrefix is the prefix of every object a stream mapping writes to an S3
// on-failure destination.
const FailureKeyPrefix = "aws/lambda/"

// Keep writes record, with payload as its "payload" member, as one JSON object.
func (d S3Destination) Keep(ctx context.Context, shardID string, record map[string]any, payload []byte) error {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	t := now().UTC()
	doc := make(map[string]any, len(record)+1)
	for k, v := range record {
		doc[k] = v
	}
	doc["payload"] = string(payload)
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	var random [8]byte
	_, _ = rand.Read(random[:])
	key := fmt.Sprintf("%s%s/%s/%s/%s-%s", FailureKeyPrefix, d.Mapping, shardID, t.Format("2006/01/02"),
		t.Format("2006-01-02T15.04.05"), hex.EncodeToString(random[:]))
	_, err = d.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(d.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json")})
	return err
}

func (d S3Destination) String() string { return "s3://" + d.Bucket }
