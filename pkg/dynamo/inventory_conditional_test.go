package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/tools/awstest"
)

// crashAt is a DynamoDB client that fails its UpdateItem number n (1-based, counted
// from the last arm) and every one after it, as a process killed there would stop.
type crashAt struct {
	*dynamodb.Client
	n     atomic.Int64
	calls atomic.Int64
}

func (c *crashAt) arm(n int) { c.n.Store(int64(n)); c.calls.Store(0) }

func (c *crashAt) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if n := c.n.Load(); n > 0 && c.calls.Add(1) >= n {
		return nil, errors.New("crashed")
	}
	return c.Client.UpdateItem(ctx, in, opts...)
}

// conditionalFixture is a conditional store on a fresh inventory table with A (stock 5)
// and B (stock 3), a client that crashes on demand and a clock the test moves.
type conditionalFixture struct {
	store *dynamo.ConditionalInventoryStore
	crash *crashAt
	clock time.Time
}

func newConditionalFixture(t *testing.T) *conditionalFixture {
	c, name := table(t, "inventory", awstest.TableSpec{HashKey: "pk"})
	f := &conditionalFixture{crash: &crashAt{Client: c}, clock: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	f.store = dynamo.NewConditionalInventoryStore(f.crash, name)
	f.store.Now = func() time.Time { return f.clock }
	for _, it := range []inventory.Item{{SKU: "A", Price: 100, Currency: "USD", Stock: 5}, {SKU: "B", Price: 100, Currency: "USD", Stock: 3}} {
		if err := f.store.Put(context.Background(), it); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *conditionalFixture) stock(t *testing.T, want map[string]int64) {
	t.Helper()
	for sku, n := range want {
		it, err := f.store.Get(context.Background(), sku)
		if err != nil || it.Stock != n {
			t.Errorf("stock of %s = %d (%v), want %d", sku, it.Stock, err, n)
		}
	}
}

func (f *conditionalFixture) state(t *testing.T, orderID string, want inventory.ReservationState) {
	t.Helper()
	got, _, err := f.store.Reservation(context.Background(), orderID)
	if err != nil || got != want {
		t.Errorf("reservation of %s = %s (%v), want %s", orderID, got, err, want)
	}
}

// A reserve that stops after any of its writes leaves the order PENDING; while its lease
// runs, neither a redelivered reserve nor a release touches it; after it, a reserve
// finishes the job and takes every line exactly once.
func TestConditionalReserveResumesAfterACrash(t *testing.T) {
	ctx := context.Background()
	lines := []inventory.Line{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 1}}
	// Reserve's updates: take A (1), take B (2), RESERVED (3).
	for crash := 1; crash <= 3; crash++ {
		t.Run(fmt.Sprintf("stopped at update %d", crash), func(t *testing.T) {
			f := newConditionalFixture(t)
			f.crash.arm(crash)
			if err := f.store.Reserve(ctx, "o-1", lines); err == nil {
				t.Fatal("Reserve succeeded through the crash")
			}
			f.crash.arm(0)
			f.state(t, "o-1", inventory.Pending)
			if err := f.store.Reserve(ctx, "o-1", lines); err == nil {
				t.Error("a second reserve went ahead while the first one's lease runs")
			}
			if err := f.store.Release(ctx, "o-1"); err == nil {
				t.Error("a release went ahead while the reserve's lease runs")
			}
			f.clock = f.clock.Add(dynamo.DefaultLease + time.Second)
			if err := f.store.Reserve(ctx, "o-1", lines); err != nil {
				t.Fatalf("Reserve after the lease: %v", err)
			}
			f.state(t, "o-1", inventory.Reserved)
			f.stock(t, map[string]int64{"A": 3, "B": 2})
			if err := f.store.Release(ctx, "o-1"); err != nil {
				t.Fatal(err)
			}
			f.stock(t, map[string]int64{"A": 5, "B": 3})
		})
	}
}

// The saga gives up on a reserve that stopped half-way and compensates: the release
// gives back exactly what was taken, and a reserve delivered after it takes nothing.
func TestConditionalReleaseOfAStoppedReserve(t *testing.T) {
	ctx := context.Background()
	f := newConditionalFixture(t)
	f.crash.arm(2) // A taken, stopped before B
	if err := f.store.Reserve(ctx, "o-1", []inventory.Line{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 1}}); err == nil {
		t.Fatal("Reserve succeeded through the crash")
	}
	f.crash.arm(0)
	f.stock(t, map[string]int64{"A": 3, "B": 3})
	f.clock = f.clock.Add(dynamo.DefaultLease + time.Second)
	for i := range 2 {
		if err := f.store.Release(ctx, "o-1"); err != nil {
			t.Fatalf("Release %d: %v", i+1, err)
		}
	}
	f.state(t, "o-1", inventory.Released)
	f.stock(t, map[string]int64{"A": 5, "B": 3})
	if err := f.store.Reserve(ctx, "o-1", []inventory.Line{{SKU: "A", Quantity: 2}}); err != nil {
		t.Fatal(err)
	}
	f.stock(t, map[string]int64{"A": 5, "B": 3})
}

