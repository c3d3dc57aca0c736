package topic_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/topic"
)

type fakeSNS struct {
	publish func(in *sns.PublishInput) (*sns.PublishOutput, error)
}

func (f fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return f.publish(in)
}

const arn = "arn:aws:sns:us-east-1:123456789012:order-notifications"

func TestPublish(t *testing.T) {
	cases := []struct {
		name        string
		msg         event.Notification
		wantSubject *string
	}{
		{"attributes and subject", event.Notification{Subject: "Order confirmed", Body: `{"orderId":"o-1"}`,
			Attributes: map[string]string{"eventType": "OrderConfirmed", "orderId": "o-1"}}, aws.String("Order confirmed")},
		{"no subject, no attributes", event.Notification{Body: "hello"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got *sns.PublishInput
			p := topic.NewPublisher(fakeSNS{publish: func(in *sns.PublishInput) (*sns.PublishOutput, error) {
				got = in
				return &sns.PublishOutput{MessageId: aws.String("mid-1")}, nil
			}}, arn)
			id, err := p.Publish(context.Background(), tc.msg)
			if err != nil || id != "mid-1" {
				t.Fatalf("Publish = %q, %v", id, err)
			}
			if aws.ToString(got.TopicArn) != arn || aws.ToString(got.Message) != tc.msg.Body {
				t.Errorf("input topic %q body %q", aws.ToString(got.TopicArn), aws.ToString(got.Message))
			}
			if aws.ToString(got.Subject) != aws.ToString(tc.wantSubject) || (got.Subject == nil) != (tc.wantSubject == nil) {
				t.Errorf("subject = %v, want %v", got.Subject, tc.wantSubject)
			}
			if len(got.MessageAttributes) != len(tc.msg.Attributes) {
				t.Fatalf("attributes = %v, want %v", got.MessageAttributes, tc.msg.Attributes)
			}
			for k, v := range tc.msg.Attributes {
				a := got.MessageAttributes[k]
				if aws.ToString(a.DataType) != "String" || aws.ToString(a.StringValue) != v {
					t.Errorf("attribute %s = %s %q, want String %q", k, aws.ToString(a.DataType), aws.ToString(a.StringValue), v)
				}
			}
		})
	}
}

func TestPublishErrors(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name string
		msg  event.Notification
		want error
	}{
		{"empty body", event.Notification{Subject: "s"}, topic.ErrEmptyBody},
		{"sns error", event.Notification{Body: "b"}, boom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := topic.NewPublisher(fakeSNS{publish: func(*sns.PublishInput) (*sns.PublishOutput, error) { return nil, boom }}, arn)
			if _, err := p.Publish(context.Background(), tc.msg); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
