// Package topic publishes notifications to an SNS topic, with String message attributes
// that subscription filter policies match on.
package topic

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/orderflow/orderflow/pkg/event"
)

// API is the part of *sns.Client a Publisher uses.
type API interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// ErrEmptyBody is returned by Publish for a message without a body, which SNS rejects.
var ErrEmptyBody = errors.New("topic: empty message body")

// Publisher publishes to one topic.
type Publisher struct {
	c   API
	arn string
}

// NewPublisher returns a Publisher to the topic topicARN.
func NewPublisher(c API, topicARN string) *Publisher {
	return &Publisher{c: c, arn: topicARN}
}

// Publish publishes m and returns SNS's message id. It returns ErrEmptyBody for an empty
// body and the SNS error, wrapped, otherwise. SNS retries inside the SDK are the only
// retries: a caller that needs once-only delivery deduplicates before calling.
func (p *Publisher) Publish(ctx context.Context, m event.Notification) (string, error) {
	if m.Body == "" {
		return "", ErrEmptyBody
	}
	in := &sns.PublishInput{TopicArn: aws.String(p.arn), Message: aws.String(m.Body)}
	if m.Subject != "" {
		in.Subject = aws.String(m.Subject)
	}
	if len(m.Attributes) > 0 {
		in.MessageAttributes = make(map[string]types.MessageAttributeValue, len(m.Attributes))
		for k, v := range m.Attributes {
			in.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	out, err := p.c.Publish(ctx, in)
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", p.arn, err)
	}
	return aws.ToString(out.MessageId), nil
}

var _ API = (*sns.Client)(nil)
