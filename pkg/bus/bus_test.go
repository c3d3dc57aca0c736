package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/orderflow/orderflow/pkg/bus"
	"github.com/orderflow/orderflow/pkg/event"
)

// fakeBus is a hand-written PutEvents fake: put decides each call's answer.
type fakeBus struct {
	put   func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error)
	calls []*eventbridge.PutEventsInput
}

func (f *fakeBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.calls = append(f.calls, in)
	return f.put(len(f.calls), in)
}

// ok answers every entry with an event id; failing entries (by event id) get code.
func answer(in *eventbridge.PutEventsInput, code string, failing func(eventID string) bool) *eventbridge.PutEventsOutput {
	out := &eventbridge.PutEventsOutput{}
	for i, e := range in.Entries {
		if failing(eventID(e)) {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("boom")})
			continue
		}
		out.Entries = append(out.Entries, types.PutEventsResultEntry{EventId: aws.String(fmt.Sprint("eb-", i))})
	}
	return out
}

func eventID(e types.PutEventsRequestEntry) string {
	var d event.Detail
	if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
		panic(err)
	}
	return d.Metadata.EventID
}

func events(n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{DetailType: event.OrderCreated, Detail: event.Detail{
			Metadata: event.Metadata{EventID: fmt.Sprintf("ev-%02d", i), SchemaVersion: event.SchemaVersion, CorrelationID: "corr"},
			Data:     event.Data{OrderID: fmt.Sprintf("o-%02d", i), Status: "PENDING", Currency: "USD"},
		}}
	}
	return out
}

type sleeps struct{ got []time.Duration }

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.got = append(s.got, d)
	return nil
}

func newPublisher(f *fakeBus, s *sleeps) *bus.Publisher {
	p := bus.NewPublisher(f, "orders", "")
	p.Sleep = s.sleep
	return p
}

func idsOf(in *eventbridge.PutEventsInput) []string {
	var ids []string
	for _, e := range in.Entries {
		ids = append(ids, eventID(e))
	}
	return ids
}

func TestPublishChunksAndEntries(t *testing.T) {
	cases := []struct {
		name  string
		n     int
		sizes []int
	}{
		{"none", 0, nil},
		{"one", 1, []int{1}},
		{"ten", 10, []int{10}},
		{"twenty-five", 25, []int{10, 10, 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeBus{put: func(_ int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
				return answer(in, "", func(string) bool { return false }), nil
			}}
			s := &sleeps{}
			evs := events(tc.n)
			if err := newPublisher(f, s).Publish(context.Background(), evs...); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			var sizes []int
			var ids, want []string
			for _, c := range f.calls {
				sizes = append(sizes, len(c.Entries))
				ids = append(ids, idsOf(c)...)
				for _, e := range c.Entries {
					if aws.ToString(e.EventBusName) != "orders" || aws.ToString(e.Source) != event.DefaultSource || aws.ToString(e.DetailType) != event.OrderCreated {
						t.Errorf("entry = bus %q source %q detail-type %q", aws.ToString(e.EventBusName), aws.ToString(e.Source), aws.ToString(e.DetailType))
					}
					if len(e.Resources) != 0 {
						t.Errorf("entry has resources %v", e.Resources)
					}
				}
			}
			for _, ev := range evs {
				want = append(want, ev.Detail.Metadata.EventID)
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("chunk sizes = %v, want %v", sizes, tc.sizes)
			}
			if !slices.Equal(ids, want) {
				t.Errorf("published ids = %v, want %v", ids, want)
			}
			if len(s.got) != 0 {
				t.Errorf("slept %v without failures", s.got)
			}
		})
	}
}

func TestPublishDetailIsTheEnvelope(t *testing.T) {
	var got []byte
	f := &fakeBus{put: func(_ int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		got = []byte(aws.ToString(in.Entries[0].Detail))
		return answer(in, "", func(string) bool { return false }), nil
	}}
	p := bus.NewPublisher(f, "orders", "custom.source")
	ev := events(1)[0]
	if err := p.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(ev.Detail)
	if string(got) != string(want) {
		t.Errorf("detail = %s, want %s", got, want)
	}
	if src := aws.ToString(f.calls[0].Entries[0].Source); src != "custom.source" {
		t.Errorf("source = %q", src)
	}
}

