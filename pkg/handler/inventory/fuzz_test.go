package inventory_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/pkg/handler/inventory"
	stock "github.com/orderflow/orderflow/pkg/inventory"
)

// fuzzStore and fuzzTokens are working fakes that record what the handler asked for.
// The handler settles messages concurrently, hence the mutex.
type fuzzStore struct {
	mu       sync.Mutex
	reserved []string
	released []string
}

func (s *fuzzStore) Reserve(_ context.Context, orderID string, _ []stock.Line) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserved = append(s.reserved, orderID)
	return nil
}

func (s *fuzzStore) Release(_ context.Context, orderID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.released = append(s.released, orderID)
	return nil
}

type fuzzTokens struct {
	mu      sync.Mutex
	answers map[string]int
}

func (f *fuzzTokens) answer(token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answers == nil {
		f.answers = map[string]int{}
	}
	f.answers[token]++
	return nil
}

func (f *fuzzTokens) Succeed(_ context.Context, token string, _ any) error { return f.answer(token) }
func (f *fuzzTokens) Fail(_ context.Context, token, _, _ string) error     { return f.answer(token) }

const validCommand = `{"command":"reserve","orderId":"o-valid","lines":[{"sku":"SKU-1","quantity":1}],"taskToken":"tt-valid"}`

// FuzzHandle sends any SQS body, in a batch with a valid command, through the inventory
// handler over working fakes. Whatever the body: no panic, no error; a body Decode
// refuses is a *MalformedError, reported in batchItemFailures, and reaches neither the
// store nor Step Functions; a body it accepts is applied and answered once; the valid
// neighbour always succeeds (one bad message never fails the batch).
// Seeds: f.Add below and testdata/fuzz/FuzzHandle.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		validCommand,
		`{"command":"release","orderId":"o-1","taskToken":"tt-1"}`,
		`{"command":"release","orderId":"o-1"}`,
		`{"command":"reserve","orderId":"o-1","lines":[{"sku":"SKU-1","quantity":1,"unitPrice":1250}]}`,
		``,
		`   `,
		`null`,
		`[]`,
		`{}`,
		`{"command":"reserve","orderId":"o-1","lines":[]}`,
		`{"command":"reserve","orderId":"o-1","lines":[{"sku":"","quantity":0}]}`,
		`{"command":"reserve","orderId":"o-1","lines":[{"sku":"A","quantity":-1}]}`,
		`{"command":"reserve","orderId":"o-1","lines":[{"sku":"A","quantity":1e30}]}`,
		`{"command":"reserve","orderId":"o-1","lines":[{"sku":"A","quantity":1},{"sku":"A","quantity":1}]}`,
		`{"command":"explode","orderId":"o-1"}`,
		`{"command":"reserve"}`,
		`{"command":1,"orderId":{}}`,
		"{\"command\":\"release\",\"orderId\":\"\xff\"}",
		`{"command":"reserve","orderId":"o-1","lines":[null]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		store, tokens := &fuzzStore{}, &fuzzTokens{}
		var logs bytes.Buffer
		h := &inventory.Handler{Store: store, Tokens: tokens, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
		ev := events.SQSEvent{Records: []events.SQSMessage{
			{MessageId: "m-fuzz", Body: body, Attributes: map[string]string{"ApproximateReceiveCount": "1"}},
			{MessageId: "m-valid", Body: validCommand, Attributes: map[string]string{"ApproximateReceiveCount": "1"}},
		}}

		resp, err := h.Handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("Handle failed the whole batch: %v", err)
		}
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		if failed["m-valid"] || len(failed) > 1 {
			t.Fatalf("batchItemFailures %v: only m-fuzz may fail", resp.BatchItemFailures)
		}

		cmd, decErr := inventory.Decode([]byte(body))
		if decErr != nil {
			var malformed *inventory.MalformedError
			if !errors.As(decErr, &malformed) || malformed.Reason == "" {
				t.Fatalf("Decode error %T %v is not a *MalformedError with a reason", decErr, decErr)
			}
			if !failed["m-fuzz"] {
				t.Fatalf("malformed body %q not reported in batchItemFailures", body)
			}
			if len(store.reserved)+len(store.released) != 1 || tokens.answers["tt-valid"] != 1 || len(tokens.answers) != 1 {
				t.Fatalf("malformed body reached the store or Step Functions: reserved %v released %v answers %v",
					store.reserved, store.released, tokens.answers)
			}
			if !bytes.Contains(logs.Bytes(), []byte("m-fuzz")) {
				t.Fatalf("no log line names the rejected message:\n%s", logs.String())
			}
			return
		}
		if failed["m-fuzz"] {
			t.Fatalf("valid command %+v reported as failed", cmd)
		}
		if cmd.OrderID == "" || (cmd.Command != inventory.CommandReserve && cmd.Command != inventory.CommandRelease) {
			t.Fatalf("Decode accepted %+v", cmd)
		}
		if cmd.Command == inventory.CommandReserve {
			if err := stock.Validate(cmd.Lines); err != nil {
				t.Fatalf("Decode accepted lines that Validate refuses: %v", err)
			}
		}
		if n := len(store.reserved) + len(store.released); n != 2 {
			t.Fatalf("store calls %d, want 2 (reserved %v, released %v)", n, store.reserved, store.released)
		}
		want := 1
		if cmd.TaskToken == "tt-valid" {
			want = 2
		}
		if cmd.TaskToken != "" && tokens.answers[cmd.TaskToken] != want {
			t.Fatalf("task token %q answered %d times, want %d", cmd.TaskToken, tokens.answers[cmd.TaskToken], want)
		}
	})
}
