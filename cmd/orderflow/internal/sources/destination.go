package sources

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
)

// FailureDestination keeps the record of a batch a stream mapping discarded: its
// invocation context and its position in the stream (rec), and, where the destination
// keeps it, the batch itself (event, the invocation event).
type FailureDestination interface {
	Keep(ctx context.Context, shardID string, rec failures.Record, event any) error
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

// Keep sends rec as one message; the event is not kept.
func (d SQSDestination) Keep(ctx context.Context, _ string, rec failures.Record, _ any) error {
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = d.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(d.QueueURL), MessageBody: aws.String(string(body))})
	return err
}

func (d SQSDestination) String() string { return d.QueueURL }

// S3Destination is an S3 on-failure destination: AWS writes the record with the whole
// invocation event as its payload, one object per discarded batch, where failures.Key
// says. The records can be published again from it long after the stream has forgotten
// them.
type S3Destination struct {
	Client  failures.S3Putter
	Bucket  string
	Mapping string // the mapping's id (AWS: its UUID)
	Now     func() time.Time
}

// Keep writes rec with event as its payload.
func (d S3Destination) Keep(ctx context.Context, shardID string, rec failures.Record, event any) error {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	if err := rec.SetPayload(event); err != nil {
		return err
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	_, err := failures.Put(ctx, d.Client, d.Bucket, d.Mapping, shardID, now(), hex.EncodeToString(id[:]), rec)
	return err
}

func (d S3Destination) String() string { return "s3://" + d.Bucket }
