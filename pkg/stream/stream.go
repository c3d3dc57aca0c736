// Package stream puts records on a Kinesis data stream: the local stack's EventBridge
// target and tests use it to feed the analytics function.
package stream

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// API is the part of *kinesis.Client a Producer uses.
type API interface {
	PutRecord(ctx context.Context, in *kinesis.PutRecordInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error)
}

// ErrNoPartitionKey is returned by Put for an empty partition key, which Kinesis rejects.
var ErrNoPartitionKey = errors.New("stream: empty partition key")

// Producer puts records on one stream.
type Producer struct {
	c    API
	name string
}

// NewProducer returns a Producer to the stream streamName.
func NewProducer(c API, streamName string) *Producer {
	return &Producer{c: c, name: streamName}
}

// Put puts data with partitionKey (records with one key stay in order on one shard) and
// returns the record's sequence number. It returns ErrNoPartitionKey or the Kinesis error,
// wrapped.
func (p *Producer) Put(ctx context.Context, partitionKey string, data []byte) (string, error) {
	if partitionKey == "" {
		return "", ErrNoPartitionKey
	}
	out, err := p.c.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName:   aws.String(p.name),
		PartitionKey: aws.String(partitionKey),
		Data:         data,
	})
	if err != nil {
		return "", fmt.Errorf("put record on stream %s: %w", p.name, err)
	}
	return aws.ToString(out.SequenceNumber), nil
}

var _ API = (*kinesis.Client)(nil)
