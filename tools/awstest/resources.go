package awstest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// TableSpec describes a DynamoDB table for CreateTable. Every key attribute
// is a string (S), as in all orderflow tables.
type TableSpec struct {
	Name     string
	HashKey  string
	RangeKey string // optional
	GSIs     []GSISpec
	// StreamView enables a stream with this view type when set.
	StreamView ddbtypes.StreamViewType
}

// GSISpec describes a global secondary index; it projects all attributes.
type GSISpec struct {
	Name     string
	HashKey  string
	RangeKey string // optional
}

// CreateTable creates an on-demand table, waits until it and its indexes are
// ACTIVE, deletes it when the test ends, and returns the description. It
// fails the test on any error.
func (e *Environment) CreateTable(t testing.TB, spec TableSpec) *ddbtypes.TableDescription {
	t.Helper()
	ctx := context.Background()
	db := dynamodb.NewFromConfig(e.Config)

	var attrs []ddbtypes.AttributeDefinition
	seen := map[string]bool{}
	attr := func(name string) {
		if name != "" && !seen[name] {
			seen[name] = true
			attrs = append(attrs, ddbtypes.AttributeDefinition{AttributeName: aws.String(name), AttributeType: ddbtypes.ScalarAttributeTypeS})
		}
	}
	keySchema := func(hash, rng string) []ddbtypes.KeySchemaElement {
		attr(hash)
		ks := []ddbtypes.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: ddbtypes.KeyTypeHash}}
		if rng != "" {
			attr(rng)
			ks = append(ks, ddbtypes.KeySchemaElement{AttributeName: aws.String(rng), KeyType: ddbtypes.KeyTypeRange})
		}
		return ks
	}

	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(spec.Name),
		KeySchema:   keySchema(spec.HashKey, spec.RangeKey),
		BillingMode: ddbtypes.BillingModePayPerRequest,
	}
	for _, g := range spec.GSIs {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName:  aws.String(g.Name),
			KeySchema:  keySchema(g.HashKey, g.RangeKey),
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		})
	}
	in.AttributeDefinitions = attrs
	if spec.StreamView != "" {
		in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: spec.StreamView}
	}
	if _, err := db.CreateTable(ctx, in); err != nil {
		t.Fatalf("create table %s: %v", spec.Name, err)
	}
	t.Cleanup(func() {
		if _, err := db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(spec.Name)}); err != nil {
			t.Logf("delete table %s: %v", spec.Name, err)
		}
	})

	var desc *ddbtypes.TableDescription
	Eventually(t, 30*time.Second, func() (bool, string) {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(spec.Name)})
		if err != nil {
			return false, fmt.Sprintf("describe table %s: %v", spec.Name, err)
		}
		desc = out.Table
		if desc.TableStatus != ddbtypes.TableStatusActive {
			return false, fmt.Sprintf("table %s is %s", spec.Name, desc.TableStatus)
		}
		for _, g := range desc.GlobalSecondaryIndexes {
			if g.IndexStatus != ddbtypes.IndexStatusActive {
				return false, fmt.Sprintf("index %s of %s is %s", aws.ToString(g.IndexName), spec.Name, g.IndexStatus)
			}
		}
		return true, ""
	})
	return desc
}

// QueueSpec describes an SQS queue for CreateQueue.
type QueueSpec struct {
	Name string
	// FIFO makes a FIFO queue (and DLQ); ".fifo" is appended to the names.
	FIFO bool
	// DLQ adds a dead-letter queue named Name+"-dlq".
	DLQ bool
	// MaxReceiveCount is the receives before redrive to the DLQ; default 3.
	MaxReceiveCount int
	// VisibilityTimeout in seconds; 0 keeps SQS's default (30).
	VisibilityTimeout int
	// Attributes are extra queue attributes.
	Attributes map[string]string
}

// Queue is a queue made by CreateQueue.
type Queue struct {
	URL string
	ARN string
	// DLQ is the dead-letter queue, nil without one.
	DLQ *Queue
}

// CreateQueue creates the queue (and its DLQ first, with the redrive policy
// pointing at it), deletes them when the test ends and returns their URLs
// and ARNs. It fails the test on any error.
func (e *Environment) CreateQueue(t testing.TB, spec QueueSpec) Queue {
	t.Helper()
	attrs := map[string]string{}
	for k, v := range spec.Attributes {
		attrs[k] = v
	}
	if spec.VisibilityTimeout > 0 {
		attrs[string(sqstypes.QueueAttributeNameVisibilityTimeout)] = strconv.Itoa(spec.VisibilityTimeout)
	}
	var dlq *Queue
	if spec.DLQ {
		q := e.createQueue(t, spec.Name+"-dlq", spec.FIFO, nil)
		dlq = &q
		receives := spec.MaxReceiveCount
		if receives <= 0 {
			receives = 3
		}
		policy, err := json.Marshal(map[string]any{"deadLetterTargetArn": q.ARN, "maxReceiveCount": receives})
		if err != nil {
			t.Fatalf("redrive policy: %v", err)
		}
		attrs[string(sqstypes.QueueAttributeNameRedrivePolicy)] = string(policy)
	}
	q := e.createQueue(t, spec.Name, spec.FIFO, attrs)
	q.DLQ = dlq
	return q
}

func (e *Environment) createQueue(t testing.TB, name string, fifo bool, attrs map[string]string) Queue {
	t.Helper()
	ctx := context.Background()
	c := sqs.NewFromConfig(e.Config)
	if fifo {
		name += ".fifo"
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs[string(sqstypes.QueueAttributeNameFifoQueue)] = "true"
	}
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	url := aws.ToString(out.QueueUrl)
	t.Cleanup(func() {
		if _, err := c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
			t.Logf("delete queue %s: %v", name, err)
		}
	})
	got, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("get arn of queue %s: %v", name, err)
	}
	return Queue{URL: url, ARN: got.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]}
}

// S3 returns an S3 client for the environment, path-style (emulators serve no bucket
// subdomains; AWS accepts both).
func (e *Environment) S3() *s3.Client {
	return s3.NewFromConfig(e.Config, func(o *s3.Options) { o.UsePathStyle = e.Endpoint != RealAWS })
}

// CreateBucket creates a bucket with the objects given (key to body), empties and deletes
// it when the test ends, and returns its name. It fails the test on any error.
func (e *Environment) CreateBucket(t testing.TB, name string, objects map[string]string) string {
	t.Helper()
	ctx := context.Background()
	c := e.S3()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(name)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Logf("list bucket %s: %v", name, err)
				break
			}
			for _, o := range page.Contents {
				if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(name), Key: o.Key}); err != nil {
					t.Logf("delete %s/%s: %v", name, aws.ToString(o.Key), err)
				}
			}
		}
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Logf("delete bucket %s: %v", name, err)
		}
	})
	for key, body := range objects {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatalf("put %s/%s: %v", name, key, err)
		}
	}
	return name
}
