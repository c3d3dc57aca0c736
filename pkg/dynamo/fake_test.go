package dynamo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/inventory"
)

// fakeDB is a hand-written DynamoDB client for the paths the emulator does
// not produce (transaction conflicts, service errors). Unset methods fail.
type fakeDB struct {
	transact func(*dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error)
}

var errUnexpected = errors.New("unexpected call")

func (f *fakeDB) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, errUnexpected
}

func (f *fakeDB) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, errUnexpected
}

func (f *fakeDB) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return nil, errUnexpected
}

func (f *fakeDB) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if f.transact == nil {
		return nil, errUnexpected
	}
	return f.transact(in)
}

// canceled returns a TransactionCanceledException with one reason per code.
func canceled(codes ...string) error {
	e := &types.TransactionCanceledException{Message: aws.String("Transaction cancelled")}
	for _, c := range codes {
		e.CancellationReasons = append(e.CancellationReasons, types.CancellationReason{Code: aws.String(c)})
	}
	return e
}

func TestReserveErrors(t *testing.T) {
	errThrottled := errors.New("throttled")
	lines := []inventory.Line{{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 2}}
	tests := []struct {
		name      string
		answers   []error       // one per TransactWriteItems call
		deadline  time.Duration // of the context (0: none), as a Lambda invoke's
		wantCalls int
		check     func(t *testing.T, err error)
	}{
		{name: "conflict is retried", answers: []error{canceled("TransactionConflict", "None", "None"), nil}, wantCalls: 2,
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Errorf("Reserve = %v, want nil after a retry", err)
				}
			}},
		{name: "conflicts give up after a bound", answers: repeat(canceled("None", "TransactionConflict", "None"), 20), wantCalls: 8,
			check: func(t *testing.T, err error) {
				var tce *types.TransactionCanceledException
				if !errors.As(err, &tce) {
					t.Errorf("Reserve = %v, want the cancellation wrapped", err)
				}
			}},
		{name: "within an invoke, conflicts are retried past that bound", deadline: time.Hour,
			answers: append(repeat(canceled("None", "TransactionConflict", "None"), 10), nil), wantCalls: 11,
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Errorf("Reserve = %v, want nil after 10 conflicts", err)
				}
			}},
		{name: "2 s before the invoke's deadline, a conflict is not retried", deadline: 1500 * time.Millisecond,
			answers: repeat(canceled("None", "TransactionConflict", "None"), 2), wantCalls: 1,
			check: func(t *testing.T, err error) {
				var tce *types.TransactionCanceledException
				if !errors.As(err, &tce) {
					t.Errorf("Reserve = %v, want the cancellation wrapped", err)
				}
			}},
		{name: "a transaction cancelled for capacity is retried", answers: []error{canceled("ThrottlingError", "None", "None"), nil}, wantCalls: 2,
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Errorf("Reserve = %v, want nil after a retry", err)
				}
			}},
		{name: "short lines are named", answers: []error{canceled("ConditionalCheckFailed", "ConditionalCheckFailed", "None")}, wantCalls: 1,
			check: func(t *testing.T, err error) {
				var oos *inventory.OutOfStockError
				if !errors.As(err, &oos) || len(oos.SKUs) != 2 || oos.SKUs[0] != "A" || oos.SKUs[1] != "B" {
					t.Errorf("Reserve = %v, want OutOfStockError for A, B", err)
				}
			}},
		{name: "existing reservation wins over short stock", answers: []error{canceled("ConditionalCheckFailed", "None", "ConditionalCheckFailed")}, wantCalls: 1,
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Errorf("Reserve = %v, want nil (reserved before)", err)
				}
			}},
		{name: "service error is wrapped", answers: []error{errThrottled}, wantCalls: 1,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errThrottled) {
					t.Errorf("Reserve = %v, want it to wrap %v", err, errThrottled)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			db := &fakeDB{transact: func(in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				if len(in.TransactItems) != 3 {
					t.Fatalf("transaction of %d items, want 3", len(in.TransactItems))
				}
				err := tt.answers[calls]
				calls++
				return &dynamodb.TransactWriteItemsOutput{}, err
			}}
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			tt.check(t, dynamo.NewInventoryStore(db, "inventory").Reserve(ctx, "o-1", lines))
			if calls != tt.wantCalls {
				t.Errorf("%d transactions, want %d", calls, tt.wantCalls)
			}
		})
	}
}

func TestMetricsApplyRetriesConflicts(t *testing.T) {
	calls := 0
	db := &fakeDB{transact: func(*dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
		calls++
		if calls == 1 {
			return nil, canceled("None", "TransactionConflict")
		}
		return &dynamodb.TransactWriteItemsOutput{}, nil
	}}
	ok, err := dynamo.NewMetricsStore(db, "metrics").Apply(context.Background(), "e1",
		event.MetricDelta{Minute: time.Now(), Status: "CONFIRMED"})
	if !ok || err != nil || calls != 2 {
		t.Errorf("Apply = %v, %v after %d calls; want true, nil after 2", ok, err, calls)
	}
}

func repeat(err error, n int) []error {
	s := make([]error, n)
	for i := range s {
		s[i] = err
	}
	return s
}
