package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	stock "github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
)

func msg(id, body string) events.SQSMessage {
	return events.SQSMessage{MessageId: id, Body: body, Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
}

func reserveBody(orderID, token string) string {
	return fmt.Sprintf(`{"command":"reserve","orderId":%q,"correlationId":"c-1","lines":[{"sku":"SKU-1","quantity":2,"unitPrice":1250}],"taskToken":%q}`, orderID, token)
}

func releaseBody(orderID, token string) string {
	return fmt.Sprintf(`{"command":"release","orderId":%q,"correlationId":"c-1","lines":[{"sku":"SKU-1","quantity":2}],"taskToken":%q}`, orderID, token)
}

func failedIDs(r events.SQSEventResponse) []string {
	ids := make([]string, 0, len(r.BatchItemFailures))
	for _, f := range r.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	slices.Sort(ids)
	return ids
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestHandle(t *testing.T) {
	errBoom := errors.New("throttled")
	tests := []struct {
		name        string
		records     []events.SQSMessage
		store       fakeStore
		tokensErr   func(c call) error
		wantFailed  []string
		wantAnswers map[string]call // by token; Output compared with %v
	}{
		{
			name:       "reserve succeeds and answers reserved",
			records:    []events.SQSMessage{msg("m1", reserveBody("o1", "t1"))},
			wantFailed: []string{},
			wantAnswers: map[string]call{
				"t1": {Kind: "succeed", Token: "t1", Output: Reserved{OrderID: "o1", Reserved: true}},
			},
		},
		{
			name:       "release succeeds and answers released",
			records:    []events.SQSMessage{msg("m1", releaseBody("o1", "t1"))},
			wantFailed: []string{},
			wantAnswers: map[string]call{
				"t1": {Kind: "succeed", Token: "t1", Output: Released{OrderID: "o1", Released: true}},
			},
		},
		{
			name:    "out of stock fails the task with OutOfStock and the message is done",
			records: []events.SQSMessage{msg("m1", reserveBody("o1", "t1"))},
			store: fakeStore{reserve: func(_ context.Context, id string, _ []stock.Line) error {
				return fmt.Errorf("transaction: %w", &stock.OutOfStockError{OrderID: id, SKUs: []string{"SKU-1", "SKU-9"}})
			}},
			wantFailed: []string{},
			wantAnswers: map[string]call{
				"t1": {Kind: "fail", Token: "t1", Name: "OutOfStock", Cause: "out of stock: SKU-1, SKU-9"},
			},
		},
		{
			name: "middle message's store call fails: only it is reported",
			records: []events.SQSMessage{
				msg("m1", reserveBody("o1", "t1")), msg("m2", reserveBody("o2", "t2")), msg("m3", reserveBody("o3", "t3")),
			},
			store: fakeStore{reserve: func(_ context.Context, id string, _ []stock.Line) error {
				if id == "o2" {
					return errBoom
				}
				return nil
			}},
			wantFailed: []string{"m2"},
			wantAnswers: map[string]call{
				"t1": {Kind: "succeed", Token: "t1", Output: Reserved{OrderID: "o1", Reserved: true}},
				"t3": {Kind: "succeed", Token: "t3", Output: Reserved{OrderID: "o3", Reserved: true}},
			},
		},
		{
			name:       "transient callback error is retried",
			records:    []events.SQSMessage{msg("m1", releaseBody("o1", "t1"))},
			tokensErr:  func(call) error { return errBoom },
			wantFailed: []string{"m1"},
			wantAnswers: map[string]call{
				"t1": {Kind: "succeed", Token: "t1", Output: Released{OrderID: "o1", Released: true}},
			},
		},
		{
			name:       "token gone is done",
			records:    []events.SQSMessage{msg("m1", reserveBody("o1", "t1"))},
			tokensErr:  func(call) error { return fmt.Errorf("send: %w", order.ErrTokenGone) },
			wantFailed: []string{},
			wantAnswers: map[string]call{
				"t1": {Kind: "succeed", Token: "t1", Output: Reserved{OrderID: "o1", Reserved: true}},
			},
		},
		{
			name:    "token gone on an out-of-stock answer is done",
			records: []events.SQSMessage{msg("m1", reserveBody("o1", "t1"))},
			store: fakeStore{reserve: func(_ context.Context, id string, _ []stock.Line) error {
				return &stock.OutOfStockError{OrderID: id, SKUs: []string{"SKU-1"}}
			}},
			tokensErr:  func(call) error { return order.ErrTokenGone },
			wantFailed: []string{},
			wantAnswers: map[string]call{
				"t1": {Kind: "fail", Token: "t1", Name: "OutOfStock", Cause: "out of stock: SKU-1"},
			},
		},
		{
			name:        "no task token: store call only, no answer",
			records:     []events.SQSMessage{msg("m1", reserveBody("o1", ""))},
			wantFailed:  []string{},
			wantAnswers: map[string]call{},
		},
		{
			name: "malformed message is reported, the others are done",
			records: []events.SQSMessage{
				msg("m1", reserveBody("o1", "t1")), msg("bad", "not json"), msg("m3", releaseBody("o3", "t3")),
			},
			wantFailed: []string{"bad"},
			wantAnswers: map[string]call{
				"t1": {Kind: "succeed", Token: "t1", Output: Reserved{OrderID: "o1", Reserved: true}},
				"t3": {Kind: "succeed", Token: "t3", Output: Released{OrderID: "o3", Released: true}},
			},
		},
		{
			name:        "empty batch",
			records:     nil,
			wantFailed:  []string{},
			wantAnswers: map[string]call{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens := &fakeTokens{err: tt.tokensErr}
			store := tt.store
			h := &Handler{Store: &store, Tokens: tokens, Log: quiet()}
			resp, err := h.Handle(context.Background(), events.SQSEvent{Records: tt.records})
			if err != nil {
				t.Fatalf("Handle error = %v, want nil (never fail the whole batch)", err)
			}
			if got := failedIDs(resp); !slices.Equal(got, tt.wantFailed) {
				t.Errorf("failed = %v, want %v", got, tt.wantFailed)
			}
			got := tokens.byToken()
			if len(got) != len(tt.wantAnswers) {
				t.Errorf("answers = %+v, want %+v", got, tt.wantAnswers)
			}
			for tok, want := range tt.wantAnswers {
				g, ok := got[tok]
				if !ok {
					t.Errorf("no answer for token %s", tok)
					continue
				}
				if g.Kind != want.Kind || g.Name != want.Name || g.Cause != want.Cause ||
					fmt.Sprintf("%#v", g.Output) != fmt.Sprintf("%#v", want.Output) {
					t.Errorf("answer %s = %+v, want %+v", tok, g, want)
				}
			}
		})
	}
}

func TestHandleMalformed(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		reason string // substring of the logged reason
	}{
		{"empty", "", "empty body"},
		{"blank", "  \n", "empty body"},
		{"not json", "reserve o1", "not a JSON command"},
		{"json array", `[1,2]`, "not a JSON command"},
		{"json null", `null`, "orderId is required"},
		{"unknown command", `{"command":"restock","orderId":"o1","lines":[{"sku":"A","quantity":1}]}`, `unknown command \"restock\"`},
		{"missing command", `{"orderId":"o1","lines":[{"sku":"A","quantity":1}]}`, `unknown command \"\"`},
		{"missing orderId", `{"command":"reserve","lines":[{"sku":"A","quantity":1}]}`, "orderId is required"},
		{"no lines", `{"command":"reserve","orderId":"o1"}`, "no lines"},
		{"zero quantity", `{"command":"reserve","orderId":"o1","lines":[{"sku":"A","quantity":0}]}`, "quantity must be positive"},
		{"negative quantity", `{"command":"reserve","orderId":"o1","lines":[{"sku":"A","quantity":-1}]}`, "quantity must be positive"},
		{"fractional quantity", `{"command":"reserve","orderId":"o1","lines":[{"sku":"A","quantity":1.5}]}`, "not a JSON command"},
		{"empty sku", `{"command":"reserve","orderId":"o1","lines":[{"sku":"","quantity":1}]}`, "empty sku"},
		{"duplicate sku", `{"command":"reserve","orderId":"o1","lines":[{"sku":"A","quantity":1},{"sku":"A","quantity":2}]}`, "duplicate sku A"},
		{"lines not an array", `{"command":"reserve","orderId":"o1","lines":"A"}`, "not a JSON command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			store := &fakeStore{
				reserve: func(context.Context, string, []stock.Line) error {
					t.Error("Reserve called for a malformed message")
					return nil
				},
				release: func(context.Context, string) error {
					t.Error("Release called for a malformed message")
					return nil
				},
			}
			tokens := &fakeTokens{}
			h := &Handler{Store: store, Tokens: tokens, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
			m := msg("bad-1", tt.body)
			m.Attributes["ApproximateReceiveCount"] = "3"
			resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{m}})
			if err != nil {
				t.Fatalf("Handle error = %v", err)
			}
			if got := failedIDs(resp); !slices.Equal(got, []string{"bad-1"}) {
				t.Errorf("failed = %v, want [bad-1]", got)
			}
			if len(tokens.byToken()) != 0 {
				t.Errorf("answered a malformed message: %+v", tokens.byToken())
			}
			line := logs.String()
			for _, want := range []string{`"level":"ERROR"`, `"messageId":"bad-1"`, `"receiveCount":"3"`, tt.reason} {
				if !strings.Contains(line, want) {
					t.Errorf("log %s lacks %s", line, want)
				}
			}
		})
	}
}

