package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/idempotency"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/storetest"
	"github.com/orderflow/orderflow/tools/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// table creates a table keyed as in docs/CONTRACTS.md on the emulator and
// returns a client and the table's name.
func table(t *testing.T, base string, spec awstest.TableSpec) (*dynamodb.Client, string) {
	t.Helper()
	env := awstest.Env(t)
	spec.Name = env.Name(t, base)
	env.CreateTable(t, spec)
	return dynamodb.NewFromConfig(env.Config), spec.Name
}

func TestOrderStore(t *testing.T) {
	storetest.OrderStoreContract(t, func(t *testing.T) storetest.OrderStore {
		c, name := ordersTable(t)
		return dynamo.NewOrderStore(c, name)
	})
}

func TestInventoryStore(t *testing.T) {
	storetest.InventoryStoreContract(t, func(t *testing.T) storetest.InventoryStore {
		c, name := table(t, "inventory", awstest.TableSpec{HashKey: "pk"})
		return dynamo.NewInventoryStore(c, name)
	})
}

func TestConditionalInventoryStore(t *testing.T) {
	storetest.InventoryStoreContract(t, func(t *testing.T) storetest.InventoryStore {
		c, name := table(t, "inventory", awstest.TableSpec{HashKey: "pk"})
		return dynamo.NewConditionalInventoryStore(c, name)
	})
}

func ordersTable(t *testing.T) (*dynamodb.Client, string) {
	return table(t, "orders", awstest.TableSpec{
		HashKey: "order_id",
		GSIs:    []awstest.GSISpec{{Name: dynamo.CustomerIndex, HashKey: "customer_id", RangeKey: "created_at"}},
	})
}

func TestIntakeStore(t *testing.T) {
	storetest.IntakeStoreContract(t, func(t *testing.T) (storetest.IntakeStore, storetest.OrderStore) {
		c, orders := ordersTable(t)
		_, keys := table(t, "idempotency", awstest.TableSpec{HashKey: "pk"})
		return dynamo.NewIntakeStore(c, orders, keys), dynamo.NewOrderStore(c, orders)
	})
}

func TestMarkerStore(t *testing.T) {
	storetest.MarkerStoreContract(t, func(t *testing.T) storetest.MarkerStore {
		c, name := table(t, "idempotency", awstest.TableSpec{HashKey: "pk"})
		return dynamo.NewMarkerStore(c, name, "notify#")
	})
}

// A claim whose write landed but whose answer was lost (the SDK sent it again) finds its
// own marker: Claimed, not InProgress, which would leave the event to wait out the lease.
// Another delivery's claim at the same millisecond is still refused, and a done marker
// still answers AlreadyDone.
func TestMarkerClaimThatLanded(t *testing.T) {
	c, name := table(t, "idempotency", awstest.TableSpec{HashKey: "pk"})
	lost := dynamo.NewMarkerStore(lostAnswers{c}, name, "notify#")
	ctx, now := context.Background(), time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if res, err := lost.Claim(ctx, "e1", 10*time.Second, time.Hour, now); err != nil || res != event.Claimed {
		t.Fatalf("claim sent twice = %v, %v; want Claimed", res, err)
	}
	if res, err := lost.Claim(ctx, "e1", 10*time.Second, time.Hour, now); err != nil || res != event.InProgress {
		t.Fatalf("another delivery's claim, same millisecond = %v, %v; want InProgress", res, err)
	}
	if err := lost.Done(ctx, "e1"); err != nil {
		t.Fatal(err)
	}
	if res, err := lost.Claim(ctx, "e1", 10*time.Second, time.Hour, now.Add(time.Minute)); err != nil || res != event.AlreadyDone {
		t.Fatalf("claim after Done = %v, %v; want AlreadyDone", res, err)
	}
}

func TestMetricsStore(t *testing.T) {
	storetest.MetricsStoreContract(t, func(t *testing.T) storetest.MetricsStore {
		c, name := table(t, "metrics", awstest.TableSpec{HashKey: "pk"})
		return dynamo.NewMetricsStore(c, name)
	})
}

