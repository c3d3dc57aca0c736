package topic_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/topic"
	"github.com/orderflow/orderflow/tools/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// snsEnvelope is an SNS notification as a non-raw SQS subscription receives it.
type snsEnvelope struct {
	Type              string
	MessageId         string
	Subject           string
	Message           string
	MessageAttributes map[string]struct{ Type, Value string }
}

// A filter-policy subscription gets the matching message only: the non-matching one is
// published first, so by the time the matching one arrives it would have too.
func TestPublishThroughFilterPolicy(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	sn := sns.NewFromConfig(env.Config)
	sq := sqs.NewFromConfig(env.Config)
	created, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(env.Name(t, "notifications"))})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.TopicArn)
	t.Cleanup(func() { sn.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: aws.String(arn)}) })

	policy := `{"eventType":["OrderConfirmed"]}`
	cases := []struct {
		name string
		raw  bool
	}{
		{"raw delivery", true},
		{"enveloped", false},
	}
	queues := make([]string, len(cases))
	for i, tc := range cases {
		q := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "confirmed")})
		queues[i] = q.URL
		attrs := map[string]string{"FilterPolicy": policy}
		if tc.raw {
			attrs["RawMessageDelivery"] = "true"
		}
		if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("sqs"),
			Endpoint: aws.String(q.ARN), Attributes: attrs}); err != nil {
			t.Fatalf("subscribe: %v", err)
		}
	}

	p := topic.NewPublisher(sn, arn)
	if _, err := p.Publish(ctx, event.Notification{Subject: "Order cancelled", Body: `{"orderId":"o-1","status":"CANCELLED"}`,
		Attributes: map[string]string{"eventType": "OrderCancelled", "orderId": "o-1"}}); err != nil {
		t.Fatalf("Publish cancelled: %v", err)
	}
	want := event.Notification{Subject: "Order confirmed", Body: `{"orderId":"o-2","status":"CONFIRMED"}`,
		Attributes: map[string]string{"eventType": "OrderConfirmed", "orderId": "o-2"}}
	id, err := p.Publish(ctx, want)
	if err != nil || id == "" {
		t.Fatalf("Publish confirmed = %q, %v", id, err)
	}

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []sqstypes.Message
			awstest.Eventually(t, 10*time.Second, func() (bool, string) {
				out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queues[i]),
					MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, VisibilityTimeout: 30})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, out.Messages...)
				return len(got) > 0, "nothing delivered"
			})
			if len(got) != 1 {
				t.Fatalf("delivered %d messages, want only the matching one", len(got))
			}
			m := got[0]
			if tc.raw {
				if aws.ToString(m.Body) != want.Body {
					t.Errorf("raw body = %s, want %s", aws.ToString(m.Body), want.Body)
				}
				for k, v := range want.Attributes {
					if aws.ToString(m.MessageAttributes[k].StringValue) != v {
						t.Errorf("SQS attribute %s = %v, want %s", k, m.MessageAttributes[k], v)
					}
				}
				return
			}
			var env snsEnvelope
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				t.Fatalf("envelope: %v", err)
			}
			if env.Type != "Notification" || env.MessageId != id || env.Subject != want.Subject || env.Message != want.Body {
				t.Errorf("envelope = %+v", env)
			}
			for k, v := range want.Attributes {
				if a := env.MessageAttributes[k]; a.Type != "String" || a.Value != v {
					t.Errorf("attribute %s = %+v, want String %s", k, a, v)
				}
			}
		})
	}
}