func TestDecodeIgnoresExtraLineFields(t *testing.T) {
	cmd, err := Decode([]byte(reserveBody("o1", "t1")))
	if err != nil {
		t.Fatal(err)
	}
	want := []stock.Line{{SKU: "SKU-1", Quantity: 2}}
	if !slices.Equal(cmd.Lines, want) || cmd.TaskToken != "t1" || cmd.CorrelationID != "c-1" {
		t.Errorf("Decode = %+v, want lines %v, token t1, correlation c-1", cmd, want)
	}
}

func TestHandleBoundedConcurrency(t *testing.T) {
	const limit = 2
	var (
		inFlight = make(chan struct{}, 100)
		maxSeen  = make(chan int, 100)
	)
	release := make(chan struct{})
	store := &fakeStore{reserve: func(context.Context, string, []stock.Line) error {
		inFlight <- struct{}{}
		maxSeen <- len(inFlight)
		<-release
		<-inFlight
		return nil
	}}
	h := &Handler{Store: store, Tokens: &fakeTokens{}, Concurrency: limit, Log: quiet()}
	var recs []events.SQSMessage
	for i := range 6 {
		recs = append(recs, msg(fmt.Sprint("m", i), reserveBody(fmt.Sprint("o", i), "")))
	}
	done := make(chan events.SQSEventResponse)
	go func() {
		r, _ := h.Handle(context.Background(), events.SQSEvent{Records: recs})
		done <- r
	}()
	for range recs {
		release <- struct{}{}
	}
	resp := <-done
	close(maxSeen)
	for n := range maxSeen {
		if n > limit {
			t.Errorf("%d messages in flight, limit %d", n, limit)
		}
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("failures = %v", resp.BatchItemFailures)
	}
}

func sqsEvent(ms ...events.SQSMessage) events.SQSEvent { return events.SQSEvent{Records: ms} }