// The first call fails some entries of the second chunk; only those are re-sent.
func TestPublishResendsOnlyFailedEntries(t *testing.T) {
	failOnce := map[string]bool{"ev-12": true, "ev-17": true}
	f := &fakeBus{put: func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		return answer(in, "ThrottlingException", func(id string) bool {
			if failOnce[id] {
				delete(failOnce, id)
				return true
			}
			return false
		}), nil
	}}
	s := &sleeps{}
	if err := newPublisher(f, s).Publish(context.Background(), events(25)...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	var got [][]string
	for _, c := range f.calls {
		got = append(got, idsOf(c))
	}
	if len(got) != 4 || !slices.Equal(got[2], []string{"ev-12", "ev-17"}) || len(got[1]) != 10 || len(got[3]) != 5 {
		t.Fatalf("calls = %v, want chunk 2 followed by a re-send of ev-12 and ev-17 only", got)
	}
	if len(s.got) != 1 || s.got[0] < bus.DefaultBaseDelay/2 || s.got[0] > bus.DefaultBaseDelay {
		t.Errorf("sleeps = %v, want one in [%v, %v]", s.got, bus.DefaultBaseDelay/2, bus.DefaultBaseDelay)
	}
}

func TestPublishGivesUp(t *testing.T) {
	cases := []struct {
		name      string
		code      string
		wantCalls int
	}{
		{"transient code after bounded attempts", "InternalFailure", 2 * bus.DefaultMaxAttempts},
		{"permanent code at once", "MalformedDetail", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeBus{put: func(_ int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
				return answer(in, tc.code, func(id string) bool { return id == "ev-03" || id == "ev-11" }), nil
			}}
			s := &sleeps{}
			err := newPublisher(f, s).Publish(context.Background(), events(12)...)
			var pe *bus.PublishError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *PublishError", err)
			}
			var ids []string
			for _, fe := range pe.Failed {
				ids = append(ids, fe.EventID)
				if fe.Code != tc.code || fe.DetailType != event.OrderCreated || fe.Message != "boom" {
					t.Errorf("failed entry = %+v", fe)
				}
			}
			if !slices.Equal(ids, []string{"ev-03", "ev-11"}) {
				t.Errorf("failed ids = %v, want ev-03 ev-11", ids)
			}
			if len(f.calls) != tc.wantCalls {
				t.Errorf("calls = %d, want %d", len(f.calls), tc.wantCalls)
			}
			if pe.Err != nil {
				t.Errorf("Err = %v, want nil for entry failures", pe.Err)
			}
			// Backoff grows and stays within its bounds.
			for i, d := range s.got {
				ceil := min(bus.DefaultBaseDelay<<(i%(bus.DefaultMaxAttempts-1)), bus.DefaultMaxDelay)
				if d < ceil/2 || d > ceil {
					t.Errorf("sleep %d = %v, want in [%v, %v]", i, d, ceil/2, ceil)
				}
			}
		})
	}
}

func TestPublishRequestError(t *testing.T) {
	boom := errors.New("connection refused")
	f := &fakeBus{put: func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		if call == 2 {
			return nil, boom
		}
		return answer(in, "", func(string) bool { return false }), nil
	}}
	err := newPublisher(f, &sleeps{}).Publish(context.Background(), events(25)...)
	var pe *bus.PublishError
	if !errors.As(err, &pe) || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want *PublishError wrapping the request error", err)
	}
	if len(pe.Failed) != 15 || pe.Failed[0].EventID != "ev-10" || pe.Failed[14].EventID != "ev-24" {
		t.Errorf("failed = %+v, want ev-10..ev-24", pe.Failed)
	}
	if len(f.calls) != 2 {
		t.Errorf("calls = %d, want 2 (stop at the failed request)", len(f.calls))
	}
}

func TestPublishStopsWhenContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeBus{put: func(_ int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		return answer(in, "ThrottlingException", func(string) bool { return true }), nil
	}}
	p := bus.NewPublisher(f, "orders", "")
	p.Sleep = func(ctx context.Context, _ time.Duration) error {
		cancel()
		return ctx.Err()
	}
	err := p.Publish(ctx, events(3)...)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(f.calls) != 1 {
		t.Errorf("calls = %d, want 1", len(f.calls))
	}
}
