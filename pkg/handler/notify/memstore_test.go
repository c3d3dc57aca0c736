package notify

import (
	"context"
	"errors"
	"testing"

	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/memstore"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/pkg/topic"
)

// TestWithMemstore runs deliveries over the in-memory marker store (same claim rules as
// DynamoDB): a failed publish is retried, a duplicate is not sent again.
func TestWithMemstore(t *testing.T) {
	markers := memstore.NewMarkerStore()
	down := true
	sns := &fakeTopic{publish: func(topic.Message) error {
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