// A key left IN_PROGRESS by a version before the transactional intake (its request may
// or may not have created an order) answers ErrInProgress until it expires, and is never
// taken over: taking it over is how a retry used to create a second order.
func TestIntakeStoreLegacyLock(t *testing.T) {
	c, orders := ordersTable(t)
	_, keys := table(t, "idempotency", awstest.TableSpec{HashKey: "pk"})
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	hash := idempotency.Hash([]byte(`{}`))
	if _, err := c.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(keys), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: dynamo.IdempotencyKeyPrefix + "k"}, "body_hash": &types.AttributeValueMemberS{Value: hash},
		"status":     &types.AttributeValueMemberS{Value: string(idempotency.InProgress)},
		"locked_at":  &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(-time.Hour).UnixMilli(), 10)},
		"expires_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(time.Hour).Unix(), 10)},
	}}); err != nil {
		t.Fatal(err)
	}
	s := dynamo.NewIntakeStore(c, orders, keys)
	o, err := order.New("o-1", order.Request{CustomerID: "c", Currency: "USD", Lines: []order.Line{{SKU: "A", Quantity: 1}}, PaymentToken: "tok_visa"}, "", now)
	if err != nil {
		t.Fatal(err)
	}
	o.IdempotencyKey = "k"
	if _, err := s.Accept(context.Background(), o, hash, idempotency.Response{StatusCode: 202}, now); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("Accept on a legacy lock = %v, want ErrInProgress", err)
	}
	if _, err := dynamo.NewOrderStore(c, orders).Get(context.Background(), "o-1"); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("Get = %v, want no order", err)
	}
	if got, err := s.Accept(context.Background(), o, hash, idempotency.Response{StatusCode: 202}, now.Add(time.Hour)); err != nil || got != nil {
		t.Fatalf("Accept after expiry = %+v, %v, want the order stored", got, err)
	}
}

func TestCountOrders(t *testing.T) {
	c, name := ordersTable(t)
	s := dynamo.NewOrderStore(c, name)
	ctx := context.Background()
	now := time.Now()
	// 3 pending, 2 rejected: the count reads the status the store wrote.
	for i := range 5 {
		o, err := order.New(fmt.Sprintf("o-%d", i), order.Request{CustomerID: "c", Currency: "USD", Lines: []order.Line{{SKU: "A", Quantity: 1}}, PaymentToken: "tok_visa"}, "", now)
		if err != nil {
			t.Fatal(err)
		}
		if i >= 3 {
			if err := o.Reject(order.ReasonUnknownSKU, now); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		statuses []order.Status
		want     int
	}{
		{order.TerminalStatuses(), 2},
		{[]order.Status{order.StatusPending}, 3},
		{[]order.Status{order.StatusPending, order.StatusRejected}, 5},
		{nil, 5},
		{[]order.Status{order.StatusConfirmed}, 0},
	} {
		got, err := dynamo.CountOrders(ctx, c, name, tc.statuses...)
		if err != nil || got != tc.want {
			t.Errorf("CountOrders(%v) = %d, %v; want %d", tc.statuses, got, err, tc.want)
		}
	}
}

// An order whose write landed but whose answer was lost is accepted, with a key and
// without: the retry's condition fails on the order itself, which is not a second order.
// Another order under the same id is still refused.
func TestIntakeAcceptsItsOwnLandedWrite(t *testing.T) {
	c, orders := ordersTable(t)
	_, keys := table(t, "idempotency", awstest.TableSpec{HashKey: "pk"})
	s := dynamo.NewIntakeStore(lostAnswers{c}, orders, keys)
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for _, key := range []string{"", "k"} {
		o, err := order.New("o-"+key, order.Request{CustomerID: "c", Currency: "USD", Lines: []order.Line{{SKU: "A", Quantity: 1}}, PaymentToken: "tok_visa"}, "", now)
		if err != nil {
			t.Fatal(err)
		}
		o.IdempotencyKey = key
		if got, err := s.Accept(context.Background(), o, idempotency.Hash([]byte(`{}`)), idempotency.Response{StatusCode: 202}, now); err != nil || got != nil {
			t.Errorf("Accept with key %q = %+v, %v; want the order stored", key, got, err)
		}
		other := *o
		other.CustomerID = "someone else"
		other.IdempotencyKey = ""
		if _, err := dynamo.NewIntakeStore(c, orders, keys).Accept(context.Background(), &other, "h", idempotency.Response{StatusCode: 202}, now); !errors.Is(err, order.ErrAlreadyExists) {
			t.Errorf("another order under id %s = %v, want ErrAlreadyExists", o.ID, err)
		}
	}
}