// A release that stops after any of its writes is finished by the next release, which
// gives every line back exactly once.
func TestConditionalReleaseResumesAfterACrash(t *testing.T) {
	ctx := context.Background()
	// Release's updates: RELEASING (1), give back A (2), give back B (3), RELEASED (4).
	for crash := 1; crash <= 4; crash++ {
		t.Run(fmt.Sprintf("stopped at update %d", crash), func(t *testing.T) {
			f := newConditionalFixture(t)
			if err := f.store.Reserve(ctx, "o-1", []inventory.Line{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 1}}); err != nil {
				t.Fatal(err)
			}
			// Another order's take of A sweeps o-1's marks first: a release must not need them.
			if err := f.store.Reserve(ctx, "o-2", []inventory.Line{{SKU: "A", Quantity: 1}}); err != nil {
				t.Fatal(err)
			}
			f.crash.arm(crash)
			if err := f.store.Release(ctx, "o-1"); err == nil {
				t.Fatal("Release succeeded through the crash")
			}
			f.crash.arm(0)
			for i := range 2 {
				if err := f.store.Release(ctx, "o-1"); err != nil {
					t.Fatalf("Release %d after the crash: %v", i+1, err)
				}
			}
			f.state(t, "o-1", inventory.Released)
			f.stock(t, map[string]int64{"A": 4, "B": 3})
		})
	}
}

// lostAnswers is a DynamoDB client whose every write is applied and then sent again,
// the first answer dropped: what the SDK does when a request DynamoDB applied times out
// or its connection resets before the answer arrives.
type lostAnswers struct{ *dynamodb.Client }

func (c lostAnswers) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if _, err := c.Client.PutItem(ctx, in, opts...); err != nil {
		return nil, err
	}
	return c.Client.PutItem(ctx, in, opts...)
}

func (c lostAnswers) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if _, err := c.Client.TransactWriteItems(ctx, in, opts...); err != nil {
		return nil, err
	}
	return c.Client.TransactWriteItems(ctx, in, opts...)
}

func (c lostAnswers) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if _, err := c.Client.UpdateItem(ctx, in, opts...); err != nil {
		return nil, err
	}
	return c.Client.UpdateItem(ctx, in, opts...)
}

