package bus_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/events/schemas"
	"github.com/orderflow/orderflow/pkg/bus"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/tools/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// delivered is an EventBridge event as an SQS target receives it.
type delivered struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
	raw        []byte
}

// busWithQueue makes a custom bus, an SQS queue and a rule on the bus matching source and
// Order Created that targets the queue.
func busWithQueue(t *testing.T, env *awstest.Environment, source string) (busName, queueURL string) {
	t.Helper()
	ctx := context.Background()
	eb := eventbridge.NewFromConfig(env.Config)
	busName = env.Name(t, "orders")
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(busName)}); err != nil {
		t.Fatalf("create bus: %v", err)
	}
	t.Cleanup(func() {
		eb.DeleteEventBus(context.Background(), &eventbridge.DeleteEventBusInput{Name: aws.String(busName)})
	})
	q := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, "created")})
	pattern, _ := json.Marshal(map[string][]string{"source": {source}, "detail-type": {event.OrderCreated}})
	rule := env.Name(t, "created")
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{
		Name: aws.String(rule), EventBusName: aws.String(busName), EventPattern: aws.String(string(pattern)),
	}); err != nil {
		t.Fatalf("put rule: %v", err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String(rule), EventBusName: aws.String(busName),
		Targets: []types.Target{{Id: aws.String("queue"), Arn: aws.String(q.ARN)}},
	}); err != nil {
		t.Fatalf("put targets: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(rule), EventBusName: aws.String(busName), Ids: []string{"queue"}})
		eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(rule), EventBusName: aws.String(busName)})
	})
	return busName, q.URL
}

// collect receives from the queue until want messages arrived, then checks the queue
// is empty, so extra deliveries (duplicates, unmatched events) fail the test.
func collect(t *testing.T, env *awstest.Environment, queueURL string, want int) []delivered {
	t.Helper()
	ctx := context.Background()
	c := sqs.NewFromConfig(env.Config)
	var got []delivered
	receive := func() int {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range out.Messages {
			var d delivered
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &d); err != nil {
				t.Fatalf("delivered body is not an event: %v: %s", err, aws.ToString(m.Body))
			}
			d.raw = []byte(aws.ToString(m.Body))
			got = append(got, d)
			c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle})
		}
		return len(out.Messages)
	}
	awstest.Eventually(t, 10*time.Second, func() (bool, string) {
		receive()
		return len(got) >= want, "delivered " + strconv.Itoa(len(got)) + " of " + strconv.Itoa(want)
	})
	if n := receive(); n != 0 || len(got) != want {
		t.Fatalf("delivered %d events, want %d", len(got), want)
	}
	return got
}

// orderEvents returns n valid events: n-1 Order Created and one Order Rejected last.
func orderEvents(t *testing.T, n int) []event.Event {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var evs []event.Event
	for i := range n {
		o, err := order.New(order.NewID(now.Add(time.Duration(i))), order.Request{
			CustomerID: "c-1", Currency: "USD", PaymentToken: "tok_visa",
			Lines: []order.Line{{SKU: "SKU-1", Quantity: int64(i + 1)}},
		}, "corr-"+strconv.Itoa(i), now)
		if err != nil {
			t.Fatal(err)
		}
		if i == n-1 {
			if err := o.Reject(order.ReasonUnknownSKU, now); err != nil {
				t.Fatal(err)
			}
		}
		ev, ok := event.FromOrder(o, now)
		if !ok {
			t.Fatalf("no event for %s", o.Status)
		}
		evs = append(evs, ev)
	}
	return evs
}

func detailOf(t *testing.T, d delivered) event.Detail {
	t.Helper()
	var det event.Detail
	if err := json.Unmarshal(d.Detail, &det); err != nil {
		t.Fatalf("detail: %v", err)
	}
	return det
}

