package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/order"
)

// fakeMarkers is a Markers with lease semantics (as dynamo.MarkerStore's, without
// expiry), with optional injected errors.
type fakeMarkers struct {
	claimErr   func(id string) error
	doneErr    func(id string) error
	unclaimErr func(id string) error

	state     map[string]fakeMarker
	unclaimed []string
}

type fakeMarker struct {
	done      bool
	claimedAt time.Time
}

func (f *fakeMarkers) Claim(_ context.Context, id string, lease, ttl time.Duration, now time.Time) (event.ClaimResult, error) {
	if lease <= 0 || ttl <= 0 {
		return 0, errors.New("fake: lease and ttl must be positive")
	}
	if f.claimErr != nil {
		if err := f.claimErr(id); err != nil {
			return 0, err
		}
	}
	if f.state == nil {
		f.state = map[string]fakeMarker{}
	}
	if m, ok := f.state[id]; ok {
		if m.done {
			return event.AlreadyDone, nil
		}
		if !now.After(m.claimedAt.Add(lease)) {
			return event.InProgress, nil
		}
	}
	f.state[id] = fakeMarker{claimedAt: now}
	return event.Claimed, nil
}

func (f *fakeMarkers) Done(_ context.Context, id string) error {
	if f.doneErr != nil {
		if err := f.doneErr(id); err != nil {
			return err
		}
	}
	if m, ok := f.state[id]; ok {
		m.done = true
		f.state[id] = m
	}
	return nil
}

func (f *fakeMarkers) Unclaim(_ context.Context, id string, claimedAt time.Time) error {
	f.unclaimed = append(f.unclaimed, id)
	if f.unclaimErr != nil {
		if err := f.unclaimErr(id); err != nil {
			return err
		}
	}
	if m, ok := f.state[id]; ok && !m.done && m.claimedAt.Equal(claimedAt) {
		delete(f.state, id)
	}
	return nil
}

// fakeTopic records published messages; publish, when set, decides the outcome.
type fakeTopic struct {
	publish func(m event.Notification) error
	sent    []event.Notification
}

func (f *fakeTopic) Publish(_ context.Context, m event.Notification) (string, error) {
	if f.publish != nil {
		if err := f.publish(m); err != nil {
			return "", err
		}
	}
	f.sent = append(f.sent, m)
	return "msg-1", nil
}

const orderID = "0190f3c2-7a1e-7c4b-9d2e-3f4a5b6c7d01"

func detail(status order.Status, reason order.Reason, currency string, total int64) event.Detail {
	t := time.Date(2026, 1, 1, 0, 0, 4, 0, time.UTC)
	return event.Detail{
		Metadata: event.Metadata{EventID: event.ID(orderID, status), SchemaVersion: event.SchemaVersion,
			CorrelationID: "corr-1", OccurredAt: t},
		Data: event.Data{OrderID: orderID, CustomerID: "cust-42", Status: status, Currency: currency, Total: total,
			Lines:         []event.Line{{SKU: "A", Quantity: 1, UnitPrice: 500}, {SKU: "B", Quantity: 1, UnitPrice: 2000}},
			FailureReason: reason, CreatedAt: t, UpdatedAt: t},
	}
}

