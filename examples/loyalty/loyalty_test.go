package loyalty

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/events/samples"
)

// fakeTable applies the handler's transaction to a map: the marker's condition, then the
// credit; Fail, when set, fails every call.
type fakeTable struct {
	items map[string]int64
	calls int
	Fail  error
}

func (f *fakeTable) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	f.calls++
	if f.Fail != nil {
		return nil, f.Fail
	}
	put, upd := in.TransactItems[0].Put, in.TransactItems[1].Update
	marker := put.Item["pk"].(*ddbtypes.AttributeValueMemberS).Value
	if _, ok := f.items[marker]; ok && aws.ToString(put.ConditionExpression) == "attribute_not_exists(pk)" {
		return nil, &ddbtypes.TransactionCanceledException{CancellationReasons: []ddbtypes.CancellationReason{
			{Code: aws.String("ConditionalCheckFailed")}, {Code: aws.String("None")}}}
	}
	n, _ := strconv.ParseInt(upd.ExpressionAttributeValues[":p"].(*ddbtypes.AttributeValueMemberN).Value, 10, 64)
	f.items[marker] = n
	f.items[upd.Key["pk"].(*ddbtypes.AttributeValueMemberS).Value] += n
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samples.Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sqsEvent(bodies ...string) events.SQSEvent {
	var e events.SQSEvent
	for i, b := range bodies {
		e.Records = append(e.Records, events.SQSMessage{MessageId: "m" + strconv.Itoa(i), Body: b})
	}
	return e
}

func TestHandle(t *testing.T) {
	confirmed, cancelled := sample(t, "notify-confirmed.json"), sample(t, "notify-cancelled.json")
	cases := []struct {
		name      string
		bodies    []string
		fail      error
		points    int64 // of cust-42 (the confirmed sample: total 2500 minor units)
		failures  []string
		transacts int
	}{
		{name: "confirmed credits", bodies: []string{confirmed}, points: 25, transacts: 1},
		{name: "a duplicate in the batch credits once", bodies: []string{confirmed, confirmed}, points: 25, transacts: 2},
		{name: "other detail-types are not credited", bodies: []string{cancelled}},
		{name: "an unknown detail-type is skipped", bodies: []string{`{"version":"0","id":"x","detail-type":"Order Teleported","source":"myapp.orders","detail":{}}`}},
		{name: "not an event fails that message only", bodies: []string{"not json", confirmed}, points: 25, failures: []string{"m0"}, transacts: 1},
		{name: "a broken detail fails", bodies: []string{`{"version":"0","id":"x","detail-type":"Order Confirmed","source":"myapp.orders","detail":{"metadata":{}}}`}, failures: []string{"m0"}},
		{name: "a DynamoDB failure fails the message", bodies: []string{confirmed}, fail: errors.New("throttled"), failures: []string{"m0"}, transacts: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := &fakeTable{items: map[string]int64{}, Fail: c.fail}
			h := &Handler{DB: db, Table: "loyalty"}
			out, err := h.Handle(context.Background(), sqsEvent(c.bodies...))
			if err != nil {
				t.Fatalf("Handle returned %v: a batch never fails as a whole", err)
			}
			var failed []string
			for _, f := range out.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
			if !slices.Equal(failed, c.failures) {
				t.Errorf("failures %v, want %v", failed, c.failures)
			}
			if got := db.items[CustomerKey("cust-42")]; got != c.points {
				t.Errorf("cust-42 has %d points, want %d", got, c.points)
			}
			if db.calls != c.transacts {
				t.Errorf("%d transactions, want %d", db.calls, c.transacts)
			}
		})
	}
}