// Events published through a custom bus reach an SQS target through a rule on source and
// detail-type; the one event the rule does not match is not delivered.
func TestPublishDeliversThroughRule(t *testing.T) {
	env := awstest.Env(t)
	const source = "test.orders"
	busName, queueURL := busWithQueue(t, env, source)
	p := bus.NewPublisher(eventbridge.NewFromConfig(env.Config), busName, source)

	evs := orderEvents(t, 13) // 12 Order Created and one Order Rejected
	if err := p.Publish(context.Background(), evs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := collect(t, env, queueURL, 12)

	byID := map[string]event.Event{}
	for _, ev := range evs[:12] {
		byID[ev.Detail.Metadata.EventID] = ev
	}
	for _, d := range got {
		if d.Source != source || d.DetailType != event.OrderCreated {
			t.Errorf("delivered source %q detail-type %q", d.Source, d.DetailType)
		}
		if err := schemas.ValidateEvent(d.raw); err != nil {
			t.Errorf("delivered event does not match its schema: %v", err)
		}
		det := detailOf(t, d)
		want, ok := byID[det.Metadata.EventID]
		if !ok {
			t.Errorf("unexpected event %s", det.Metadata.EventID)
			continue
		}
		delete(byID, det.Metadata.EventID)
		if det.Data.OrderID != want.Detail.Data.OrderID || det.Metadata.CorrelationID != want.Detail.Metadata.CorrelationID ||
			!det.Metadata.OccurredAt.Equal(want.Detail.Metadata.OccurredAt) || len(det.Data.Lines) != 1 ||
			det.Data.Lines[0].Quantity != want.Detail.Data.Lines[0].Quantity {
			t.Errorf("delivered detail %+v, want %+v", det, want.Detail)
		}
	}
	if len(byID) != 0 {
		t.Errorf("%d events not delivered", len(byID))
	}
}

// failFirst wraps the real client: on its first call it withholds the entry at index k
// from EventBridge and reports it failed, as EventBridge does under throttling.
type failFirst struct {
	bus.API
	k     int
	mu    sync.Mutex
	calls [][]string // event ids per call
}

func (f *failFirst) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, idsOf(in))
	first := len(f.calls) == 1
	f.mu.Unlock()
	if !first {
		return f.API.PutEvents(ctx, in, optFns...)
	}
	rest := slices.Delete(slices.Clone(in.Entries), f.k, f.k+1)
	out, err := f.API.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: rest}, optFns...)
	if err != nil {
		return nil, err
	}
	failed := types.PutEventsResultEntry{ErrorCode: aws.String("ThrottlingException"), ErrorMessage: aws.String("injected")}
	out.Entries = slices.Insert(out.Entries, f.k, failed)
	out.FailedEntryCount++
	return out, nil
}

func TestPublishResendsOnlyTheFailedEntry(t *testing.T) {
	env := awstest.Env(t)
	const source = "test.orders"
	busName, queueURL := busWithQueue(t, env, source)
	c := &failFirst{API: eventbridge.NewFromConfig(env.Config), k: 4}
	p := bus.NewPublisher(c, busName, source)
	p.Sleep = func(context.Context, time.Duration) error { return nil }

	evs := orderEvents(t, 8)[:7] // seven Order Created
	if err := p.Publish(context.Background(), evs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	failedID := evs[4].Detail.Metadata.EventID
	if len(c.calls) != 2 || len(c.calls[0]) != 7 || !slices.Equal(c.calls[1], []string{failedID}) {
		t.Fatalf("PutEvents calls = %v, want all seven then only %s", c.calls, failedID)
	}
	got := collect(t, env, queueURL, 7) // each exactly once
	seen := map[string]int{}
	for _, d := range got {
		seen[detailOf(t, d).Metadata.EventID]++
	}
	for _, ev := range evs {
		if seen[ev.Detail.Metadata.EventID] != 1 {
			t.Errorf("event %s delivered %d times, want 1", ev.Detail.Metadata.EventID, seen[ev.Detail.Metadata.EventID])
		}
	}
}