// A write retried after it landed fails its condition on its own result. A reserve, a
// release and a reserve found short still finish at once (not after the lease) and move
// the stock exactly once.
func TestConditionalRetriedWritesThatLanded(t *testing.T) {
	ctx := context.Background()
	c, name := table(t, "inventory", awstest.TableSpec{HashKey: "pk"})
	s := dynamo.NewConditionalInventoryStore(lostAnswers{c}, name)
	for _, it := range []inventory.Item{{SKU: "A", Price: 100, Currency: "USD", Stock: 5}, {SKU: "B", Price: 100, Currency: "USD", Stock: 3}} {
		if err := dynamo.NewConditionalInventoryStore(c, name).Put(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	f := &conditionalFixture{store: s}
	if err := s.Reserve(ctx, "o-1", []inventory.Line{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 1}}); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	f.state(t, "o-1", inventory.Reserved)
	f.stock(t, map[string]int64{"A": 3, "B": 2})
	if err := s.Release(ctx, "o-1"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	f.state(t, "o-1", inventory.Released)
	f.stock(t, map[string]int64{"A": 5, "B": 3})
	var short *inventory.OutOfStockError
	if err := s.Reserve(ctx, "o-2", []inventory.Line{{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 4}}); !errors.As(err, &short) {
		t.Fatalf("Reserve beyond the stock = %v, want out of stock", err)
	}
	f.state(t, "o-2", inventory.Short)
	f.stock(t, map[string]int64{"A": 5, "B": 3})
}

// An item written before the conditional strategy (no holds map) is reserved from all
// the same, and the marks of finished reservations do not pile up on a hot SKU's item.
func TestConditionalLegacyItemAndSweep(t *testing.T) {
	ctx := context.Background()
	c, name := table(t, "inventory", awstest.TableSpec{HashKey: "pk"})
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "SKU#HOT"}, "sku": &types.AttributeValueMemberS{Value: "HOT"},
		"price": &types.AttributeValueMemberN{Value: "100"}, "currency": &types.AttributeValueMemberS{Value: "USD"},
		"stock": &types.AttributeValueMemberN{Value: "100"},
	}}); err != nil {
		t.Fatal(err)
	}
	s := dynamo.NewConditionalInventoryStore(c, name)
	const n = 60
	for i := range n {
		if err := s.Reserve(ctx, fmt.Sprintf("o-%d", i), []inventory.Line{{SKU: "HOT", Quantity: 1}}); err != nil {
			t.Fatalf("Reserve o-%d: %v", i, err)
		}
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(name), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "SKU#HOT"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Item["stock"].(*types.AttributeValueMemberN).Value; got != "40" {
		t.Errorf("stock = %s, want 40", got)
	}
	holds, _ := out.Item["holds"].(*types.AttributeValueMemberM)
	if holds == nil || len(holds.Value) > 1 {
		t.Errorf("holds after %d reservations = %v, want only the last one's mark (the others swept)", n, holds)
	}
}

// gate is a DynamoDB client whose first update of a SKU's item waits for open.
type gate struct {
	*dynamodb.Client
	once   sync.Once
	open   chan struct{}
	writes atomic.Int64 // updates of SKU items
}

func (g *gate) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if pk, _ := in.Key["pk"].(*types.AttributeValueMemberS); pk != nil && strings.HasPrefix(pk.Value, "SKU#") {
		g.writes.Add(1)
		g.once.Do(func() { <-g.open })
	}
	return g.Client.UpdateItem(ctx, in, opts...)
}

// Takes of one SKU that arrive while a write to it is in flight share the next write:
// 20 reservations while the first one's write hangs cost two writes of the SKU's item,
// and every one of them holds its unit.
func TestConditionalTakesShareAWrite(t *testing.T) {
	ctx := context.Background()
	c, name := table(t, "inventory", awstest.TableSpec{HashKey: "pk"})
	g := &gate{Client: c, open: make(chan struct{})}
	s := dynamo.NewConditionalInventoryStore(g, name)
	if err := s.Put(ctx, inventory.Item{SKU: "HOT", Price: 100, Currency: "USD", Stock: 50}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.Reserve(ctx, fmt.Sprintf("o-%d", i), []inventory.Line{{SKU: "HOT", Quantity: 1}}) }()
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.Queued("HOT") < n-1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d takes queued behind the first write after 30 s, want %d", s.Queued("HOT"), n-1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(g.open)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := g.writes.Load(); got != 2 {
		t.Errorf("%d writes of the SKU's item for %d reservations, want 2 (the first, then the rest together)", got, n)
	}
	it, err := s.Get(ctx, "HOT")
	if err != nil || it.Stock != 50-n {
		t.Errorf("stock %d (%v), want %d", it.Stock, err, 50-n)
	}
}

// A redelivered reserve whose own deadline outlasts the stopped owner's lease waits for
// the lease to end and finishes the reservation, instead of failing (which would spend
// one of the message's receives).
func TestConditionalReserveWaitsForADeadLease(t *testing.T) {
	f := newConditionalFixture(t)
	f.store.Now = nil // the real clock: the wait is real
	f.store.Lease = 300 * time.Millisecond
	lines := []inventory.Line{{SKU: "A", Quantity: 2}}
	f.crash.arm(1)
	if err := f.store.Reserve(context.Background(), "o-1", lines); err == nil {
		t.Fatal("Reserve succeeded through the crash")
	}
	f.crash.arm(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.store.Reserve(ctx, "o-1", lines); err != nil {
		t.Fatalf("Reserve with a deadline past the lease: %v", err)
	}
	f.state(t, "o-1", inventory.Reserved)
	f.stock(t, map[string]int64{"A": 3})
}