func bridge(t *testing.T, detailType string, d any) events.EventBridgeEvent {
	t.Helper()
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return events.EventBridgeEvent{Version: "0", ID: "eb-1", DetailType: detailType, Source: event.DefaultSource, Detail: raw}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestHandleSends(t *testing.T) {
	tests := []struct {
		name       string
		detailType string
		detail     event.Detail
		eventType  string
		subject    string
		text       string
	}{
		{
			name: "confirmed", detailType: event.OrderConfirmed,
			detail:    detail(order.StatusConfirmed, "", "USD", 2500),
			eventType: "OrderConfirmed", subject: "Your order is confirmed",
			text: "Your order " + orderID + " is confirmed: 2 items, USD 25.00.",
		},
		{
			name: "confirmed in yen", detailType: event.OrderConfirmed,
			detail:    detail(order.StatusConfirmed, "", "JPY", 2500),
			eventType: "OrderConfirmed", subject: "Your order is confirmed",
			text: "Your order " + orderID + " is confirmed: 2 items, JPY 2500.",
		},
		{
			name: "cancelled out of stock", detailType: event.OrderCancelled,
			detail:    detail(order.StatusCancelled, order.ReasonOutOfStock, "USD", 2500),
			eventType: "OrderCancelled", subject: "Your order was cancelled",
			text: "Your order " + orderID + " was cancelled: an item is out of stock. You have not been charged.",
		},
		{
			name: "rejected unknown sku", detailType: event.OrderRejected,
			detail:    detail(order.StatusRejected, order.ReasonUnknownSKU, "EUR", 0),
			eventType: "OrderRejected", subject: "We could not accept your order",
			text: "Your order " + orderID + " was not accepted: it names a product we do not sell.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			markers, sns := &fakeMarkers{}, &fakeTopic{}
			h := &Handler{Markers: markers, Topic: sns, Log: quiet()}
			if err := h.Handle(context.Background(), bridge(t, tt.detailType, tt.detail)); err != nil {
				t.Fatalf("Handle = %v", err)
			}
			if len(sns.sent) != 1 {
				t.Fatalf("published %d messages, want 1", len(sns.sent))
			}
			m := sns.sent[0]
			if m.Subject != tt.subject {
				t.Errorf("subject = %q, want %q", m.Subject, tt.subject)
			}
			if m.Attributes["eventType"] != tt.eventType || m.Attributes["orderId"] != orderID || len(m.Attributes) != 2 {
				t.Errorf("attributes = %v", m.Attributes)
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(m.Body), &body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			want := map[string]any{
				"eventId": tt.detail.Metadata.EventID, "orderId": orderID, "customerId": "cust-42",
				"status": string(tt.detail.Data.Status), "subject": tt.subject, "text": tt.text,
			}
			if tt.detail.Data.FailureReason != "" {
				want["failureReason"] = string(tt.detail.Data.FailureReason)
			}
			if len(body) != len(want) {
				t.Errorf("body = %v, want %v", body, want)
			}
			for k, v := range want {
				if body[k] != v {
					t.Errorf("body[%s] = %v, want %v", k, body[k], v)
				}
			}
			if m := markers.state[event.ID(orderID, tt.detail.Data.Status)]; !m.done {
				t.Errorf("marker not done: %v", markers.state)
			}
		})
	}
}

func TestHandleDuplicateDelivery(t *testing.T) {
	tests := []struct {
		name    string
		second  func(d event.Detail) event.Detail
		publish int
	}{
		{"same event delivered twice", func(d event.Detail) event.Detail { return d }, 1},
		{"same state change with another eventId (state machine retry)", func(d event.Detail) event.Detail {
			d.Metadata.EventID = "9b1f7e0c-0000-4000-8000-000000000001"
			return d
		}, 1},
		{"another order", func(d event.Detail) event.Detail {
			d.Data.OrderID = "0190f3c2-7a1e-7c4b-9d2e-3f4a5b6c7d99"
			d.Metadata.EventID = event.ID(d.Data.OrderID, d.Data.Status)
			return d
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			markers, sns := &fakeMarkers{}, &fakeTopic{}
			h := &Handler{Markers: markers, Topic: sns, Log: quiet()}
			d := detail(order.StatusConfirmed, "", "USD", 2500)
			for _, dd := range []event.Detail{d, tt.second(d)} {
				if err := h.Handle(context.Background(), bridge(t, event.OrderConfirmed, dd)); err != nil {
					t.Fatalf("Handle = %v", err)
				}
			}
			if len(sns.sent) != tt.publish {
				t.Errorf("published %d, want %d", len(sns.sent), tt.publish)
			}
		})
	}
}

func TestHandleFailures(t *testing.T) {
	errSNS := errors.New("sns throttled")
	errDDB := errors.New("ddb unavailable")
	t0 := time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)
	key := event.ID(orderID, order.StatusConfirmed)
	tests := []struct {
		name        string
		markers     *fakeMarkers
		topic       *fakeTopic
		wantErr     []error // nil: Handle succeeds
		wantSent    int
		wantUnclaim bool
		wantMarker  string // "", "in progress" or "done" afterwards
		// A retry with everything healthy again, retryAfter after the first delivery,
		// and what it sends in all.
		retryAfter   time.Duration
		wantRetryErr error
		wantRetrySnt int
	}{
		{
			name:    "publish fails: marker released and error returned",
			markers: &fakeMarkers{}, topic: &fakeTopic{publish: func(event.Notification) error { return errSNS }},
			wantErr: []error{errSNS}, wantUnclaim: true, wantMarker: "",
			retryAfter: time.Second, wantRetrySnt: 1,
		},
		{
			name:    "claim fails: nothing published, error returned",
			markers: &fakeMarkers{claimErr: func(string) error { return errDDB }}, topic: &fakeTopic{},
			wantErr: []error{errDDB}, wantMarker: "",
			retryAfter: time.Second, wantRetrySnt: 1,
		},
		{
			name:    "publish and unclaim fail: both errors returned, the retry after the lease sends",
			markers: &fakeMarkers{unclaimErr: func(string) error { return errDDB }},
			topic:   &fakeTopic{publish: func(event.Notification) error { return errSNS }},
			wantErr: []error{errSNS, errDDB}, wantUnclaim: true, wantMarker: "in progress",
			retryAfter: DefaultLease + time.Second, wantRetrySnt: 1,
		},
		{
			name:    "done fails after the publish: success, no retry needed",
			markers: &fakeMarkers{doneErr: func(string) error { return errDDB }}, topic: &fakeTopic{},
			wantSent: 1, wantMarker: "in progress",
			// An EventBridge duplicate within the lease is not sent again.
			retryAfter: time.Second, wantRetryErr: ErrInProgress, wantRetrySnt: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			h := &Handler{Markers: tt.markers, Topic: tt.topic, Log: quiet(), Now: func() time.Time { return now }}
			ev := bridge(t, event.OrderConfirmed, detail(order.StatusConfirmed, "", "USD", 2500))
			err := h.Handle(context.Background(), ev)
			if tt.wantErr == nil && err != nil {
				t.Errorf("Handle = %v, want nil", err)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("Handle = %v, want it to wrap %v", err, want)
				}
			}
			if errors.Is(err, ErrInProgress) {
				t.Errorf("Handle = %v, want no ErrInProgress", err)
			}
			if got := len(tt.markers.unclaimed) > 0; got != tt.wantUnclaim {
				t.Errorf("unclaimed = %v, want unclaim %v", tt.markers.unclaimed, tt.wantUnclaim)
			}
			if got := markerState(tt.markers, key); got != tt.wantMarker {
				t.Errorf("marker = %q, want %q", got, tt.wantMarker)
			}
			if len(tt.topic.sent) != tt.wantSent {
				t.Errorf("sent %d messages, want %d", len(tt.topic.sent), tt.wantSent)
			}
			// The async retry, with SNS and DynamoDB healthy again.
			tt.topic.publish = nil
			tt.markers.claimErr, tt.markers.doneErr, tt.markers.unclaimErr = nil, nil, nil
			now = t0.Add(tt.retryAfter)
			if err := h.Handle(context.Background(), ev); !errors.Is(err, tt.wantRetryErr) {
				t.Fatalf("retry: %v, want %v", err, tt.wantRetryErr)
			}
			if len(tt.topic.sent) != tt.wantRetrySnt {
				t.Errorf("retry: sent %d in all, want %d", len(tt.topic.sent), tt.wantRetrySnt)
			}
		})
	}
}

