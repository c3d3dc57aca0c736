package awstest_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/tools/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// validName is the intersection of the naming rules of S3 buckets, SQS
// queues, DynamoDB tables, EventBridge buses, SNS topics and Kinesis streams.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

func TestName(t *testing.T) {
	env := &awstest.Environment{} // Name needs no emulator
	tests := []struct {
		name     string
		base     string
		wantPart string
	}{
		{name: "plain", base: "orders", wantPart: "orders-name-plain-"},
		{name: "odd characters", base: "My_Queue.fifo!", wantPart: "my-queue-fifo-name-odd-characters-"},
		{name: "empty base", base: "", wantPart: "r-name-empty-base-"},
		{name: strings.Repeat("very long subtest name ", 10), base: strings.Repeat("base", 30)},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 {
				got := env.Name(t, tt.base)
				if !validName.MatchString(got) {
					t.Errorf("Name(%q) = %q (%d chars), not a valid resource name", tt.base, got, len(got))
				}
				if !strings.HasPrefix(got, tt.wantPart) {
					t.Errorf("Name(%q) = %q, want prefix %q", tt.base, got, tt.wantPart)
				}
				if seen[got] {
					t.Errorf("Name(%q) = %q twice", tt.base, got)
				}
				seen[got] = true
			}
		})
	}
}

// failTB records a Fatalf instead of stopping the test.
type failTB struct {
	testing.TB
	failed bool
	msg    string
}

func (f *failTB) Helper() {}

func (f *failTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
}

func TestEventually(t *testing.T) {
	tests := []struct {
		name       string
		trueAfter  int // calls; 0 = never
		wantFailed bool
	}{
		{name: "true at once", trueAfter: 1},
		{name: "true later", trueAfter: 4},
		{name: "never true", trueAfter: 0, wantFailed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ftb := &failTB{TB: t}
			calls := 0
			awstest.Eventually(ftb, 200*time.Millisecond, func() (bool, string) {
				calls++
				return tt.trueAfter > 0 && calls >= tt.trueAfter, fmt.Sprintf("call %d", calls)
			})
			if ftb.failed != tt.wantFailed {
				t.Fatalf("failed = %v (%s), want %v", ftb.failed, ftb.msg, tt.wantFailed)
			}
			if tt.wantFailed && !strings.Contains(ftb.msg, fmt.Sprintf("call %d", calls)) {
				t.Errorf("failure message %q does not carry the last message (call %d)", ftb.msg, calls)
			}
			if !tt.wantFailed && calls != tt.trueAfter {
				t.Errorf("cond called %d times, want %d", calls, tt.trueAfter)
			}
		})
	}
}

func TestCreateTable(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	name := env.Name(t, "orders")
	desc := env.CreateTable(t, awstest.TableSpec{
		Name:       name,
		HashKey:    "order_id",
		GSIs:       []awstest.GSISpec{{Name: "customer-index", HashKey: "customer_id", RangeKey: "created_at"}},
		StreamView: ddbtypes.StreamViewTypeNewAndOldImages,
	})
	if desc.TableStatus != ddbtypes.TableStatusActive || aws.ToString(desc.LatestStreamArn) == "" {
		t.Errorf("table %s: status %s, stream %q; want ACTIVE with a stream", name, desc.TableStatus, aws.ToString(desc.LatestStreamArn))
	}

	db := dynamodb.NewFromConfig(env.Config)
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(name),
		Item: map[string]ddbtypes.AttributeValue{
			"order_id":    &ddbtypes.AttributeValueMemberS{Value: "o1"},
			"customer_id": &ddbtypes.AttributeValueMemberS{Value: "c1"},
			"created_at":  &ddbtypes.AttributeValueMemberS{Value: "2026-01-01T00:00:00Z"},
		},
	})
	if err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	out, err := db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(name),
		IndexName:                 aws.String("customer-index"),
		KeyConditionExpression:    aws.String("customer_id = :c"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":c": &ddbtypes.AttributeValueMemberS{Value: "c1"}},
	})
	if err != nil {
		t.Fatalf("Query index: %v", err)
	}
	if len(out.Items) != 1 {
		t.Errorf("index query returned %d items, want 1", len(out.Items))
	}
}

func TestCreateQueue(t *testing.T) {
	env := awstest.Env(t)
	tests := []struct {
		name string
		spec awstest.QueueSpec
	}{
		{name: "standard with DLQ", spec: awstest.QueueSpec{DLQ: true, MaxReceiveCount: 1, VisibilityTimeout: 1}},
		{name: "fifo with DLQ", spec: awstest.QueueSpec{FIFO: true, DLQ: true, MaxReceiveCount: 1, VisibilityTimeout: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := sqs.NewFromConfig(env.Config)
			tt.spec.Name = env.Name(t, "commands")
			q := env.CreateQueue(t, tt.spec)
			if q.URL == "" || !strings.HasPrefix(q.ARN, "arn:aws:sqs:") || q.DLQ == nil || q.DLQ.ARN == "" {
				t.Fatalf("CreateQueue = %+v, want URL, ARN and a DLQ", q)
			}

			send := &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String("poison")}
			if tt.spec.FIFO {
				send.MessageGroupId = aws.String("g")
				send.MessageDeduplicationId = aws.String("d")
			}
			if _, err := c.SendMessage(ctx, send); err != nil {
				t.Fatalf("SendMessage: %v", err)
			}
			// Received once and never deleted: after the visibility timeout
			// the next receive redrives it to the DLQ (maxReceiveCount 1).
			awstest.Eventually(t, 10*time.Second, func() (bool, string) {
				if _, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), WaitTimeSeconds: 0}); err != nil {
					return false, err.Error()
				}
				out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.DLQ.URL)})
				if err != nil {
					return false, err.Error()
				}
				if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "poison" {
					return false, fmt.Sprintf("DLQ holds %d messages", len(out.Messages))
				}
				return true, ""
			})
		})
	}
}
