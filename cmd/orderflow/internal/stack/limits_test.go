package stack

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/tools/emulator"
)

// With simulated limits on, the stack keys items by the template's KeySchema, and the
// limits answer through the edge as DynamoDB does. At scale 1,000 an item takes 1 WCU/s
// with a bucket of 1: a small write to a fresh item passes, while a write of 2 KB and a
// transactional write (2 WCU an item) never fit, whatever the timing.
func TestUpSimulatedLimitsUseTheKeySchema(t *testing.T) {
	s := up(t, Options{SkipFunctions: true, Faults: &chaos.Spec{Limits: chaos.Limits{Scale: 1000, ItemWrites: true}}})
	defer s.Close()
	table := s.Tables["InventoryTable"]
	if got := s.Faults.Spec().Limits.Keys[table]; len(got) != 1 || got[0] != "pk" {
		t.Fatalf("inventory table keyed by %v, want [pk] from its KeySchema", got)
	}
	cfg := emulator.Config(s.EdgeURL)
	cfg.RetryMaxAttempts = 1
	db := dynamodb.NewFromConfig(cfg)
	ctx := context.Background()
	item := func(pk string, size int) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "note": &types.AttributeValueMemberS{Value: strings.Repeat("x", size)}}
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("LIMITS#A", 10)}); err != nil {
		t.Fatalf("a small write to a fresh item: %v", err)
	}
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("LIMITS#B", 2000)})
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) {
		t.Fatalf("a 2 KB write to an item of 1 WCU/s: %v, want ProvisionedThroughputExceededException", err)
	}
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(table), Item: item("LIMITS#C", 10)}}}})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || aws.ToString(tce.CancellationReasons[0].Code) != "ThrottlingError" {
		t.Fatalf("a transactional write to an item of 1 WCU/s: %v, want TransactionCanceledException (ThrottlingError)", err)
	}
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "LIMITS#C"}}})
	if err != nil || got.Item != nil {
		t.Errorf("the refused transaction wrote: %v %v", got, err)
	}
}

// The capacity knobs a sale sets still provision locally: an on-demand order stream and
// warm throughput on every table (moto ignores the warm throughput).
func TestUpWithSaleCapacity(t *testing.T) {
	s := up(t, Options{SkipFunctions: true, Parameters: map[string]string{"OrderStreamMode": "ON_DEMAND",
		"TableWarmWriteUnits": "10000", "TableWarmReadUnits": "20000", "InventoryMaxConcurrency": "100", "AnalyticsParallelization": "4"}})
	defer s.Close()
	if s.Stream == "" || s.Tables["OrdersTable"] == "" {
		t.Fatalf("not provisioned: %+v", s.Info())
	}
	out, err := kinesis.NewFromConfig(s.Config).DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(s.Stream)})
	if err != nil || out.StreamDescriptionSummary.StreamModeDetails == nil || out.StreamDescriptionSummary.StreamModeDetails.StreamMode != ktypes.StreamModeOnDemand {
		t.Errorf("order stream: %v %+v, want ON_DEMAND", err, out)
	}
}