// markerState describes the fake's marker of id: "", "in progress" or "done".
func markerState(f *fakeMarkers, id string) string {
	m, ok := f.state[id]
	switch {
	case !ok:
		return ""
	case m.done:
		return "done"
	}
	return "in progress"
}

func TestHandleMalformed(t *testing.T) {
	good := detail(order.StatusConfirmed, "", "USD", 2500)
	tests := []struct {
		name   string
		ev     func(t *testing.T) events.EventBridgeEvent
		reason string
	}{
		{"unknown detail-type", func(t *testing.T) events.EventBridgeEvent { return bridge(t, "Order Shipped", good) },
			"not a detail-type notify handles"},
		{"order created is not notified", func(t *testing.T) events.EventBridgeEvent { return bridge(t, event.OrderCreated, good) },
			"not a detail-type notify handles"},
		{"no detail", func(t *testing.T) events.EventBridgeEvent {
			return events.EventBridgeEvent{DetailType: event.OrderConfirmed}
		}, "no detail"},
		{"detail not an object", func(t *testing.T) events.EventBridgeEvent {
			return events.EventBridgeEvent{DetailType: event.OrderConfirmed, Detail: json.RawMessage(`"confirmed"`)}
		}, "detail is not the event envelope"},
		{"bad occurredAt", func(t *testing.T) events.EventBridgeEvent {
			return events.EventBridgeEvent{DetailType: event.OrderConfirmed,
				Detail: json.RawMessage(`{"metadata":{"eventId":"e","occurredAt":"yesterday"},"data":{"orderId":"o"}}`)}
		}, "detail is not the event envelope"},
		{"missing eventId", func(t *testing.T) events.EventBridgeEvent {
			d := good
			d.Metadata.EventID = ""
			return bridge(t, event.OrderConfirmed, d)
		}, "missing metadata.eventId"},
		{"missing orderId and customerId", func(t *testing.T) events.EventBridgeEvent {
			d := good
			d.Data.OrderID, d.Data.CustomerID = "", ""
			return bridge(t, event.OrderConfirmed, d)
		}, "missing data.orderId, data.customerId"},
		{"empty detail object", func(t *testing.T) events.EventBridgeEvent {
			return events.EventBridgeEvent{DetailType: event.OrderCancelled, Detail: json.RawMessage(`{}`)}
		}, "missing metadata.eventId, data.orderId, data.customerId"},
		{"status does not match detail-type", func(t *testing.T) events.EventBridgeEvent {
			return bridge(t, event.OrderCancelled, good)
		}, `data.status is "CONFIRMED", want "CANCELLED"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			markers, sns := &fakeMarkers{}, &fakeTopic{}
			h := &Handler{Markers: markers, Topic: sns, Log: quiet()}
			err := h.Handle(context.Background(), tt.ev(t))
			var me *MalformedEventError
			if !errors.As(err, &me) {
				t.Fatalf("Handle = %v, want *MalformedEventError", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
			if len(markers.state) != 0 || len(sns.sent) != 0 {
				t.Errorf("malformed event claimed %v / sent %d", markers.state, len(sns.sent))
			}
		})
	}
}

func TestMoney(t *testing.T) {
	tests := []struct {
		minor    int64
		currency string
		want     string
	}{
		{2500, "USD", "USD 25.00"},
		{2500, "JPY", "JPY 2500"},
		{-150, "USD", "USD -1.50"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := Money(tt.minor, tt.currency); got != tt.want {
				t.Errorf("Money(%d, %s) = %q, want %q", tt.minor, tt.currency, got, tt.want)
			}
		})
	}
}
