package notify

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/memstore"
	"github.com/orderflow/orderflow/pkg/order"
)

// TestWithMemstore runs deliveries over the in-memory marker store (same claim rules as
// DynamoDB): a failed publish is retried, a duplicate is not sent again.
func TestWithMemstore(t *testing.T) {
	markers := memstore.NewMarkerStore()
	down := true
	sns := &fakeTopic{publish: func(event.Notification) error {
		if down {
			return errors.New("sns down")
		}
		return nil
	}}
	h := &Handler{Markers: markers, Topic: sns, Log: quiet()}
	ev := bridge(t, event.OrderCancelled, detail(order.StatusCancelled, order.ReasonPaymentDeclined, "EUR", 999))
	steps := []struct {
		name    string
		down    bool
		wantErr bool
		sent    int
	}{
		{"SNS down: error, marker released", true, true, 0},
		{"async retry sends", false, false, 1},
		{"duplicate delivery sends nothing", false, false, 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			down = s.down
			err := h.Handle(context.Background(), ev)
			if (err != nil) != s.wantErr {
				t.Errorf("Handle = %v, want error %v", err, s.wantErr)
			}
			if len(sns.sent) != s.sent {
				t.Errorf("sent %d, want %d", len(sns.sent), s.sent)
			}
		})
	}
}

// TestLeaseWithMemstore runs the deliveries of one state change over the in-memory marker
// store with a controlled clock, through crashes: a delivery that dies between its claim
// and the marker's Done is taken over by a retry once the lease has run out.
func TestLeaseWithMemstore(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)
	const (
		ok          = iota
		crashBefore // the process dies inside Publish, before SNS has the message
		crashAfter  // SNS has the message, then the process dies (or loses the answer)
	)
	type step struct {
		name    string
		at      time.Duration // after t0
		publish int
		crashed bool  // Handle never returns
		wantErr error // when it returns
		sent    int   // notifications at SNS afterwards
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "crash between claim and publish, then the async retries", steps: []step{
			{name: "delivery dies before publishing", publish: crashBefore, crashed: true, sent: 0},
			{name: "retry within the lease: retryable error", at: DefaultLease / 2, wantErr: ErrInProgress, sent: 0},
			{name: "retry after the lease takes over and sends", at: DefaultLease + time.Second, sent: 1},
			{name: "duplicate after done is skipped", at: DefaultLease + 2*time.Second, sent: 1},
			{name: "duplicate long after is skipped", at: 100 * DefaultLease, sent: 1},
		}},
		{name: "local stack's retry delays (5 s, then 10 s) reach past the lease", steps: []step{
			{name: "delivery dies before publishing", publish: crashBefore, crashed: true, sent: 0},
			{name: "first retry", at: 5 * time.Second, wantErr: ErrInProgress, sent: 0},
			{name: "last retry sends", at: 15 * time.Second, sent: 1},
		}},
		{name: "AWS's first async retry (1 min) already takes over", steps: []step{
			{name: "delivery dies before publishing", publish: crashBefore, crashed: true, sent: 0},
			{name: "first retry sends", at: time.Minute, sent: 1},
		}},
		{name: "publish reached SNS, then the delivery died: the documented duplicate", steps: []step{
			{name: "delivery dies after publishing", publish: crashAfter, crashed: true, sent: 1},
			{name: "retry within the lease: retryable error", at: time.Second, wantErr: ErrInProgress, sent: 1},
			{name: "retry after the lease sends again", at: DefaultLease + time.Second, sent: 2},
			{name: "then duplicates are skipped", at: DefaultLease + 2*time.Second, sent: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var now time.Time
			mode := ok
			sns := &fakeTopic{}
			sns.publish = func(m event.Notification) error {
				switch mode {
				case crashBefore:
					runtime.Goexit()
				case crashAfter:
					sns.sent = append(sns.sent, m)
					runtime.Goexit()
				}
				return nil
			}
			h := &Handler{Markers: memstore.NewMarkerStore(), Topic: sns, Log: quiet(), Now: func() time.Time { return now }}
			ev := bridge(t, event.OrderConfirmed, detail(order.StatusConfirmed, "", "USD", 2500))
			for _, s := range tt.steps {
				now, mode = t0.Add(s.at), s.publish
				returned, err := handleOrDie(h, ev)
				if returned == s.crashed {
					t.Fatalf("%s: returned %v, want %v", s.name, returned, !s.crashed)
				}
				if returned && !errors.Is(err, s.wantErr) {
					t.Fatalf("%s: Handle = %v, want %v", s.name, err, s.wantErr)
				}
				if len(sns.sent) != s.sent {
					t.Fatalf("%s: %d sent, want %d", s.name, len(sns.sent), s.sent)
				}
			}
		})
	}
}

// handleOrDie runs h.Handle on its own goroutine, as one Lambda process: a publisher that
// calls runtime.Goexit kills it mid-invoke, like a crash (no Unclaim, no Done).
func handleOrDie(h *Handler, ev events.EventBridgeEvent) (returned bool, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = h.Handle(context.Background(), ev)
		returned = true
	}()
	<-done
	return returned, err
}

// TestDuplicateWhileInProgress delivers the same event twice at once: the second delivery
// finds the first one's fresh claim and returns a retryable error; its retry, after the
// first has sent, is skipped.
func TestDuplicateWhileInProgress(t *testing.T) {
	publishing, release := make(chan struct{}), make(chan struct{})
	sns := &fakeTopic{publish: func(event.Notification) error {
		close(publishing)
		<-release
		return nil
	}}
	h := &Handler{Markers: memstore.NewMarkerStore(), Topic: sns, Log: quiet()}
	ev := bridge(t, event.OrderRejected, detail(order.StatusRejected, order.ReasonInvalidOrder, "USD", 0))
	first := make(chan error, 1)
	go func() { first <- h.Handle(context.Background(), ev) }()
	<-publishing

	if err := h.Handle(context.Background(), ev); !errors.Is(err, ErrInProgress) {
		t.Fatalf("duplicate while the first publishes: %v, want ErrInProgress", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	sns.publish = nil
	if err := h.Handle(context.Background(), ev); err != nil {
		t.Fatalf("retry of the duplicate: %v", err)
	}
	if len(sns.sent) != 1 {
		t.Errorf("sent %d, want 1", len(sns.sent))
	}
}
